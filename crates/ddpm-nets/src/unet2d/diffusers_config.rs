//! `UNet2DConfig` to and from diffusers' `unet/config.json`: every field diffusers writes, read with
//! diffusers' defaults, and a clear refusal, naming the field and its value, of what this model lacks.

use serde_json::{Map, Value, json};

use super::{DownBlockType, UNet2DConfig, UpBlockType};
use crate::NetError;

/// The diffusers version whose `UNet2DModel` this model reproduces (written into exported configs).
pub const DIFFUSERS_VERSION: &str = "0.42.1";

/// Fields that must hold one value, because this model implements only that one.
const FIXED: [(&str, &str); 6] = [
    ("act_fn", "silu"),
    ("time_embedding_type", "positional"),
    ("resnet_time_scale_shift", "default"),
    ("downsample_type", "conv"),
    ("upsample_type", "conv"),
    ("_class_name", "UNet2DModel"),
];

/// Field `name` of a diffusers config holds `value`, which is not `expected`.
fn wrong_type(name: &str, expected: &str, value: &Value) -> NetError {
    NetError::config("unet2d", name, format!("{name} must be {expected}, got {value}"))
}

/// Reads one field of a diffusers config, or its default when absent or null.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn count(&self, name: &str, default: usize) -> Result<usize, NetError> {
        self.optional_count(name).map(|v| v.unwrap_or(default))
    }

    fn optional_count(&self, name: &str) -> Result<Option<usize>, NetError> {
        self.get(name).map(|v| v.as_u64().map(|n| n as usize).ok_or_else(|| wrong_type(name, "a whole number", v))).transpose()
    }

    fn real(&self, name: &str, default: f64) -> Result<f64, NetError> {
        self.get(name).map_or(Ok(default), |v| v.as_f64().ok_or_else(|| wrong_type(name, "a number", v)))
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, NetError> {
        self.get(name).map_or(Ok(default), |v| v.as_bool().ok_or_else(|| wrong_type(name, "true or false", v)))
    }

    fn list<T>(&self, name: &str, parse: impl Fn(&Value) -> Option<T>, expected: &str) -> Result<Option<Vec<T>>, NetError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let items = value.as_array().ok_or_else(|| wrong_type(name, "a list", value))?;
        let parsed = items.iter().map(|item| {
            parse(item).ok_or_else(|| {
                NetError::config("unet2d", name, format!("{name} holds {item}, which this UNet2DModel does not support ({expected})"))
            })
        });
        parsed.collect::<Result<Vec<T>, NetError>>().map(Some)
    }
}

fn down_block(value: &Value) -> Option<DownBlockType> {
    match value.as_str()? {
        "DownBlock2D" => Some(DownBlockType::DownBlock2D),
        "AttnDownBlock2D" => Some(DownBlockType::AttnDownBlock2D),
        _ => None,
    }
}

fn up_block(value: &Value) -> Option<UpBlockType> {
    match value.as_str()? {
        "UpBlock2D" => Some(UpBlockType::UpBlock2D),
        "AttnUpBlock2D" => Some(UpBlockType::AttnUpBlock2D),
        _ => None,
    }
}

impl UNet2DConfig {
    /// The model a diffusers `unet/config.json` describes, or the first field (and value) it cannot
    /// take. Absent fields take diffusers' defaults; fields diffusers ignores for this model (such as
    /// `num_train_timesteps`, used only by a learned time embedding) are ignored here too.
    pub fn from_diffusers(config: &Value) -> Result<Self, NetError> {
        let map = config.as_object().ok_or(NetError::config("unet2d", "config.json", "a diffusers config must be a JSON object"))?;
        let fields = Fields(map);
        for (name, supported) in FIXED {
            if let Some(value) = fields.get(name)
                && value.as_str() != Some(supported)
            {
                return Err(NetError::config(
                    "unet2d",
                    name,
                    format!("{name} is {value}, but this UNet2DModel supports only \"{supported}\""),
                ));
            }
        }
        if let Some(value) = fields.get("class_embed_type") {
            return Err(NetError::config(
                "unet2d",
                "class_embed_type",
                format!("class_embed_type is {value}, but this UNet2DModel supports only null (an embedding table of num_class_embeds)"),
            ));
        }
        let mid_block = match fields.get("mid_block_type").map(|v| v.as_str()) {
            None => map.get("mid_block_type").is_none(),
            Some(Some("UNetMidBlock2D")) => true,
            Some(_) => {
                return Err(NetError::config(
                    "unet2d",
                    "mid_block_type",
                    format!("mid_block_type is {}, but this UNet2DModel supports only \"UNetMidBlock2D\" or null", map["mid_block_type"]),
                ));
            }
        };
        let sample_size = match fields.get("sample_size") {
            Some(Value::Array(sides)) if sides.len() == 2 && sides[0] == sides[1] && sides[0].is_u64() => {
                sides[0].as_u64().map(|s| s as usize)
            }
            Some(value) => value.as_u64().map(|s| s as usize),
            None => return Err(NetError::config("unet2d", "sample_size", "sample_size is missing: the model's image size must be given")),
        }
        .ok_or_else(|| {
            NetError::config(
                "unet2d",
                "sample_size",
                format!("sample_size must be one whole number (square images), got {}", map["sample_size"]),
            )
        })?;
        let widths = fields
            .list("block_out_channels", |v| v.as_u64().map(|w| w as usize), "whole numbers")?
            .unwrap_or_else(|| vec![224, 448, 672, 896]);
        use DownBlockType::*;
        use UpBlockType::*;
        let down = fields
            .list("down_block_types", down_block, "DownBlock2D or AttnDownBlock2D")?
            .unwrap_or_else(|| vec![DownBlock2D, AttnDownBlock2D, AttnDownBlock2D, AttnDownBlock2D]);
        let up = fields
            .list("up_block_types", up_block, "UpBlock2D or AttnUpBlock2D")?
            .unwrap_or_else(|| vec![AttnUpBlock2D, AttnUpBlock2D, AttnUpBlock2D, UpBlock2D]);
        // `attention_head_dim: null` means one head; absent means diffusers' default of 8.
        let attention_head_dim = match map.get("attention_head_dim") {
            None => Some(8),
            Some(_) => fields.optional_count("attention_head_dim")?,
        };
        let config = Self::new(sample_size, widths, down, up)
            .with_in_channels(fields.count("in_channels", 3)?)
            .with_out_channels(fields.count("out_channels", 3)?)
            .with_center_input_sample(fields.flag("center_input_sample", false)?)
            .with_flip_sin_to_cos(fields.flag("flip_sin_to_cos", true)?)
            .with_freq_shift(fields.real("freq_shift", 0.0)?)
            .with_time_embedding_dim(fields.optional_count("time_embedding_dim")?)
            .with_layers_per_block(fields.count("layers_per_block", 2)?)
            .with_mid_block_scale_factor(fields.real("mid_block_scale_factor", 1.0)?)
            .with_downsample_padding(fields.count("downsample_padding", 1)?)
            .with_dropout(fields.real("dropout", 0.0)?)
            .with_attention_head_dim(attention_head_dim)
            .with_norm_num_groups(fields.count("norm_num_groups", 32)?)
            .with_attn_norm_num_groups(fields.optional_count("attn_norm_num_groups")?)
            .with_norm_eps(fields.real("norm_eps", 1e-5)?)
            .with_add_attention(fields.flag("add_attention", true)?)
            .with_mid_block(mid_block)
            .with_num_class_embeds(fields.optional_count("num_class_embeds")?);
        config.validate()?;
        Ok(config)
    }

    /// The `unet/config.json` diffusers writes for this model, every field present.
    pub fn to_diffusers(&self) -> Value {
        json!({
            "_class_name": "UNet2DModel",
            "_diffusers_version": DIFFUSERS_VERSION,
            "act_fn": "silu",
            "add_attention": self.add_attention,
            "attention_head_dim": self.attention_head_dim,
            "attn_norm_num_groups": self.attn_norm_num_groups,
            "block_out_channels": self.block_out_channels,
            "center_input_sample": self.center_input_sample,
            "class_embed_type": null,
            "down_block_types": self.down_block_types.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>(),
            "downsample_padding": self.downsample_padding,
            "downsample_type": "conv",
            "dropout": self.dropout,
            "flip_sin_to_cos": self.flip_sin_to_cos,
            "freq_shift": number(self.freq_shift),
            "in_channels": self.in_channels,
            "layers_per_block": self.layers_per_block,
            "mid_block_scale_factor": number(self.mid_block_scale_factor),
            "mid_block_type": if self.mid_block { json!("UNetMidBlock2D") } else { Value::Null },
            "norm_eps": self.norm_eps,
            "norm_num_groups": self.norm_num_groups,
            "num_class_embeds": self.num_class_embeds,
            "num_train_timesteps": null,
            "out_channels": self.out_channels,
            "resnet_time_scale_shift": "default",
            "sample_size": self.sample_size,
            "time_embedding_dim": self.time_embedding_dim,
            "time_embedding_type": "positional",
            "up_block_types": self.up_block_types.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>(),
            "upsample_type": "conv",
        })
    }
}

/// A whole number as an integer (diffusers writes `freq_shift: 0`, `mid_block_scale_factor: 1`).
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 { json!(value as i64) } else { json!(value) }
}
