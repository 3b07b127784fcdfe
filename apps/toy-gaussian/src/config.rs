//! The experiment's full configuration: presets, and flags applied on top of them.

use burn::config::Config;
use ddpm_nets::{Activation, MlpConfig, TimeEncoding};
use ddpm_sample::VarianceType;
use ddpm_schedule::BetaSchedule;
use ddpm_train::{LrSchedule, TrainConfig};

use crate::cli::{ActivationKind, Args, LrScheduleKind, Preset, ScheduleKind, TimeEncodingKind, VarianceKind};

/// Everything that defines a run; written to `config.json` beside the results.
#[derive(Config, Debug)]
pub struct ToyConfig {
    #[config(default = 3.0)]
    pub data_mean: f64,
    #[config(default = 2.0)]
    pub data_std: f64,
    #[config(default = 1000)]
    pub data_points: usize,
    #[config(default = 0)]
    pub data_seed: u64,
    #[config(default = 1000)]
    pub timesteps: usize,
    #[config(default = "BetaSchedule::ddpm_linear()")]
    pub beta_schedule: BetaSchedule,
    #[config(default = "MlpConfig::new()")]
    pub model: MlpConfig,
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    #[config(default = 1000)]
    pub samples: usize,
    #[config(default = "VarianceType::Beta")]
    pub variance: VarianceType,
    #[config(default = 1)]
    pub sample_seed: u64,
}

impl ToyConfig {
    /// The preset's settings. `reference` is the tutorial recipe (all defaults above).
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Reference => Self::new(),
            // Chosen by measurement (see BENCHMARKS.md): a sinusoidal time embedding lets the network
            // tell nearby t apart, and a higher peak rate with cosine decay settles the weights in the
            // same 1000 full-batch steps.
            Preset::Quality => Self::new()
                .with_model(MlpConfig::new().with_time_encoding(TimeEncoding::Sinusoidal { dim: 32 }))
                .with_train(
                    TrainConfig::new()
                        .with_learning_rate(3e-3)
                        .with_lr_schedule(LrSchedule::Cosine { warmup_steps: 0, min_lr: 3e-5 }),
                ),
        }
    }

    /// The preset with every flag the user gave applied on top.
    pub fn from_args(args: &Args) -> Self {
        let mut c = Self::preset(args.preset);
        set(&mut c.data_mean, args.data_mean);
        set(&mut c.data_std, args.data_std);
        set(&mut c.data_points, args.data_points);
        set(&mut c.data_seed, args.data_seed);
        set(&mut c.timesteps, args.timesteps);
        c.beta_schedule = schedule_from_args(&c.beta_schedule, args);
        c.model.num_steps = c.timesteps;
        set(&mut c.model.hidden, args.hidden.clone());
        if let Some(kind) = args.activation {
            c.model.activation = match kind {
                ActivationKind::Relu => Activation::Relu,
                ActivationKind::Silu => Activation::Silu,
                ActivationKind::Gelu => Activation::Gelu,
                ActivationKind::Tanh => Activation::Tanh,
            };
        }
        let preset_dim = match c.model.time_encoding {
            TimeEncoding::Sinusoidal { dim } => Some(dim),
            TimeEncoding::Normalized => None,
        };
        let sinusoidal = match args.time_encoding {
            Some(kind) => kind == TimeEncodingKind::Sinusoidal,
            None => preset_dim.is_some(),
        };
        c.model.time_encoding = if sinusoidal {
            TimeEncoding::Sinusoidal { dim: args.time_dim.or(preset_dim).unwrap_or(32) }
        } else {
            TimeEncoding::Normalized
        };
        set(&mut c.train.steps, args.steps);
        if let Some(batch) = args.batch_size {
            c.train.batch_size = (batch > 0).then_some(batch);
        }
        set(&mut c.train.learning_rate, args.lr);
        if let Some(kind) = args.lr_schedule {
            c.train.lr_schedule = match kind {
                LrScheduleKind::Constant => LrSchedule::Constant,
                LrScheduleKind::Cosine => LrSchedule::Cosine { warmup_steps: 0, min_lr: c.train.learning_rate / 100.0 },
            };
        }
        set(&mut c.train.seed, args.seed);
        set(&mut c.samples, args.samples);
        if let Some(kind) = args.variance {
            c.variance = match kind {
                VarianceKind::Beta => VarianceType::Beta,
                VarianceKind::Posterior => VarianceType::Posterior,
            };
        }
        set(&mut c.sample_seed, args.sample_seed);
        c
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The preset's schedule, replaced by `--schedule` and with `--beta-start`/`--beta-end` applied.
fn schedule_from_args(current: &BetaSchedule, args: &Args) -> BetaSchedule {
    let (start, end) = match *current {
        BetaSchedule::Linear { start, end } | BetaSchedule::ScaledLinear { start, end } | BetaSchedule::Sigmoid { start, end } => (start, end),
        _ => (1e-4, 0.02),
    };
    let (start, end) = (args.beta_start.unwrap_or(start), args.beta_end.unwrap_or(end));
    match args.schedule {
        None => match current {
            BetaSchedule::Linear { .. } => BetaSchedule::Linear { start, end },
            BetaSchedule::ScaledLinear { .. } => BetaSchedule::ScaledLinear { start, end },
            BetaSchedule::Sigmoid { .. } => BetaSchedule::Sigmoid { start, end },
            other => other.clone(),
        },
        Some(ScheduleKind::Linear) => BetaSchedule::Linear { start, end },
        Some(ScheduleKind::ScaledLinear) => BetaSchedule::ScaledLinear { start, end },
        Some(ScheduleKind::Sigmoid) => BetaSchedule::Sigmoid { start, end },
        Some(ScheduleKind::Cosine) => BetaSchedule::cosine(),
    }
}
