//! Self-attention over the pixels of a feature map.

use burn::module::Module;
use burn::nn::{GroupNorm, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::{BlockSettings, rescale};
use crate::NetError;

/// The largest feature map, in pixels, that attention may run over: its weights are `[HW, HW]` per image
/// and head, 1 GiB of f32 at this size (128 x 128), and 16 times more at each doubling of the side. On
/// flex the kernel holds only 64 of their rows at a time, but Burn's composition on the other backends
/// holds them whole, and a network must run on every backend.
pub const MAX_ATTENTION_PIXELS: usize = 128 * 128;

/// Refuses attention over a `side` x `side` map larger than [`MAX_ATTENTION_PIXELS`], naming the
/// network's `field` that places it: such a network would fail by exhausting memory, not with an error.
pub(crate) fn check_attention_size(network: &'static str, field: &str, side: usize) -> Result<(), NetError> {
    let pixels = side.saturating_mul(side);
    if pixels <= MAX_ATTENTION_PIXELS {
        return Ok(());
    }
    let gigabytes = (pixels as f64).powi(2) * 4.0 / 1e9;
    Err(NetError::config(
        network,
        field,
        format!(
            "attention over {side} x {side} feature maps would hold a [{pixels}, {pixels}] matrix per image and head \
             ({gigabytes:.0} GB); attention runs on maps of at most {MAX_ATTENTION_PIXELS} pixels (128 x 128): \
             use a smaller image size or attention at lower resolutions"
        ),
    ))
}

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
        let pixels = height * width;
        // The pixels of every image as rows, [B HW, C], so the projections are one GEMM each (the
        // project's linear kernel on flex).
        let tokens =
            self.group_norm.forward(x.clone()).reshape([batch, channels, pixels]).swap_dims(1, 2).reshape([batch * pixels, channels]);
        let project = |layer: &Linear, rows: Tensor<2>| ddpm_kernels::linear(layer, rows).reshape([batch, pixels, channels]);
        let (q, k, v) = (project(&self.to_q, tokens.clone()), project(&self.to_k, tokens.clone()), project(&self.to_v, tokens));
        let attended = ddpm_kernels::multi_head_attention(q, k, v, self.heads).reshape([batch * pixels, channels]);
        let out = project(&self.to_out[0], attended).swap_dims(1, 2).reshape([batch, channels, height, width]);
        rescale(x + out, self.rescale_output_factor)
    }
}
