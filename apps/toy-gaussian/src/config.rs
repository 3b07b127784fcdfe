//! The experiment's full configuration: presets, and flags applied on top of them.

use burn::config::Config;
use ddpm_core::BetaSchedule;
use ddpm_nets::{Activation, MlpConfig, TimeEncoding};
use ddpm_sample::VarianceType;
use ddpm_train::{LrSchedule, TrainConfig};

use crate::cli::{ActivationKind, Args, LrScheduleKind, Preset, ScheduleKind, TimeEncodingKind};

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
            // Chosen by measurement (figures in BENCHMARKS.md): a sinusoidal time embedding lets the
            // network tell nearby t apart, and a 3x higher peak rate decayed by a cosine settles the
            // weights, in 800 full-batch steps instead of 1000 so the run is no slower than the reference.
            Preset::Quality => {
                Self::new().with_model(MlpConfig::new().with_time_encoding(TimeEncoding::Sinusoidal { dim: 16 })).with_train(
                    TrainConfig::new()
                        .with_steps(800)
                        .with_learning_rate(3e-3)
                        .with_lr_schedule(LrSchedule::Cosine { warmup_steps: 0, min_lr: 3e-5 }),
                )
            }
        }
    }

    /// The preset with every flag the user gave applied on top.
    pub fn from_args(args: &Args) -> anyhow::Result<Self> {
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
        if let Some(fixed) = args.objective.fixed_variance() {
            c.variance = fixed;
        }
        set(&mut c.sample_seed, args.sample_seed);
        c.train = args.objective.apply(c.train);
        c.model.out_dim = Some(c.train.variance.output_channels(c.model.data_dim));
        c.model.validate().map_err(anyhow::Error::msg)?;
        Ok(c)
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
        BetaSchedule::Linear { start, end } | BetaSchedule::ScaledLinear { start, end } | BetaSchedule::Sigmoid { start, end } => {
            (start, end)
        }
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(flags: &[&str]) -> ToyConfig {
        ToyConfig::from_args(&Args::parse_from(std::iter::once("toy-gaussian").chain(flags.iter().copied()))).unwrap()
    }

    #[test]
    fn reference_preset_is_the_tutorial_recipe() {
        let c = parse(&[]);
        assert_eq!((c.data_mean, c.data_std, c.data_points), (3.0, 2.0, 1000));
        assert_eq!((c.timesteps, c.beta_schedule.clone()), (1000, BetaSchedule::Linear { start: 1e-4, end: 0.02 }));
        assert_eq!(
            (c.model.hidden.clone(), c.model.activation, c.model.time_encoding.clone()),
            (vec![128, 128], Activation::Relu, TimeEncoding::Normalized)
        );
        assert_eq!(
            (c.train.steps, c.train.batch_size, c.train.learning_rate, c.train.lr_schedule.clone()),
            (1000, None, 1e-3, LrSchedule::Constant)
        );
        assert_eq!((c.samples, c.variance), (1000, VarianceType::Beta));
    }

    #[test]
    fn flags_override_the_preset() {
        let c = parse(&[
            "--preset",
            "quality",
            "--time-dim",
            "8",
            "--steps",
            "5",
            "--schedule",
            "cosine",
            "--batch-size",
            "0",
            "--timesteps",
            "50",
        ]);
        assert_eq!(c.model.time_encoding, TimeEncoding::Sinusoidal { dim: 8 });
        assert_eq!((c.train.steps, c.train.batch_size, c.train.learning_rate), (5, None, 3e-3));
        assert_eq!(c.beta_schedule, BetaSchedule::cosine());
        assert_eq!(c.model.num_steps, 50, "the network normalises t by the schedule's T");
        let c = parse(&["--beta-end", "0.01", "--time-encoding", "sinusoidal", "--lr-schedule", "cosine", "--lr", "0.01"]);
        assert_eq!(c.beta_schedule, BetaSchedule::Linear { start: 1e-4, end: 0.01 });
        assert_eq!(c.model.time_encoding, TimeEncoding::Sinusoidal { dim: 32 });
        assert_eq!(c.train.lr_schedule, LrSchedule::Cosine { warmup_steps: 0, min_lr: 1e-4 });
    }
}
