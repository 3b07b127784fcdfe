//! Self-attention over the pixels of a feature map.

use burn::module::Module;
use burn::nn::{GroupNorm, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use super::{BlockSettings, rescale};

/// Spatial self-attention with a GroupNorm and a residual connection, diffusers' `Attention` as
/// `AttnDownBlock2D`, `AttnUpBlock2D` and `UNetMidBlock2D` use it:
/// `(x + to_out(softmax(Q K^T / sqrt(d)) V)) / rescale_output_factor`, multi-head, with Q, K, V the
/// projections `to_q`, `to_k`, `to_v` of `group_norm(x)`'s pixels. The DDPM U-Net's attention is the
/// single-head case.
#[derive(Module, Debug)]
pub struct SpatialAttention {
    group_norm: GroupNorm,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    /// diffusers' `to_out` is `[Linear, Dropout]`; only the linear layer has weights (`to_out.0`).
    to_out: Vec<Linear>,
    #[module(skip)]
    heads: usize,
    #[module(skip)]
    rescale_output_factor: f64,
}

impl SpatialAttention {
    /// `head_dim` must divide `channels`; the GroupNorm has `groups` groups.
    pub(crate) fn new(
        channels: usize,
        head_dim: usize,
        groups: usize,
        rescale_output_factor: f64,
        settings: &BlockSettings,
        device: &Device,
    ) -> Self {
        let linear = || LinearConfig::new(channels, channels).init(device);
        Self {
            group_norm: settings.norm(groups, channels, device),
            to_q: linear(),
            to_k: linear(),
            to_v: linear(),
            to_out: vec![linear()],
            heads: channels / head_dim,
            rescale_output_factor,
        }
    }

    /// # Shapes
    /// `x`: `[B, C, H, W]` -> `[B, C, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = x.dims();
        let (pixels, head_dim) = (height * width, channels / self.heads);
        let tokens = self.group_norm.forward(x.clone()).reshape([batch, channels, pixels]).swap_dims(1, 2); // [B, HW, C]
        let split_heads = |t: Tensor<3>| t.reshape([batch, pixels, self.heads, head_dim]).swap_dims(1, 2); // [B, heads, HW, d]
        let q = split_heads(self.to_q.forward(tokens.clone()));
        let k = split_heads(self.to_k.forward(tokens.clone()));
        let v = split_heads(self.to_v.forward(tokens));
        let weights = softmax(q.matmul(k.swap_dims(2, 3)).mul_scalar((head_dim as f64).powf(-0.5)), 3); // [B, heads, HW, HW]
        let attended = weights.matmul(v).swap_dims(1, 2).reshape([batch, pixels, channels]); // [B, HW, C]
        let out = self.to_out[0].forward(attended).swap_dims(1, 2).reshape([batch, channels, height, width]);
        rescale(x + out, self.rescale_output_factor)
    }
}
