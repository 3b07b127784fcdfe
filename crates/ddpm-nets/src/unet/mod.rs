//! A time-conditioned U-Net noise predictor for images, configurable enough to reproduce the
//! reference designs as presets ([`UNetConfig::small`], [`UNetConfig::improved`], [`UNetConfig::ddpm`]).
//!
//! Layout: optional input conv; per level `blocks_per_level` blocks (plus self-attention when the
//! level's resolution is listed), whose output is kept as that level's skip, then a 2x downsample; a
//! bottleneck of `mid_blocks` blocks; then, level by level in reverse, a nearest 2x upsample, the
//! skip concatenated on channels, and blocks; finally a 1x1 output conv.

mod basic;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use ddpm_kernels::{conv2d, upsample_nearest_cat};

pub use basic::{BasicUNet, BasicUNetConfig};

use crate::blocks::{Block, BlockSettings, BlockStyle, SpatialAttention, check_attention_size, conv3x3};
use crate::classes::{embed_classes, known_classes};
use crate::{Denoiser, NetError, TimeEncoding, TimeTable};

/// The most resolution levels ([`UNetConfig::channel_mults`]) a U-Net may have.
pub const MAX_LEVELS: usize = 8;
/// The largest U-Net [`UNetConfig::validate`] accepts (by [`UNetConfig::parameter_bound`]): 4 GB of f32
/// weights, 10 times the DDPM paper's LSUN model.
pub const MAX_PARAMETERS: f64 = 1e9;
/// The widest images a U-Net may take.
pub const MAX_IMAGE_SIZE: usize = 4096;

/// How the U-Net halves the resolution between levels.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Downsample {
    /// A 3x3 convolution with stride 2 (learned; the DDPM paper and the PyTorch benchmark).
    StridedConv,
    /// 2x2 max-pooling (the single-image reference).
    MaxPool,
}

/// Configuration of [`UNet`]. The defaults are the small U-Net of the PyTorch benchmark (see [`UNetConfig::small`]).
#[derive(Config, Debug)]
pub struct UNetConfig {
    /// Channels of the images (1 for grayscale).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Channels of the prediction (the noise has as many as the image).
    #[config(default = 1)]
    pub out_channels: usize,
    /// Width of the first level; level `i` has `base_channels * channel_mults[i]` channels.
    #[config(default = 32)]
    pub base_channels: usize,
    /// One entry per resolution level of the down path.
    #[config(default = "vec![1, 2]")]
    pub channel_mults: Vec<usize>,
    /// Width of the bottleneck as a multiple of `base_channels`.
    #[config(default = 4)]
    pub mid_mult: usize,
    #[config(default = 2)]
    pub blocks_per_level: usize,
    #[config(default = 2)]
    pub mid_blocks: usize,
    /// Feature-map sizes (e.g. 16 for 16x16) at which blocks are followed by self-attention; the
    /// bottleneck's size may be listed too.
    #[config(default = "vec![]")]
    pub attention_resolutions: Vec<usize>,
    /// Dropout inside residual blocks (the other styles have none).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// GroupNorm groups; must divide every width.
    #[config(default = 8)]
    pub groups: usize,
    /// Width of the sinusoidal embedding of t.
    #[config(default = 32)]
    pub time_dim: usize,
    /// Width of the time MLP's output, which every block projects to its own width.
    #[config(default = 128)]
    pub time_hidden: usize,
    /// Linear layers in the time MLP: 1 gives `Linear-SiLU`, 2 gives `Linear-SiLU-Linear`.
    #[config(default = 2)]
    pub time_mlp_layers: usize,
    #[config(default = "BlockStyle::ConvNormAct")]
    pub block: BlockStyle,
    #[config(default = "Downsample::StridedConv")]
    pub downsample: Downsample,
    /// Side of the (square) input images, used to place attention and to check divisibility.
    #[config(default = 28)]
    pub image_size: usize,
    /// T of the noise schedule (the time embedding is tabulated for steps `0..T`).
    #[config(default = 1000)]
    pub num_steps: usize,
    /// Class-conditional on this many classes: a learned embedding per class, plus one for "no class"
    /// (index `num_classes`, for classifier-free guidance), added to the time embedding as diffusers'
    /// `UNet2DModel` does with `num_class_embeds`. `None`: unconditional.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
}

impl UNetConfig {
    /// The small U-Net of the PyTorch benchmark (`mnist_unet.py`, the team's reference workload): widths 32-64 with a 128-wide
    /// bottleneck, two `ConvNormAct` blocks per level, stride-2 conv downsampling, time MLP
    /// 32 -> 128 -> 128; 0.62 M parameters for one channel.
    pub fn small(channels: usize, image_size: usize) -> Self {
        Self::new().with_in_channels(channels).with_out_channels(channels).with_image_size(image_size)
    }

    /// The "improved U-Net" of the single-image reference: `DoubleConv` blocks at 64, 128, 256 with
    /// 2x2 max-pooling between them, a 512-wide bottleneck, GroupNorm(8), time embedding
    /// 32 -> Linear -> SiLU injected into every block, nearest upsampling, concatenated skips and a
    /// final 1x1 conv.
    pub fn improved(channels: usize, image_size: usize) -> Self {
        Self::new()
            .with_in_channels(channels)
            .with_out_channels(channels)
            .with_base_channels(64)
            .with_channel_mults(vec![1, 2, 4])
            .with_mid_mult(8)
            .with_blocks_per_level(1)
            .with_mid_blocks(1)
            .with_time_hidden(32)
            .with_time_mlp_layers(1)
            .with_block(BlockStyle::DoubleConv)
            .with_downsample(Downsample::MaxPool)
            .with_image_size(image_size)
    }

    /// A DDPM-paper-style U-Net (Ho et al., CIFAR-10 layout scaled by `base_channels`): residual
    /// blocks with dropout 0.1, widths 1-2-2-2 x base, self-attention at 16x16 and in the bottleneck,
    /// GroupNorm(32), a 4 x base wide time MLP. Simplified: one skip per level (the paper keeps one per
    /// block) and no conv after each upsampling.
    pub fn ddpm(channels: usize, image_size: usize, base_channels: usize) -> Self {
        let levels = 4;
        Self::new()
            .with_in_channels(channels)
            .with_out_channels(channels)
            .with_base_channels(base_channels)
            .with_channel_mults(vec![1, 2, 2, 2])
            .with_mid_mult(2)
            .with_attention_resolutions(vec![16, image_size >> levels])
            .with_dropout(0.1)
            .with_groups(32.min(base_channels))
            .with_time_dim(base_channels)
            .with_time_hidden(4 * base_channels)
            .with_block(BlockStyle::Residual)
            .with_image_size(image_size)
    }

    /// Explains why this network cannot take its `image_size` inputs, or any other inconsistency, or
    /// why it would be too large to build. Every field is checked, so a config read from a file (an
    /// edited checkpoint) is refused here rather than panicking or exhausting memory in [`Self::init`].
    pub fn validate(&self) -> Result<(), NetError> {
        let counts = [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("base_channels", self.base_channels),
            ("mid_mult", self.mid_mult),
            ("blocks_per_level", self.blocks_per_level),
            ("groups", self.groups),
            ("time_dim", self.time_dim),
            ("time_hidden", self.time_hidden),
            ("num_steps", self.num_steps),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(NetError::config("unet", name, format!("{name} must be at least 1, got 0")));
        }
        if self.channel_mults.is_empty() || self.channel_mults.len() > MAX_LEVELS {
            return Err(NetError::config(
                "unet",
                "channel_mults",
                format!("channel_mults must list 1 to {MAX_LEVELS} levels, got {}", self.channel_mults.len()),
            ));
        }
        if self.num_classes == Some(0) {
            return Err(NetError::config("unet", "num_classes", "num_classes must be at least 1 (or absent for an unconditional network)"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(NetError::config("unet", "dropout", format!("dropout must be in [0, 1), got {}", self.dropout)));
        }
        if !(1..=2).contains(&self.time_mlp_layers) {
            return Err(NetError::config(
                "unet",
                "time_mlp_layers",
                format!("time_mlp_layers must be 1 or 2, got {}", self.time_mlp_layers),
            ));
        }
        let parameters = self.parameter_bound();
        if parameters > MAX_PARAMETERS || self.image_size > MAX_IMAGE_SIZE {
            return Err(NetError::config(
                "unet",
                "image_size",
                format!(
                    "this U-Net is too large to build: about {parameters:.1e} parameters at most {MAX_PARAMETERS:.0e}, \
                 images {} pixels wide at most {MAX_IMAGE_SIZE}",
                    self.image_size
                ),
            ));
        }
        let levels = self.channel_mults.len() as u32;
        let factor = 1usize << levels;
        if self.image_size == 0 || !self.image_size.is_multiple_of(factor) {
            return Err(NetError::config(
                "unet",
                "image_size",
                format!(
                    "image size {} cannot be halved {levels} times: the U-Net needs a multiple of {factor} (e.g. {})",
                    self.image_size,
                    (self.image_size / factor).max(1) * factor
                ),
            ));
        }
        // The levels' sides, the bottleneck's last; attention runs where a listed resolution is one.
        let widest_attention = (0..=self.channel_mults.len())
            .map(|level| self.image_size >> level)
            .filter(|side| self.attention_resolutions.contains(side))
            .max();
        check_attention_size("unet", "attention_resolutions", widest_attention.unwrap_or(0))?;
        let widths = self.channel_mults.iter().chain([&self.mid_mult]).map(|m| m * self.base_channels);
        if let Some(width) = widths.clone().find(|w| *w == 0 || w % self.groups != 0) {
            return Err(NetError::config(
                "unet",
                "groups",
                format!("GroupNorm with {} groups cannot split {width} channels; pick groups dividing every width", self.groups),
            ));
        }
        Ok(())
    }

    /// An upper bound on the parameter count, in floating point so that no setting overflows it: two
    /// 3x3 convolutions per block at the widest width, on the way down and up, the time MLP, the
    /// class embeddings and the time table.
    fn parameter_bound(&self) -> f64 {
        let widest = self.channel_mults.iter().chain([&self.mid_mult]).map(|&m| m as f64).fold(0.0, f64::max) * self.base_channels as f64;
        let widest = widest.max((self.in_channels + self.out_channels) as f64);
        let blocks = (2 * self.blocks_per_level + 1) as f64 * self.channel_mults.len() as f64 + self.mid_blocks as f64;
        let convolutions = blocks * 2.0 * 9.0 * widest * widest;
        let time = self.time_hidden as f64 * (self.time_dim as f64 + self.time_hidden as f64 + blocks * widest);
        let classes = self.num_classes.unwrap_or(0) as f64 * self.time_hidden as f64;
        convolutions + time + classes + self.num_steps as f64 * self.time_dim as f64
    }

    /// # Panics
    /// When [`UNetConfig::validate`] fails: call it first to report bad input.
    pub fn init(&self, device: &Device) -> UNet {
        if let Err(problem) = self.validate() {
            panic!("invalid U-Net configuration: {problem}");
        }
        let settings = BlockSettings::project(self.groups, self.dropout, self.time_hidden);
        let block = |c_in: usize, c_out: usize| Block::new(self.block, [c_in, c_out], 1.0, &settings, device);
        // The DDPM U-Net's attention has one head.
        let attention_at = |size: usize, width: usize| {
            self.attention_resolutions.contains(&size).then(|| SpatialAttention::new(width, width, self.groups, 1.0, &settings, device))
        };
        let widths: Vec<usize> = self.channel_mults.iter().map(|m| m * self.base_channels).collect();
        let mid_width = self.mid_mult * self.base_channels;

        // The residual style normalises its input first, which needs more than one channel.
        let conv_in = (self.block == BlockStyle::Residual).then(|| conv3x3([self.in_channels, self.base_channels], 1, 1, device));
        let mut channels = if conv_in.is_some() { self.base_channels } else { self.in_channels };
        let mut down = Vec::new();
        let mut downsamplers = Vec::new();
        for (level, &width) in widths.iter().enumerate() {
            let size = self.image_size >> level;
            down.push(Level {
                blocks: (0..self.blocks_per_level).map(|i| block(if i == 0 { channels } else { width }, width)).collect(),
                attention: attention_at(size, width),
            });
            downsamplers.push(match self.downsample {
                Downsample::StridedConv => Some(conv3x3([width, width], 2, 1, device)),
                Downsample::MaxPool => None,
            });
            channels = width;
        }
        let mid = Level {
            blocks: (0..self.mid_blocks).map(|i| block(if i == 0 { channels } else { mid_width }, mid_width)).collect(),
            attention: attention_at(self.image_size >> widths.len(), mid_width),
        };
        channels = mid_width;
        let mut up = Vec::new();
        for (level, &width) in widths.iter().enumerate().rev() {
            up.push(Level {
                blocks: (0..self.blocks_per_level).map(|i| block(if i == 0 { channels + width } else { width }, width)).collect(),
                attention: attention_at(self.image_size >> level, width),
            });
            channels = width;
        }
        let time_widths = [self.time_dim, self.time_hidden, self.time_hidden];
        UNet {
            time_mlp: (0..self.time_mlp_layers).map(|i| LinearConfig::new(time_widths[i], time_widths[i + 1]).init(device)).collect(),
            class_embedding: self.num_classes.map(|classes| EmbeddingConfig::new(classes + 1, self.time_hidden).init(device)),
            conv_in,
            down,
            downsamplers,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            mid,
            up,
            conv_out: Conv2dConfig::new([channels, self.out_channels], [1, 1]).init(device),
            time: TimeEncoding::Sinusoidal { dim: self.time_dim }.table(self.num_steps),
        }
    }
}

/// The blocks of one resolution level, optionally followed by self-attention.
#[derive(Module, Debug)]
pub struct Level {
    blocks: Vec<Block>,
    attention: Option<SpatialAttention>,
}

impl Level {
    fn forward(&self, mut x: Tensor<4>, time: &Tensor<2>) -> Tensor<4> {
        for block in &self.blocks {
            x = block.forward(x, time.clone());
        }
        match &self.attention {
            Some(attention) => attention.forward(x),
            None => x,
        }
    }
}

/// The network built from [`UNetConfig`].
#[derive(Module, Debug)]
pub struct UNet {
    time_mlp: Vec<Linear>,
    /// `num_classes + 1` rows, the last for "no class".
    class_embedding: Option<Embedding>,
    conv_in: Option<Conv2d>,
    down: Vec<Level>,
    /// One per level: a stride-2 conv, or `None` for max-pooling.
    downsamplers: Vec<Option<Conv2d>>,
    pool: MaxPool2d,
    mid: Level,
    up: Vec<Level>,
    conv_out: Conv2d,
    #[module(skip)]
    time: TimeTable,
}

impl UNet {
    /// The classes of a conditional network (`None` when unconditional).
    pub fn num_classes(&self) -> Option<usize> {
        self.class_embedding.as_ref().map(known_classes)
    }

    /// # Shapes
    /// - `x_t`: `[B, in_channels, S, S]` with `S` the configured image size
    /// - `timesteps`: `B` 0-based steps
    /// - `classes`: `B` labels below `num_classes` (or equal to it: the null class), or `None` for the null
    ///   class throughout (ignored when unconditional)
    /// - output: `[B, out_channels, S, S]`
    pub fn forward(&self, x_t: Tensor<4>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<4> {
        let device = x_t.device();
        let mut time = self.time.encode(timesteps, &device); // [B, time_dim]
        for (i, layer) in self.time_mlp.iter().enumerate() {
            time = layer.forward(time);
            if i == 0 {
                time = silu(time);
            }
        }
        if let Some(embedding) = &self.class_embedding {
            time = time + embed_classes(embedding, classes, timesteps.len()); // [B, time_hidden]
        }
        let mut x = match &self.conv_in {
            Some(conv) => conv2d(conv, x_t),
            None => x_t,
        };
        let mut skips = Vec::with_capacity(self.down.len());
        for (level, downsampler) in self.down.iter().zip(&self.downsamplers) {
            x = level.forward(x, &time);
            skips.push(x.clone());
            x = match downsampler {
                Some(conv) => conv2d(conv, x),
                None => self.pool.forward(x),
            };
        }
        x = self.mid.forward(x, &time);
        for level in &self.up {
            let skip = skips.pop().expect("one skip per level");
            x = level.forward(upsample_nearest_cat(x, skip), &time);
        }
        conv2d(&self.conv_out, x)
    }
}

impl Denoiser<4> for UNet {
    fn predict(&self, x_t: Tensor<4>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<4> {
        self.forward(x_t, timesteps, classes)
    }
}

#[cfg(test)]
mod tests;
