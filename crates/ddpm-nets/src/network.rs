//! The project's networks by configuration, for a run description that must say which one it trained,
//! and [`ImageNetwork`], what the image runs need of whichever U-Net they train.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;

use crate::{Denoiser, MlpConfig, NetError, UNet, UNet2DConfig, UNet2DModel, UNetConfig};

/// One of the project's denoising networks, with its settings.
#[derive(Config, Debug)]
pub enum NetworkConfig {
    /// The fully connected network for low-dimensional data.
    Mlp(MlpConfig),
    /// The configurable image U-Net.
    UNet(UNetConfig),
    /// diffusers' `UNet2DModel`.
    UNet2D(UNet2DConfig),
}

impl NetworkConfig {
    /// A short name for messages: "mlp", "unet" or "unet2d".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mlp(_) => "mlp",
            Self::UNet(_) => "unet",
            Self::UNet2D(_) => "unet2d",
        }
    }

    /// Explains the first setting that cannot work.
    pub fn validate(&self) -> Result<(), NetError> {
        match self {
            Self::Mlp(config) => config.validate(),
            Self::UNet(config) => config.validate(),
            Self::UNet2D(config) => config.validate(),
        }
    }

    /// An image network's `[in_channels, out_channels, image_size]`; `None` for the MLP.
    pub fn image_io(&self) -> Option<[usize; 3]> {
        match self {
            Self::Mlp(_) => None,
            Self::UNet(c) => Some([c.in_channels, c.out_channels, c.image_size]),
            Self::UNet2D(c) => Some([c.in_channels, c.out_channels, c.sample_size]),
        }
    }

    /// The same image network with `channels` output channels (twice its input's when it also outputs
    /// the variance of the reverse step); the MLP, which is not an image network, is returned as it is.
    pub fn with_image_out_channels(self, channels: usize) -> Self {
        match self {
            Self::Mlp(config) => Self::Mlp(config),
            Self::UNet(config) => Self::UNet(config.with_out_channels(channels)),
            Self::UNet2D(config) => Self::UNet2D(config.with_out_channels(channels)),
        }
    }

    /// The T a network tabulates its time embedding for, when it has a table (the project's U-Net);
    /// diffusers' embeds any step.
    pub fn embedded_steps(&self) -> Option<usize> {
        match self {
            Self::UNet(c) => Some(c.num_steps),
            Self::Mlp(_) | Self::UNet2D(_) => None,
        }
    }

    /// The classes of a class-conditional image network, not counting its "no class" embedding.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Self::Mlp(_) => None,
            Self::UNet(c) => c.num_classes,
            Self::UNet2D(c) => c.num_class_embeds.map(|rows| rows - 1),
        }
    }
}

/// Work done with an image network whose type only the run's [`NetworkConfig`] knows:
/// [`NetworkConfig::run_image_task`] picks the type in one place, so the work is written once,
/// generic over [`ImageNetwork`].
pub trait ImageNetworkTask {
    type Output;

    /// The work, on networks of type `N`.
    fn run<N: ImageNetwork>(self) -> Self::Output;
}

impl NetworkConfig {
    /// Runs `task` on the image network type this config builds; the MLP is refused.
    pub fn run_image_task<T: ImageNetworkTask>(&self, task: T) -> Result<T::Output, NetError> {
        match self {
            Self::UNet(_) => Ok(task.run::<UNet>()),
            Self::UNet2D(_) => Ok(task.run::<UNet2DModel>()),
            Self::Mlp(_) => Err(NetError::NotAnImageNetwork { network: self.name() }),
        }
    }
}

/// An image denoiser that samples can be drawn from, class by class when it is class-conditional.
pub trait ImageDenoiser: Denoiser<4> {
    /// The classes of a class-conditional network, not counting its "no class" embedding (which is
    /// class index `classes`); `None` when unconditional.
    fn classes(&self) -> Option<usize>;
}

/// An image network the run lifecycle trains and checkpoints: the project's [`UNet`] or diffusers'
/// [`UNet2DModel`]. A training command picks the type from the run's [`NetworkConfig`].
pub trait ImageNetwork: ImageDenoiser + Module + std::fmt::Display + Into<AnyImageNetwork> {
    /// The network `config` describes, with fresh weights on `device`, or why `config` is not this
    /// kind of network (or cannot be built).
    fn init_from(config: &NetworkConfig, device: &Device) -> Result<Self, NetError>;
}

/// A trained image network of either kind, for code that only samples it (its type is known only
/// once the run or pipeline folder is read).
#[derive(Debug, Clone)]
pub enum AnyImageNetwork {
    // Boxed: both are large values (1-2 kB, their top-level modules inline), moved around by the apps.
    UNet(Box<UNet>),
    UNet2D(Box<UNet2DModel>),
}

impl Denoiser<4> for AnyImageNetwork {
    fn predict(&self, x_t: burn::tensor::Tensor<4>, timesteps: &[usize], classes: Option<&[usize]>) -> burn::tensor::Tensor<4> {
        match self {
            Self::UNet(net) => net.predict(x_t, timesteps, classes),
            Self::UNet2D(net) => net.predict(x_t, timesteps, classes),
        }
    }
}

impl From<UNet> for AnyImageNetwork {
    fn from(net: UNet) -> Self {
        Self::UNet(Box::new(net))
    }
}

impl From<UNet2DModel> for AnyImageNetwork {
    fn from(net: UNet2DModel) -> Self {
        Self::UNet2D(Box::new(net))
    }
}

impl ImageDenoiser for AnyImageNetwork {
    fn classes(&self) -> Option<usize> {
        match self {
            Self::UNet(net) => net.classes(),
            Self::UNet2D(net) => net.classes(),
        }
    }
}

fn another_network(config: &NetworkConfig, wanted: &'static str) -> NetError {
    NetError::AnotherNetwork { found: config.name(), wanted }
}

impl ImageDenoiser for UNet {
    fn classes(&self) -> Option<usize> {
        self.num_classes()
    }
}

impl ImageNetwork for UNet {
    fn init_from(config: &NetworkConfig, device: &Device) -> Result<Self, NetError> {
        match config {
            NetworkConfig::UNet(c) => c.validate().map(|()| c.init(device)),
            other => Err(another_network(other, "unet")),
        }
    }
}

impl ImageDenoiser for UNet2DModel {
    fn classes(&self) -> Option<usize> {
        self.num_classes()
    }
}

impl ImageNetwork for UNet2DModel {
    fn init_from(config: &NetworkConfig, device: &Device) -> Result<Self, NetError> {
        match config {
            NetworkConfig::UNet2D(c) => c.validate().map(|()| c.init(device)),
            other => Err(another_network(other, "unet2d")),
        }
    }
}
