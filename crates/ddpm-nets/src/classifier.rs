//! A small CNN digit classifier: not a denoiser, but the feature extractor of the project's quality
//! metrics (FID, KID, precision and recall are computed on its penultimate layer, as FID is on
//! Inception's), and the judge of which class a sample shows.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use ddpm_kernels::conv2d;

/// Two 3x3 conv pairs (each followed by 2x max-pool), then a hidden layer (the features) and the logits.
#[derive(Config, Debug)]
pub struct ClassifierConfig {
    /// Side of the square single-channel input; must be divisible by 4.
    #[config(default = 28)]
    pub image_size: usize,
    /// Channels of the two conv stages.
    #[config(default = "[32, 64]")]
    pub channels: [usize; 2],
    /// Width of the penultimate layer: the feature dimension of the metrics.
    #[config(default = 128)]
    pub features: usize,
    #[config(default = 10)]
    pub classes: usize,
}

#[derive(Module, Debug)]
pub struct Classifier {
    convs: Vec<Conv2d>,
    pool: MaxPool2d,
    hidden: Linear,
    logits: Linear,
}

impl ClassifierConfig {
    /// # Panics
    /// When `image_size` is not a positive multiple of 4.
    pub fn init(&self, device: &Device) -> Classifier {
        assert!(self.image_size > 0 && self.image_size.is_multiple_of(4), "image_size must be a multiple of 4, got {}", self.image_size);
        let [c1, c2] = self.channels;
        let conv = |c_in: usize, c_out: usize| Conv2dConfig::new([c_in, c_out], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
        let flat = c2 * (self.image_size / 4).pow(2);
        Classifier {
            convs: vec![conv(1, c1), conv(c1, c1), conv(c1, c2), conv(c2, c2)],
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            hidden: LinearConfig::new(flat, self.features).init(device),
            logits: LinearConfig::new(self.features, self.classes).init(device),
        }
    }
}

impl Classifier {
    /// The penultimate activations, after ReLU.
    ///
    /// # Shapes
    /// `images`: `[B, 1, S, S]` in [-1, 1] -> `[B, features]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for pair in self.convs.chunks(2) {
            x = relu(conv2d(&pair[1], relu(conv2d(&pair[0], x))));
            x = self.pool.forward(x);
        }
        relu(self.hidden.forward(x.flatten(1, 3)))
    }

    /// Class logits from the features.
    ///
    /// # Shapes
    /// `features`: `[B, features]` -> `[B, classes]`
    pub fn logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.logits.forward(features)
    }

    /// # Shapes
    /// `images`: `[B, 1, S, S]` in [-1, 1] -> `[B, classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.logits(self.features(images))
    }
}
