//! Denoising networks: the eps_theta(x_t, t) of the DDPM paper.
//!
//! Samplers and the trainer only see the [`Denoiser`] trait, so a trained network, an analytic
//! oracle and a test double are interchangeable.

mod activation;
mod denoiser;
mod mlp;
mod time;
mod unet;

pub use activation::Activation;
pub use denoiser::Denoiser;
pub use mlp::{Mlp, MlpConfig};
pub use time::{TimeEncoding, TimeTable};
pub use unet::{Attention, BasicUNet, BasicUNetConfig, Block, BlockStyle, Downsample, Level, UNet, UNetConfig};
