//! The project's networks by configuration, for a run description that must say which one it trained.

use burn::config::Config;

use crate::{MlpConfig, UNetConfig};

/// One of the project's denoising networks, with its settings.
#[derive(Config, Debug)]
pub enum NetworkConfig {
    /// The fully connected network for low-dimensional data.
    Mlp(MlpConfig),
    /// The configurable image U-Net.
    UNet(UNetConfig),
}

impl NetworkConfig {
    /// A short name for messages: "mlp" or "unet".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mlp(_) => "mlp",
            Self::UNet(_) => "unet",
        }
    }

    /// Explains the first setting that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Mlp(config) => config.validate(),
            Self::UNet(config) => config.validate(),
        }
    }
}
