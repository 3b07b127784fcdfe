//! The U-Net's building blocks: a time-conditioned conv block and spatial self-attention.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use ddpm_kernels::{conv2d, group_norm_silu};

/// How one block of the U-Net is wired. Every style adds a learned projection of the time embedding,
/// broadcast over the image.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum BlockStyle {
    /// `SiLU(GroupNorm(Conv3x3(x))) + time`: the small U-Net of the PyTorch benchmark.
    ConvNormAct,
    /// `SiLU(GroupNorm(Conv3x3(SiLU(GroupNorm(Conv3x3(x)) + time))))`: the "improved U-Net" of the
    /// single-image reference.
    DoubleConv,
    /// The DDPM paper's residual block: `Conv3x3(Dropout(SiLU(GroupNorm(Conv3x3(SiLU(GroupNorm(x))) + time))))
    /// + skip(x)`, with a 1x1 conv as `skip` when the widths differ.
    Residual,
}

/// A 3x3 convolution that keeps the spatial size.
pub(crate) fn conv3x3(channels_in: usize, channels_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([channels_in, channels_out], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

/// One time-conditioned block, `[B, in, H, W] -> [B, out, H, W]`.
#[derive(Module, Debug)]
pub struct Block {
    /// GroupNorm over the input (residual style) or over `conv1`'s output (the others).
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Linear,
    /// The second norm + conv (double-conv and residual styles).
    second: Option<(GroupNorm, Conv2d)>,
    dropout: Dropout,
    /// 1x1 conv on the residual path when the widths differ (residual style).
    skip: Option<Conv2d>,
    #[module(skip)]
    style: BlockStyle,
}

impl Block {
    pub(crate) fn new(style: BlockStyle, channels: [usize; 2], time_width: usize, groups: usize, dropout: f64, device: &Device) -> Self {
        let [c_in, c_out] = channels;
        let norm = |c: usize| GroupNormConfig::new(groups, c).init(device);
        let norm1 = norm(if style == BlockStyle::Residual { c_in } else { c_out });
        let second = (style != BlockStyle::ConvNormAct).then(|| (norm(c_out), conv3x3(c_out, c_out, device)));
        let skip = (style == BlockStyle::Residual && c_in != c_out).then(|| Conv2dConfig::new([c_in, c_out], [1, 1]).init(device));
        Self {
            norm1,
            conv1: conv3x3(c_in, c_out, device),
            time: LinearConfig::new(time_width, c_out).init(device),
            second,
            dropout: DropoutConfig::new(dropout).init(),
            skip,
            style,
        }
    }

    /// # Shapes
    /// - `x`: `[B, in, H, W]`
    /// - `time`: `[B, time_width]`, the time MLP's output
    /// - output: `[B, out, H, W]`
    pub fn forward(&self, x: Tensor<4>, time: Tensor<2>) -> Tensor<4> {
        let time = self.time.forward(time); // [B, out]
        match (self.style, &self.second) {
            (BlockStyle::ConvNormAct, _) => group_norm_silu(&self.norm1, conv2d(&self.conv1, x), None) + time.unsqueeze_dims(&[2, 3]),
            (BlockStyle::DoubleConv, Some((norm2, conv2))) => {
                let h = group_norm_silu(&self.norm1, conv2d(&self.conv1, x), Some(time));
                group_norm_silu(norm2, conv2d(conv2, h), None)
            }
            (BlockStyle::Residual, Some((norm2, conv2))) => {
                let h = conv2d(&self.conv1, group_norm_silu(&self.norm1, x.clone(), None)) + time.unsqueeze_dims(&[2, 3]);
                let h = conv2d(conv2, self.dropout.forward(group_norm_silu(norm2, h, None)));
                let skip = match &self.skip {
                    Some(conv) => conv2d(conv, x),
                    None => x,
                };
                h + skip
            }
            (style, None) => unreachable!("{style:?} blocks are built with a second conv"),
        }
    }
}

/// Self-attention over the pixels of a feature map (single head, as in the DDPM U-Net), with a
/// residual connection: `x + Out(softmax(Q K^T / sqrt(C)) V)` on `GroupNorm(x)`.
#[derive(Module, Debug)]
pub struct Attention {
    norm: GroupNorm,
    qkv: Linear,
    out: Linear,
}

impl Attention {
    pub(crate) fn new(channels: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm: GroupNormConfig::new(groups, channels).init(device),
            qkv: LinearConfig::new(channels, 3 * channels).init(device),
            out: LinearConfig::new(channels, channels).init(device),
        }
    }

    /// # Shapes
    /// `x`: `[B, C, H, W]` -> `[B, C, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = x.dims();
        let tokens = self.norm.forward(x.clone()).reshape([batch, channels, height * width]).swap_dims(1, 2); // [B, HW, C]
        let qkv = self.qkv.forward(tokens).chunk(3, 2);
        let (q, k, v) = (qkv[0].clone(), qkv[1].clone(), qkv[2].clone());
        let weights = softmax(q.matmul(k.swap_dims(1, 2)).div_scalar((channels as f64).sqrt()), 2); // [B, HW, HW]
        let attended = self.out.forward(weights.matmul(v)); // [B, HW, C]
        x + attended.swap_dims(1, 2).reshape([batch, channels, height, width])
    }
}
