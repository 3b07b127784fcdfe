//! The pre-DDPM baseline of the diffusers course ("BasicUNet"): no time input, trained to recover
//! the clean image from a blend with uniform noise in one shot.

use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use ddpm_kernels::{conv2d, upsample_nearest};

/// Three 5x5 convs down (32-64-64, 2x max-pool after the first two), three back up (64-32-out,
/// 2x nearest upsampling before the last two, each adding the matching skip), SiLU after every conv.
#[derive(Config, Debug)]
pub struct BasicUNetConfig {
    #[config(default = 1)]
    pub in_channels: usize,
    #[config(default = 1)]
    pub out_channels: usize,
}

#[derive(Module, Debug)]
pub struct BasicUNet {
    down: Vec<Conv2d>,
    up: Vec<Conv2d>,
    pool: MaxPool2d,
}

impl BasicUNetConfig {
    pub fn init(&self, device: &Device) -> BasicUNet {
        let conv = |c_in: usize, c_out: usize| {
            Conv2dConfig::new([c_in, c_out], [5, 5]).with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2)).init(device)
        };
        BasicUNet {
            down: vec![conv(self.in_channels, 32), conv(32, 64), conv(64, 64)],
            up: vec![conv(64, 64), conv(64, 32), conv(32, self.out_channels)],
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }
}

impl BasicUNet {
    /// # Shapes
    /// `x`: `[B, in, H, W]` with `H`, `W` divisible by 4 -> `[B, out, H, W]`
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::new();
        for (i, conv) in self.down.iter().enumerate() {
            x = silu(conv2d(conv, x));
            if i < 2 {
                skips.push(x.clone());
                x = self.pool.forward(x);
            }
        }
        for (i, conv) in self.up.iter().enumerate() {
            if i > 0 {
                x = upsample_nearest(x) + skips.pop().expect("one skip per pooled level");
            }
            x = silu(conv2d(conv, x));
        }
        x
    }
}
