//! The one family of blocks both U-Nets are built from: the time-conditioned [`Block`] (whose residual
//! style is diffusers' `ResnetBlock2D`) and [`SpatialAttention`]. The project's [`crate::UNet`] and
//! diffusers' [`crate::UNet2DModel`] differ only in how they wire these, so a fix or a kernel lands once.
//! Field names are diffusers' module names (`norm1`, `time_emb_proj`, `to_q`, ...), so a diffusers state
//! dict maps onto them path for path.

mod attention;
mod resnet;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

pub(crate) use attention::check_attention_size;
pub use attention::{MAX_ATTENTION_PIXELS, SpatialAttention};
pub use resnet::{Block, BlockStyle};

/// What every block of one network shares: its GroupNorm settings, dropout and time conditioning.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockSettings {
    pub groups: usize,
    pub eps: f64,
    pub dropout: f64,
    /// Width of the time embedding each block projects to its own width.
    pub time_width: usize,
    /// Whether each block applies SiLU to the time embedding before projecting it (diffusers' blocks do;
    /// the project's U-Net ends its time MLP without an activation and projects it as it is).
    pub time_activation: bool,
}

impl BlockSettings {
    /// The project's settings: GroupNorm's default epsilon, the time embedding projected as it is.
    pub(crate) fn project(groups: usize, dropout: f64, time_width: usize) -> Self {
        Self { groups, eps: 1e-5, dropout, time_width, time_activation: false }
    }

    pub(crate) fn norm(&self, groups: usize, channels: usize, device: &Device) -> GroupNorm {
        GroupNormConfig::new(groups, channels).with_epsilon(self.eps).init(device)
    }
}

/// A 3x3 convolution with the given stride and the same padding on every side.
pub(crate) fn conv3x3(channels: [usize; 2], stride: usize, padding: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
        .init(device)
}

/// Divides by `factor` unless it is 1 (diffusers' `output_scale_factor` and `rescale_output_factor`).
fn rescale(x: Tensor<4>, factor: f64) -> Tensor<4> {
    if factor == 1.0 { x } else { x.div_scalar(factor) }
}
