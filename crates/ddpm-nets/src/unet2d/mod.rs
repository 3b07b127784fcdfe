//! diffusers' `UNet2DModel`, the unconditional (or class-embedded) U-Net of the DDPM pipelines, parameter
//! for parameter, so that a diffusers checkpoint loads into it and a trained one exports to diffusers.
//!
//! Layout (diffusers' `unet_2d.py`): `conv_in`; a sinusoidal time projection and `time_embedding`
//! (`linear_1`, SiLU, `linear_2`), plus a class embedding when `num_class_embeds` is set; per level a
//! [`DownBlock`] of `layers_per_block` resnets (with attentions in an `AttnDownBlock2D`) and a stride-2
//! conv except at the last level; a [`MidBlock`]; per level in reverse an [`UpBlock`] of
//! `layers_per_block + 1` resnets, each taking one skip, and a nearest 2x upsample + conv except at the
//! last level; `conv_norm_out`, SiLU, `conv_out`.

mod blocks;
mod diffusers_config;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, EmbeddingConfig, GroupNorm, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use ddpm_kernels::{conv2d, group_norm_silu};

pub use blocks::{DownBlock, Downsample2D, MidBlock, UpBlock, Upsample2D};
pub use diffusers_config::DIFFUSERS_VERSION;

use crate::blocks::{Block, BlockSettings, BlockStyle, SpatialAttention, check_attention_size, conv3x3};
use crate::classes::{embed_classes, known_classes};
use crate::time::{Arithmetic, SinusoidalEmbedding};
use crate::unet::{MAX_IMAGE_SIZE, MAX_LEVELS, MAX_PARAMETERS};
use crate::{Denoiser, NetError};

/// A level of the down path, as diffusers' `down_block_types` names it.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum DownBlockType {
    DownBlock2D,
    /// Self-attention after each resnet.
    AttnDownBlock2D,
}

/// A level of the up path, as diffusers' `up_block_types` names it.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum UpBlockType {
    UpBlock2D,
    /// Self-attention after each resnet.
    AttnUpBlock2D,
}

/// Configuration of [`UNet2DModel`]: the fields of diffusers' `unet/config.json` that this model
/// supports, under their diffusers names and with diffusers' defaults, except that `sample_size` and the
/// levels have none.
#[derive(Config, Debug)]
pub struct UNet2DConfig {
    /// Side of the (square) images.
    pub sample_size: usize,
    /// Output widths of the levels, first to last.
    pub block_out_channels: Vec<usize>,
    pub down_block_types: Vec<DownBlockType>,
    pub up_block_types: Vec<UpBlockType>,
    #[config(default = 3)]
    pub in_channels: usize,
    #[config(default = 3)]
    pub out_channels: usize,
    /// Maps inputs from [0, 1] to [-1, 1] first (`2x - 1`).
    #[config(default = false)]
    pub center_input_sample: bool,
    /// Cosines before sines in the time projection.
    #[config(default = true)]
    pub flip_sin_to_cos: bool,
    /// The time projection's frequencies are `10000^(-i / (half - freq_shift))`.
    #[config(default = 0.0)]
    pub freq_shift: f64,
    /// Width of the time embedding; `None`: 4 x `block_out_channels[0]`.
    #[config(default = "None")]
    pub time_embedding_dim: Option<usize>,
    /// Resnets per down level (the up levels have one more).
    #[config(default = 2)]
    pub layers_per_block: usize,
    /// The mid block's `output_scale_factor` (its resnets and attention divide their sum by it).
    #[config(default = 1.0)]
    pub mid_block_scale_factor: f64,
    /// Padding of the stride-2 downsampling convs: 1, or 0 for diffusers' bottom-right pad.
    #[config(default = 1)]
    pub downsample_padding: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Channels per attention head; `None`: one head per attention.
    #[config(default = "Some(8)")]
    pub attention_head_dim: Option<usize>,
    #[config(default = 32)]
    pub norm_num_groups: usize,
    /// GroupNorm groups of the mid block's attention; `None`: `norm_num_groups`.
    #[config(default = "None")]
    pub attn_norm_num_groups: Option<usize>,
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// Self-attention in the mid block.
    #[config(default = true)]
    pub add_attention: bool,
    /// diffusers' `mid_block_type`: `UNetMidBlock2D` (true) or none.
    #[config(default = true)]
    pub mid_block: bool,
    /// A learned embedding of this many classes added to the time embedding (diffusers'
    /// `num_class_embeds`). The project reads the last one as "no class" (see [`UNet2DModel::forward`]).
    #[config(default = "None")]
    pub num_class_embeds: Option<usize>,
}

impl UNet2DConfig {
    /// Seed 002's MNIST model, the configuration of the diffusers course: 28x28 grayscale, widths 32-64-64,
    /// two resnets per level, attention in the last two levels, diffusers' other defaults.
    pub fn mnist() -> Self {
        use DownBlockType::*;
        use UpBlockType::*;
        Self::new(28, vec![32, 64, 64], vec![DownBlock2D, AttnDownBlock2D, AttnDownBlock2D], vec![AttnUpBlock2D, AttnUpBlock2D, UpBlock2D])
            .with_in_channels(1)
            .with_out_channels(1)
    }

    /// Width of the time embedding.
    pub fn time_embed_dim(&self) -> usize {
        self.time_embedding_dim.unwrap_or(4 * self.block_out_channels.first().copied().unwrap_or(0))
    }

    /// Explains the first setting this model cannot be built with, naming the field. Every field is
    /// checked, so a config read from a file is refused here rather than panicking in [`Self::init`].
    pub fn validate(&self) -> Result<(), NetError> {
        let levels = self.block_out_channels.len();
        if levels == 0 || levels > MAX_LEVELS {
            return Err(NetError::config(
                "unet2d",
                "block_out_channels",
                format!("block_out_channels must list 1 to {MAX_LEVELS} levels, got {levels}"),
            ));
        }
        if self.down_block_types.len() != levels || self.up_block_types.len() != levels {
            return Err(NetError::config(
                "unet2d",
                "block_out_channels",
                format!(
                    "block_out_channels, down_block_types and up_block_types must have one entry per level; got {levels}, {} and {}",
                    self.down_block_types.len(),
                    self.up_block_types.len()
                ),
            ));
        }
        let counts = [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("layers_per_block", self.layers_per_block),
            ("norm_num_groups", self.norm_num_groups),
            ("time_embedding_dim", self.time_embed_dim()),
            ("attention_head_dim", self.attention_head_dim.unwrap_or(1)),
            ("attn_norm_num_groups", self.attn_norm_num_groups.unwrap_or(1)),
            ("num_class_embeds", self.num_class_embeds.unwrap_or(1)),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(NetError::config("unet2d", name, format!("{name} must be at least 1, got 0")));
        }
        if let Some(width) = self.block_out_channels.iter().find(|&&w| w == 0 || !w.is_multiple_of(self.norm_num_groups)) {
            return Err(NetError::config(
                "unet2d",
                "norm_num_groups",
                format!("norm_num_groups {} must divide every width in block_out_channels, but not {width}", self.norm_num_groups),
            ));
        }
        let attention_maps = self.attention_maps();
        if let Some(head_dim) = self.attention_head_dim
            && let Some((width, _)) = attention_maps.iter().find(|(w, _)| !w.is_multiple_of(head_dim))
        {
            return Err(NetError::config(
                "unet2d",
                "attention_head_dim",
                format!("attention_head_dim {head_dim} must divide the width {width} of every level with attention"),
            ));
        }
        let mid_width = self.block_out_channels[levels - 1];
        if let Some(groups) = self.attn_norm_num_groups.filter(|&g| self.mid_block && self.add_attention && !mid_width.is_multiple_of(g)) {
            return Err(NetError::config(
                "unet2d",
                "attn_norm_num_groups",
                format!("attn_norm_num_groups {groups} must divide the mid block's width {mid_width}"),
            ));
        }
        if self.downsample_padding > 1 {
            return Err(NetError::config(
                "unet2d",
                "downsample_padding",
                format!("downsample_padding must be 0 or 1 (others change the map sizes), got {}", self.downsample_padding),
            ));
        }
        let reals = [("dropout", self.dropout, 0.0..1.0), ("freq_shift", self.freq_shift, -1e6..1e6)];
        if let Some((name, value, range)) = reals.iter().find(|(_, value, range)| !range.contains(value)) {
            return Err(NetError::config("unet2d", name, format!("{name} must be in [{}, {}), got {value}", range.start, range.end)));
        }
        let half = (self.block_out_channels[0] / 2) as f64;
        if half - self.freq_shift == 0.0 {
            return Err(NetError::config(
                "unet2d",
                "freq_shift",
                format!("freq_shift {} equals half the time projection's width: its frequencies divide by zero", self.freq_shift),
            ));
        }
        for (name, value) in [("norm_eps", self.norm_eps), ("mid_block_scale_factor", self.mid_block_scale_factor)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(NetError::config("unet2d", name, format!("{name} must be a positive number, got {value}")));
            }
        }
        let parameters = self.parameter_bound();
        if parameters > MAX_PARAMETERS || self.sample_size > MAX_IMAGE_SIZE {
            return Err(NetError::config(
                "unet2d",
                "sample_size",
                format!(
                    "this UNet2DModel is too large to build: about {parameters:.1e} parameters at most {MAX_PARAMETERS:.0e}, \
                 images {} pixels wide at most {MAX_IMAGE_SIZE}",
                    self.sample_size
                ),
            ));
        }
        let factor = 1usize << (levels - 1);
        if self.sample_size == 0 || !self.sample_size.is_multiple_of(factor) {
            return Err(NetError::config(
                "unet2d",
                "sample_size",
                format!(
                    "sample_size {} cannot be halved {} times: with {levels} levels it must be a multiple of {factor}",
                    self.sample_size,
                    levels - 1
                ),
            ));
        }
        let widest_attention = attention_maps.iter().map(|&(_, side)| side).max().unwrap_or(0);
        check_attention_size("unet2d", "sample_size", widest_attention)?;
        Ok(())
    }

    /// The `(width, side)` of every feature map attention runs over (per attention level, and the mid
    /// block's): level `i` is `sample_size >> i` pixels wide.
    fn attention_maps(&self) -> Vec<(usize, usize)> {
        let levels = self.block_out_channels.len();
        let side = |level: usize| self.sample_size >> level;
        let down = (0..levels).filter(|&i| self.down_block_types[i] == DownBlockType::AttnDownBlock2D);
        let up = (0..levels).filter(|&j| self.up_block_types[j] == UpBlockType::AttnUpBlock2D).map(|j| levels - 1 - j);
        let mid = (self.mid_block && self.add_attention).then_some(levels - 1);
        down.chain(up).chain(mid).map(|level| (self.block_out_channels[level], side(level))).collect()
    }

    /// An upper bound on the parameter count, in floating point so that no setting overflows it: two
    /// 3x3 convolutions at twice the widest width per resnet, four attention projections per level.
    fn parameter_bound(&self) -> f64 {
        let widest = 2.0 * self.block_out_channels.iter().copied().max().unwrap_or(0).max(self.in_channels).max(self.out_channels) as f64;
        let resnets = ((2 * self.layers_per_block + 1) * self.block_out_channels.len() + 2) as f64;
        let time = self.time_embed_dim() as f64;
        let per_resnet = 2.0 * 9.0 * widest * widest + time * widest + 4.0 * widest * widest;
        resnets * per_resnet + time * (time + widest) + self.num_class_embeds.unwrap_or(0) as f64 * time
    }

    /// # Panics
    /// When [`UNet2DConfig::validate`] fails: call it first to report bad input.
    pub fn init(&self, device: &Device) -> UNet2DModel {
        if let Err(problem) = self.validate() {
            panic!("invalid UNet2DModel configuration: {problem}");
        }
        let widths = &self.block_out_channels;
        let levels = widths.len();
        let settings = BlockSettings {
            groups: self.norm_num_groups,
            eps: self.norm_eps,
            dropout: self.dropout,
            time_width: self.time_embed_dim(),
            time_activation: true,
        };
        let resnet = |channels: [usize; 2], scale: f64| Block::new(BlockStyle::Residual, channels, scale, &settings, device);
        let attention = |width: usize, groups: usize, scale: f64| {
            SpatialAttention::new(width, self.attention_head_dim.unwrap_or(width), groups, scale, &settings, device)
        };

        let mut down_blocks = Vec::with_capacity(levels);
        let mut channels = widths[0];
        for (level, (&width, kind)) in widths.iter().zip(&self.down_block_types).enumerate() {
            let resnets: Vec<_> = (0..self.layers_per_block).map(|i| resnet([if i == 0 { channels } else { width }, width], 1.0)).collect();
            let attentions = match kind {
                DownBlockType::AttnDownBlock2D => (0..self.layers_per_block).map(|_| attention(width, self.norm_num_groups, 1.0)).collect(),
                DownBlockType::DownBlock2D => Vec::new(),
            };
            let downsamplers =
                (level + 1 < levels).then(|| Downsample2D::new(width, self.downsample_padding, device)).into_iter().collect();
            down_blocks.push(DownBlock { resnets, attentions, downsamplers });
            channels = width;
        }

        let mid_block = self.mid_block.then(|| {
            let scale = self.mid_block_scale_factor;
            MidBlock {
                resnets: (0..2).map(|_| resnet([channels, channels], scale)).collect(),
                attentions: self
                    .add_attention
                    .then(|| attention(channels, self.attn_norm_num_groups.unwrap_or(self.norm_num_groups), scale))
                    .into_iter()
                    .collect(),
            }
        });

        // Each up level's resnets take, in turn, the skips of its mirror level (the resnets' outputs at
        // width `w`) and, last, the skip from the level below (the downsampled map, or conv_in's output).
        let reversed: Vec<usize> = widths.iter().rev().copied().collect();
        let mut up_blocks = Vec::with_capacity(levels);
        for (i, (&width, kind)) in reversed.iter().zip(&self.up_block_types).enumerate() {
            let below = reversed[(i + 1).min(levels - 1)];
            let layers = self.layers_per_block + 1;
            let resnets = (0..layers)
                .map(|j| {
                    let input = if j == 0 { channels } else { width };
                    let skip = if j == layers - 1 { below } else { width };
                    resnet([input + skip, width], 1.0)
                })
                .collect();
            let attentions = match kind {
                UpBlockType::AttnUpBlock2D => (0..layers).map(|_| attention(width, self.norm_num_groups, 1.0)).collect(),
                UpBlockType::UpBlock2D => Vec::new(),
            };
            let upsamplers = (i + 1 < levels).then(|| Upsample2D::new(width, device)).into_iter().collect();
            up_blocks.push(UpBlock { resnets, attentions, upsamplers });
            channels = width;
        }

        let time_width = self.time_embed_dim();
        UNet2DModel {
            conv_in: conv3x3([self.in_channels, widths[0]], 1, 1, device),
            time_embedding: TimestepEmbedding {
                linear_1: LinearConfig::new(widths[0], time_width).init(device),
                linear_2: LinearConfig::new(time_width, time_width).init(device),
            },
            class_embedding: self.num_class_embeds.map(|n| EmbeddingConfig::new(n, time_width).init(device)),
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out: settings.norm(self.norm_num_groups, widths[0], device),
            conv_out: conv3x3([widths[0], self.out_channels], 1, 1, device),
            time_proj: SinusoidalEmbedding {
                width: widths[0],
                flip_sin_to_cos: self.flip_sin_to_cos,
                freq_shift: self.freq_shift,
                arithmetic: Arithmetic::F32,
            },
            center_input_sample: self.center_input_sample,
        }
    }
}

/// diffusers' `TimestepEmbedding`: `linear_2(silu(linear_1(x)))`.
#[derive(Module, Debug)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

/// The network built from [`UNet2DConfig`]. Its parameter paths are diffusers' state-dict keys.
#[derive(Module, Debug)]
pub struct UNet2DModel {
    conv_in: Conv2d,
    time_embedding: TimestepEmbedding,
    class_embedding: Option<Embedding>,
    down_blocks: Vec<DownBlock>,
    mid_block: Option<MidBlock>,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    /// diffusers' `Timesteps`, in its f32 arithmetic.
    #[module(skip)]
    time_proj: SinusoidalEmbedding,
    #[module(skip)]
    center_input_sample: bool,
}

impl UNet2DModel {
    /// The classes of a class-embedded network, not counting the "no class" row (`None` when
    /// unconditional).
    pub fn num_classes(&self) -> Option<usize> {
        self.class_embedding.as_ref().map(known_classes)
    }

    /// # Shapes
    /// - `x_t`: `[B, in_channels, S, S]`
    /// - `timesteps`: `B` 0-based steps
    /// - `classes`: `B` labels for a class-embedded network, below `num_class_embeds`; `None` takes the
    ///   last embedding, which the project trains as "no class" (diffusers itself has no such row and
    ///   requires labels). Ignored when the network has no class embedding.
    /// - output: `[B, out_channels, S, S]`
    pub fn forward(&self, x_t: Tensor<4>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<4> {
        let device = x_t.device();
        let x_t = if self.center_input_sample { x_t.mul_scalar(2.0).sub_scalar(1.0) } else { x_t };
        let t_emb = self.time_proj.encode(timesteps, &device);
        let mut temb = self.time_embedding.linear_2.forward(silu(self.time_embedding.linear_1.forward(t_emb))); // [B, time]
        if let Some(embedding) = &self.class_embedding {
            temb = temb + embed_classes(embedding, classes, timesteps.len());
        }

        let mut x = conv2d(&self.conv_in, x_t);
        let mut skips = vec![x.clone()];
        for block in &self.down_blocks {
            x = block.forward(x, &temb, &mut skips);
        }
        if let Some(mid) = &self.mid_block {
            x = mid.forward(x, &temb);
        }
        for block in &self.up_blocks {
            x = block.forward(x, &temb, &mut skips);
        }
        conv2d(&self.conv_out, group_norm_silu(&self.conv_norm_out, x, None))
    }
}

/// The attention weights' names in checkpoints saved before diffusers 0.14 (the google/ddpm-* models),
/// renamed as diffusers renames them on load: (pattern, replacement) on the state-dict keys.
const OLD_ATTENTION_NAMES: [(&str, &str); 4] = [
    (r"^(.*attentions\.\d+)\.query\.(weight|bias)$", "$1.to_q.$2"),
    (r"^(.*attentions\.\d+)\.key\.(weight|bias)$", "$1.to_k.$2"),
    (r"^(.*attentions\.\d+)\.value\.(weight|bias)$", "$1.to_v.$2"),
    (r"^(.*attentions\.\d+)\.proj_attn\.(weight|bias)$", "$1.to_out.0.$2"),
];

impl UNet2DModel {
    /// Loads a diffusers `diffusion_pytorch_model.safetensors` (f32, f16 or bf16; current or pre-0.14
    /// attention names) into this network, refusing a file that does not fit its configuration.
    pub fn load_diffusers_weights(self, path: &std::path::Path) -> Result<Self, NetError> {
        crate::weights::load_safetensors(self, path, &OLD_ATTENTION_NAMES)
    }
}

impl Denoiser<4> for UNet2DModel {
    fn predict(&self, x_t: Tensor<4>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<4> {
        self.forward(x_t, timesteps, classes)
    }
}

#[cfg(test)]
mod tests;
