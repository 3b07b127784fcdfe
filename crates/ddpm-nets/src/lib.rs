//! Denoising networks: the eps_theta(x_t, t) of the DDPM paper (or its x_0 or v counterpart).
//!
//! Samplers and the trainer only see the [`Denoiser`] trait (`ddpm_core`'s, re-exported here), so a
//! trained network, an analytic oracle and a test double are interchangeable, and neither crate
//! depends on this one. [`NetworkConfig`] names any of the project's networks, and
//! [`NetworkConfig::run_image_task`] is the one place that picks an image network's type from it.
//! [`UNet2DModel`] is diffusers' U-Net, parameter for parameter ([`weights`] reads and writes its
//! state dicts). Both U-Nets are built from one family of blocks ([`Block`], [`SpatialAttention`]) and
//! one [`SinusoidalEmbedding`] of t. [`Classifier`] is the digit classifier behind the quality metrics.

mod activation;
mod blocks;
mod classes;
mod classifier;
mod error;
mod mlp;
mod network;
mod time;
mod unet;
mod unet2d;
pub mod weights;

pub use activation::Activation;
pub use blocks::{Block, BlockStyle, MAX_ATTENTION_PIXELS, SpatialAttention};
pub use classifier::{Classifier, ClassifierConfig};
pub use ddpm_core::Denoiser;
pub use error::NetError;
pub use mlp::{Mlp, MlpConfig};
pub use network::{AnyImageNetwork, ImageDenoiser, ImageNetwork, ImageNetworkTask, NetworkConfig};
pub use time::{Arithmetic, SinusoidalEmbedding, TimeEncoding, TimeTable};
pub use unet::{BasicUNet, BasicUNetConfig, Downsample, Level, UNet, UNetConfig};
pub use unet2d::{DIFFUSERS_VERSION, DownBlockType, UNet2DConfig, UNet2DModel, UpBlockType};
