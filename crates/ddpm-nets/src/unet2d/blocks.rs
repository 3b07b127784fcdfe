//! The levels of diffusers' `UNet2DModel`, parameter for parameter, on the shared [`Block`] and
//! [`SpatialAttention`]. Field names are diffusers' module names, so a diffusers state dict maps onto
//! these modules path for path (`resnets.0.norm1.weight`).

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};
use ddpm_kernels::{conv2d, upsample_nearest};

use crate::blocks::{Block, SpatialAttention, conv3x3};

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
    pub(crate) resnets: Vec<Block>,
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
    pub(crate) resnets: Vec<Block>,
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
    pub(crate) resnets: Vec<Block>,
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
