//! diffusers' `scheduler/scheduler_config.json` (a `DDPMScheduler` or `DDIMScheduler`) read as what it
//! means here: the noise schedule a network was trained on, what it predicts, and the sampler its
//! pipeline runs by default; and written back for an export. A setting this toolkit does not implement
//! is refused, naming the field and its value.

use ddpm_core::{BetaSchedule, ModelVariance, Parameterization, Prediction};
use serde_json::{Map, Value, json};

use crate::{SampleError, SamplerConfig, SamplerKind, Spacing, VarianceType};

/// The steps `DDIMPipeline` takes by default.
pub const DDIM_PIPELINE_STEPS: usize = 50;

/// A diffusers scheduler config, as the toolkit uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusersScheduler {
    /// `_class_name`: `DDPMScheduler` or `DDIMScheduler`.
    pub class_name: String,
    /// T (`num_train_timesteps`).
    pub num_train_timesteps: usize,
    /// `trained_betas`, or `beta_schedule` with `beta_start` and `beta_end`.
    pub betas: BetaSchedule,
    /// `prediction_type`.
    pub prediction: Prediction,
    /// `variance_type` `learned_range` (the U-Net outputs twice its input's channels), or a fixed one.
    pub variance: ModelVariance,
    /// The pipeline's own sampling: DDPM over all T steps for a `DDPMScheduler` (`DDPMPipeline`), DDIM-50
    /// with eta 0 for a `DDIMScheduler`; `timestep_spacing`, `clip_sample` and `variance_type` included.
    pub sampler: SamplerConfig,
}

/// A field that must hold one value (or be absent), because this toolkit implements only that one: its
/// name, whether a value is that one, and how to say it.
type FixedField = (&'static str, fn(&Value) -> bool, &'static str);

const FIXED: [FixedField; 5] = [
    ("thresholding", |v| v.as_bool() == Some(false), "false"),
    ("rescale_betas_zero_snr", |v| v.as_bool() == Some(false), "false"),
    ("set_alpha_to_one", |v| v.as_bool() == Some(true), "true"),
    ("steps_offset", |v| v.as_u64() == Some(0), "0"),
    ("clip_sample_range", |v| v.as_f64() == Some(1.0), "1 (x_0 is clipped to [-1, 1])"),
];

/// The value of field `name` read by `read`, `default` when absent or null, or an error saying it must be `expected`.
fn field<'a, T>(
    map: &'a Map<String, Value>,
    name: &'static str,
    default: T,
    expected: &'static str,
    read: impl Fn(&'a Value) -> Option<T>,
) -> Result<T, SampleError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => read(value).ok_or_else(|| SampleError::FieldType { field: name, expected, value: value.to_string() }),
    }
}

fn text<'a>(map: &'a Map<String, Value>, name: &'static str, default: &'a str) -> Result<&'a str, SampleError> {
    field(map, name, default, "a string", Value::as_str)
}

fn real(map: &Map<String, Value>, name: &'static str, default: f64) -> Result<f64, SampleError> {
    field(map, name, default, "a number", |v| v.as_f64().filter(|v| v.is_finite()))
}

fn unsupported(field: &'static str, value: &str, supported: &str) -> SampleError {
    SampleError::Unsupported { field, value: format!("\"{value}\""), supported: format!("it supports {supported}") }
}

impl DiffusersScheduler {
    /// Reads a `scheduler_config.json`; absent fields take the class's defaults.
    pub fn from_diffusers(config: &Value) -> Result<Self, SampleError> {
        let map = config.as_object().ok_or(SampleError::NotAnObject)?;
        let class_name = text(map, "_class_name", "")?;
        let kind = match class_name {
            "DDPMScheduler" => SamplerKind::Ddpm,
            "DDIMScheduler" => SamplerKind::Ddim,
            other => return Err(unsupported("_class_name", other, "DDPMScheduler and DDIMScheduler")),
        };
        for (name, supported, wanted) in FIXED {
            if let Some(value) = map.get(name).filter(|v| !v.is_null() && !supported(v)) {
                return Err(SampleError::Unsupported { field: name, value: value.to_string(), supported: format!("only {wanted}") });
            }
        }
        let num_train_timesteps =
            field(map, "num_train_timesteps", 1000, "a positive whole number", |v| v.as_u64().filter(|&t| t > 0))? as usize;
        let betas = match map.get("trained_betas").filter(|v| !v.is_null()) {
            Some(_) => {
                let numbers = |v: &Value| v.as_array()?.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>();
                let betas = field(map, "trained_betas", Vec::new(), "a list of numbers", numbers)?;
                if betas.len() != num_train_timesteps {
                    return Err(SampleError::BetaCount { listed: betas.len(), num_train_timesteps });
                }
                BetaSchedule::Custom(betas)
            }
            None => {
                let (start, end) = (real(map, "beta_start", 1e-4)?, real(map, "beta_end", 0.02)?);
                match text(map, "beta_schedule", "linear")? {
                    "linear" => BetaSchedule::Linear { start, end },
                    "scaled_linear" => BetaSchedule::ScaledLinear { start, end },
                    "squaredcos_cap_v2" => BetaSchedule::cosine(),
                    "sigmoid" => BetaSchedule::Sigmoid { start, end },
                    other => return Err(unsupported("beta_schedule", other, "linear, scaled_linear, squaredcos_cap_v2 and sigmoid")),
                }
            }
        };
        let prediction = match text(map, "prediction_type", "epsilon")? {
            "epsilon" => Prediction::Epsilon,
            "sample" => Prediction::Sample,
            "v_prediction" => Prediction::V,
            other => return Err(unsupported("prediction_type", other, "epsilon, sample and v_prediction")),
        };
        let spacing = match text(map, "timestep_spacing", "leading")? {
            "leading" => Spacing::Leading,
            "trailing" => Spacing::Trailing,
            "linspace" => Spacing::Linspace,
            other => return Err(unsupported("timestep_spacing", other, "leading, trailing and linspace")),
        };
        // Only DDPMScheduler has a variance type; DDIM with eta 1 uses the posterior variance.
        let (fixed_variance, variance) = match text(map, "variance_type", "fixed_small")? {
            "fixed_small" => (VarianceType::Posterior, ModelVariance::Fixed),
            "fixed_large" => (VarianceType::Beta, ModelVariance::Fixed),
            "learned_range" => (VarianceType::Posterior, ModelVariance::LearnedRange),
            other => return Err(unsupported("variance_type", other, "fixed_small, fixed_large and learned_range")),
        };
        let clip_x0 = field(map, "clip_sample", true, "true or false", Value::as_bool)?;
        let sampler = SamplerConfig::new()
            .with_kind(kind)
            .with_steps(DDIM_PIPELINE_STEPS.min(num_train_timesteps))
            .with_spacing(spacing)
            .with_clip_x0(clip_x0)
            .with_variance(fixed_variance);
        Ok(Self { class_name: class_name.to_string(), num_train_timesteps, betas, prediction, variance, sampler })
    }

    /// The `scheduler_config.json` of a `DDPMScheduler` that trains and samples as the project's run
    /// does: every field diffusers writes for that class, or a refusal for a schedule diffusers lacks.
    pub fn to_diffusers(
        num_train_timesteps: usize,
        betas: &BetaSchedule,
        parameterization: Parameterization,
        sampler: &SamplerConfig,
        version: &str,
    ) -> Result<Value, SampleError> {
        let Parameterization { prediction, variance } = parameterization;
        let (schedule, start, end, trained) = match betas {
            BetaSchedule::Linear { start, end } => ("linear", *start, *end, None),
            BetaSchedule::ScaledLinear { start, end } => ("scaled_linear", *start, *end, None),
            BetaSchedule::Sigmoid { start, end } => ("sigmoid", *start, *end, None),
            cosine if *cosine == BetaSchedule::cosine() => ("squaredcos_cap_v2", 1e-4, 0.02, None),
            other => ("linear", 1e-4, 0.02, Some(other.betas(num_train_timesteps)?)),
        };
        Ok(json!({
            "_class_name": "DDPMScheduler",
            "_diffusers_version": version,
            "beta_end": end,
            "beta_schedule": schedule,
            "beta_start": start,
            "clip_sample": sampler.clip_x0,
            "clip_sample_range": 1.0,
            "dynamic_thresholding_ratio": 0.995,
            "num_train_timesteps": num_train_timesteps,
            "prediction_type": match prediction {
                Prediction::Epsilon => "epsilon",
                Prediction::Sample => "sample",
                Prediction::V => "v_prediction",
            },
            "rescale_betas_zero_snr": false,
            "sample_max_value": 1.0,
            "steps_offset": 0,
            "thresholding": false,
            "timestep_spacing": match sampler.spacing {
                Spacing::Leading => "leading",
                Spacing::Trailing => "trailing",
                Spacing::Linspace => "linspace",
            },
            "trained_betas": trained,
            "variance_type": match (variance, sampler.variance) {
                (ModelVariance::LearnedRange, _) => "learned_range",
                (ModelVariance::Fixed, VarianceType::Posterior) => "fixed_small",
                (ModelVariance::Fixed, VarianceType::Beta) => "fixed_large",
            },
        }))
    }
}
