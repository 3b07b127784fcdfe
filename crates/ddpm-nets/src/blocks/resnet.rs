//! The time-conditioned conv block, in the three wirings the reference designs use.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, GroupNorm, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use ddpm_kernels::{conv2d, group_norm_silu};

use super::{BlockSettings, conv3x3, rescale};

/// How one block is wired. Every style adds a learned projection of the time embedding, broadcast over
/// the image.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum BlockStyle {
    /// `SiLU(GroupNorm(Conv3x3(x))) + time`: the small U-Net of the PyTorch benchmark.
    ConvNormAct,
    /// `SiLU(GroupNorm(Conv3x3(SiLU(GroupNorm(Conv3x3(x)) + time))))`: the "improved U-Net" of the
    /// single-image reference.
    DoubleConv,
    /// The DDPM paper's residual block, diffusers' `ResnetBlock2D`:
    /// `(shortcut(x) + Conv3x3(Dropout(SiLU(GroupNorm(Conv3x3(SiLU(GroupNorm(x))) + time))))) / scale`, with a
    /// 1x1 conv as `shortcut` when the widths differ.
    Residual,
}

/// One time-conditioned block, `[B, in, H, W] -> [B, out, H, W]`.
#[derive(Module, Debug)]
pub struct Block {
    /// GroupNorm over the input (residual style) or over `conv1`'s output (the others).
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Linear,
    /// The second norm and conv (double-conv and residual styles; both or neither).
    norm2: Option<GroupNorm>,
    conv2: Option<Conv2d>,
    dropout: Dropout,
    /// 1x1 conv on the residual path when the widths differ (residual style).
    conv_shortcut: Option<Conv2d>,
    #[module(skip)]
    style: BlockStyle,
    #[module(skip)]
    time_activation: bool,
    /// The residual style's sum is divided by this (diffusers' `output_scale_factor`).
    #[module(skip)]
    output_scale_factor: f64,
}

impl Block {
    pub(crate) fn new(
        style: BlockStyle,
        channels: [usize; 2],
        output_scale_factor: f64,
        settings: &BlockSettings,
        device: &Device,
    ) -> Self {
        let [c_in, c_out] = channels;
        let norm = |c: usize| settings.norm(settings.groups, c, device);
        let second = style != BlockStyle::ConvNormAct;
        Self {
            norm1: norm(if style == BlockStyle::Residual { c_in } else { c_out }),
            conv1: conv3x3([c_in, c_out], 1, 1, device),
            time_emb_proj: LinearConfig::new(settings.time_width, c_out).init(device),
            norm2: second.then(|| norm(c_out)),
            conv2: second.then(|| conv3x3([c_out, c_out], 1, 1, device)),
            dropout: DropoutConfig::new(settings.dropout).init(),
            conv_shortcut: (style == BlockStyle::Residual && c_in != c_out).then(|| Conv2dConfig::new([c_in, c_out], [1, 1]).init(device)),
            style,
            time_activation: settings.time_activation,
            output_scale_factor,
        }
    }

    /// # Shapes
    /// - `x`: `[B, in, H, W]`
    /// - `time`: `[B, time_width]`, the network's time embedding
    /// - output: `[B, out, H, W]`
    pub fn forward(&self, x: Tensor<4>, time: Tensor<2>) -> Tensor<4> {
        let time = if self.time_activation { silu(time) } else { time };
        let time = self.time_emb_proj.forward(time); // [B, out]
        match (self.style, &self.norm2, &self.conv2) {
            (BlockStyle::ConvNormAct, _, _) => group_norm_silu(&self.norm1, conv2d(&self.conv1, x), None) + time.unsqueeze_dims(&[2, 3]),
            (BlockStyle::DoubleConv, Some(norm2), Some(conv2)) => {
                let h = group_norm_silu(&self.norm1, conv2d(&self.conv1, x), Some(time));
                group_norm_silu(norm2, conv2d(conv2, h), None)
            }
            (BlockStyle::Residual, Some(norm2), Some(conv2)) => {
                // The time shift comes before norm2, so the fused kernel normalises the sum.
                let h = conv2d(&self.conv1, group_norm_silu(&self.norm1, x.clone(), None)) + time.unsqueeze_dims(&[2, 3]);
                let h = conv2d(conv2, self.dropout.forward(group_norm_silu(norm2, h, None)));
                let shortcut = match &self.conv_shortcut {
                    Some(conv) => conv2d(conv, x),
                    None => x,
                };
                rescale(shortcut + h, self.output_scale_factor)
            }
            (style, _, _) => unreachable!("{style:?} blocks are built with a second norm and conv"),
        }
    }
}
