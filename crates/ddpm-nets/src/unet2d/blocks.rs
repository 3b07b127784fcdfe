//! The blocks of diffusers' `UNet2DModel`, parameter for parameter. Field names are diffusers' module
//! names, so a diffusers state dict maps onto these modules path for path (`resnets.0.norm1.weight`).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor};
use ddpm_kernels::{conv2d, group_norm_silu, upsample_nearest};

/// What every block of one network shares: its GroupNorm settings, dropout and the time embedding width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockSettings {
    pub groups: usize,
    pub eps: f64,
    pub dropout: f64,
    pub time_width: usize,
}

impl BlockSettings {
    pub(crate) fn norm(&self, groups: usize, channels: usize, device: &Device) -> GroupNorm {
        GroupNormConfig::new(groups, channels).with_epsilon(self.eps).init(device)
    }
}

/// A 3x3 convolution with the given stride and the same padding on every side.
fn conv3x3(channels: [usize; 2], stride: usize, padding: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
        .init(device)
}

/// Divides by `factor` unless it is 1 (diffusers' `output_scale_factor` and `rescale_output_factor`).
fn rescale(x: Tensor<4>, factor: f64) -> Tensor<4> {
    if factor == 1.0 { x } else { x.div_scalar(factor) }
}

/// diffusers' `ResnetBlock2D` with the default time conditioning:
/// `(shortcut(x) + conv2(dropout(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb))))))) / scale`,
/// where `shortcut` is a 1x1 conv when the widths differ.
#[derive(Module, Debug)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Linear,
    norm2: GroupNorm,
    dropout: Dropout,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
    #[module(skip)]
    output_scale_factor: f64,
}

impl ResnetBlock2D {
    pub(crate) fn new(channels: [usize; 2], output_scale_factor: f64, settings: &BlockSettings, device: &Device) -> Self {
        let [c_in, c_out] = channels;
        Self {
            norm1: settings.norm(settings.groups, c_in, device),
            conv1: conv3x3([c_in, c_out], 1, 1, device),
            time_emb_proj: LinearConfig::new(settings.time_width, c_out).init(device),
            norm2: settings.norm(settings.groups, c_out, device),
            dropout: DropoutConfig::new(settings.dropout).init(),
            conv2: conv3x3([c_out, c_out], 1, 1, device),
            conv_shortcut: (c_in != c_out).then(|| Conv2dConfig::new([c_in, c_out], [1, 1]).init(device)),
            output_scale_factor,
        }
    }

    /// # Shapes
    /// - `x`: `[B, in, H, W]`
    /// - `temb`: `[B, time_width]`, the network's time embedding (before the SiLU each block applies)
    /// - output: `[B, out, H, W]`
    pub fn forward(&self, x: Tensor<4>, temb: Tensor<2>) -> Tensor<4> {
        let time = self.time_emb_proj.forward(silu(temb)).unsqueeze_dims::<4>(&[2, 3]); // [B, out, 1, 1]
        // The time shift comes before norm2 here (not after it, as in the project's blocks), so the
        // fused kernel normalises the sum.
        let h = conv2d(&self.conv1, group_norm_silu(&self.norm1, x.clone(), None)) + time;
        let h = conv2d(&self.conv2, self.dropout.forward(group_norm_silu(&self.norm2, h, None)));
        let shortcut = match &self.conv_shortcut {
            Some(conv) => conv2d(conv, x),
            None => x,
        };
        rescale(shortcut + h, self.output_scale_factor)
    }
}

/// diffusers' spatial self-attention (`Attention` with a GroupNorm and a residual connection, as in
/// `AttnDownBlock2D`, `AttnUpBlock2D` and `UNetMidBlock2D`): multi-head scaled dot-product attention over
/// the pixels of `group_norm(x)`, `(x + to_out(attention(to_q, to_k, to_v))) / rescale_output_factor`.
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

/// diffusers' `Downsample2D` with a conv: a 3x3 conv of stride 2. With `downsample_padding` 0 the map is
/// first padded by one zero row and column at its bottom and right, as diffusers does.
#[derive(Module, Debug)]
pub struct Downsample2D {
    conv: Conv2d,
}

impl Downsample2D {
    pub(crate) fn new(channels: usize, padding: usize, device: &Device) -> Self {
        let conv = match padding {
            0 => Conv2dConfig::new([channels, channels], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
                .init(device),
            padding => conv3x3([channels, channels], 2, padding, device),
        };
        Self { conv }
    }

    /// `[B, C, H, W] -> [B, C, H/2, W/2]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(&self.conv, x)
    }
}

/// diffusers' `Upsample2D` with a conv: nearest-neighbour 2x upsampling, then a 3x3 conv.
#[derive(Module, Debug)]
pub struct Upsample2D {
    conv: Conv2d,
}

impl Upsample2D {
    pub(crate) fn new(channels: usize, device: &Device) -> Self {
        Self { conv: conv3x3([channels, channels], 1, 1, device) }
    }

    /// `[B, C, H, W] -> [B, C, 2H, 2W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(&self.conv, upsample_nearest(x))
    }
}

/// `DownBlock2D` (no attentions) or `AttnDownBlock2D` (one attention after each resnet); the last level
/// has no downsampler.
#[derive(Module, Debug)]
pub struct DownBlock {
    pub(crate) resnets: Vec<ResnetBlock2D>,
    pub(crate) attentions: Vec<SpatialAttention>,
    pub(crate) downsamplers: Vec<Downsample2D>,
}

impl DownBlock {
    /// Runs the level and pushes every output diffusers keeps for the skips: one per resnet (after its
    /// attention) and the downsampler's.
    pub fn forward(&self, mut x: Tensor<4>, temb: &Tensor<2>, skips: &mut Vec<Tensor<4>>) -> Tensor<4> {
        for (i, resnet) in self.resnets.iter().enumerate() {
            x = resnet.forward(x, temb.clone());
            if let Some(attention) = self.attentions.get(i) {
                x = attention.forward(x);
            }
            skips.push(x.clone());
        }
        for downsampler in &self.downsamplers {
            x = downsampler.forward(x);
            skips.push(x.clone());
        }
        x
    }
}

/// `UNetMidBlock2D`: resnet, then (attention when `add_attention`, resnet) per layer.
#[derive(Module, Debug)]
pub struct MidBlock {
    pub(crate) resnets: Vec<ResnetBlock2D>,
    pub(crate) attentions: Vec<SpatialAttention>,
}

impl MidBlock {
    pub fn forward(&self, x: Tensor<4>, temb: &Tensor<2>) -> Tensor<4> {
        let mut x = self.resnets[0].forward(x, temb.clone());
        for (i, resnet) in self.resnets.iter().enumerate().skip(1) {
            if let Some(attention) = self.attentions.get(i - 1) {
                x = attention.forward(x);
            }
            x = resnet.forward(x, temb.clone());
        }
        x
    }
}

/// `UpBlock2D` or `AttnUpBlock2D`: each resnet takes the last skip concatenated on channels; the last
/// level has no upsampler.
#[derive(Module, Debug)]
pub struct UpBlock {
    pub(crate) resnets: Vec<ResnetBlock2D>,
    pub(crate) attentions: Vec<SpatialAttention>,
    pub(crate) upsamplers: Vec<Upsample2D>,
}

impl UpBlock {
    /// Pops one skip per resnet.
    pub fn forward(&self, mut x: Tensor<4>, temb: &Tensor<2>, skips: &mut Vec<Tensor<4>>) -> Tensor<4> {
        for (i, resnet) in self.resnets.iter().enumerate() {
            let skip = skips.pop().expect("the down path keeps one skip per up resnet");
            x = resnet.forward(Tensor::cat(vec![x, skip], 1), temb.clone());
            if let Some(attention) = self.attentions.get(i) {
                x = attention.forward(x);
            }
        }
        for upsampler in &self.upsamplers {
            x = upsampler.forward(x);
        }
        x
    }
}
