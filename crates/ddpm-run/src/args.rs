//! Command-line flags that mean the same in every app: the training objective, the common training
//! controls and the sampler. Apps flatten these into their own subcommands.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, ValueEnum};
use ddpm_core::{ModelVariance, Prediction};
use ddpm_sample::{SamplerConfig, SamplerKind, Spacing, VarianceType};
use ddpm_train::{EmaConfig, LossWeighting, LrSchedule, TrainConfig};

use crate::numbers::{MAX_STEPS, count, positive, real};
use crate::{RunDescription, Weights};

/// `--loss-weighting`: how the timesteps' losses are weighted.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightingKind {
    /// Every timestep counts the same (the DDPM paper's simplified objective).
    Uniform,
    /// Min-SNR-gamma (Hang et al. 2023), with --min-snr-gamma.
    MinSnr,
    /// The eps loss whatever the target: x_0's error weighted by SNR_t, v's by SNR_t / (SNR_t + 1).
    EpsEquivalent,
}

/// What the network learns: `--prediction`, `--variance`, `--loss-weighting`, `--min-snr-gamma`.
#[derive(Args, Debug, Clone)]
pub struct ObjectiveArgs {
    /// What the network learns to output: the noise (epsilon), the clean image x_0 (sample), or the
    /// velocity v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0 (Salimans & Ho 2022). Samplers read any of them.
    #[arg(long, value_enum, default_value_t = Prediction::Epsilon)]
    pub prediction: Prediction,
    /// The variance of the reverse step: fixed at beta_t or at the posterior's beta-tilde_t (what DDPM
    /// sampling adds unless `sample` says otherwise), or learned-range (improved DDPM: the network outputs
    /// twice the channels, interpolates ln Sigma between the two, and trains on L_simple + 0.001 L_vlb;
    /// DDPM sampling and `eval --bpd` use it, DDIM and the DPM-Solvers ignore it). [default: the app's
    /// fixed one]
    #[arg(long, value_enum)]
    pub variance: Option<VarianceChoice>,
    /// How the timesteps' losses are weighted. [default: eps-equivalent for --prediction sample (a
    /// uniform x_0 loss fits the toy's N(3, 2^2) at KS 0.33, this at 0.055, eps at 0.053), uniform for
    /// epsilon and v]
    #[arg(long, value_enum)]
    pub loss_weighting: Option<WeightingKind>,
    /// gamma of --loss-weighting min-snr: the SNR above which timesteps stop gaining weight.
    #[arg(long, allow_negative_numbers = true, default_value_t = 5.0, value_parser = positive(1e6))]
    pub min_snr_gamma: f64,
}

impl ObjectiveArgs {
    /// The loss weighting these flags name, or the target's default ([`LossWeighting::default_for`]).
    pub fn loss_weighting(&self) -> LossWeighting {
        match self.loss_weighting {
            None => LossWeighting::default_for(self.prediction),
            Some(WeightingKind::Uniform) => LossWeighting::Uniform,
            Some(WeightingKind::MinSnr) => LossWeighting::MinSnr { gamma: self.min_snr_gamma },
            Some(WeightingKind::EpsEquivalent) => LossWeighting::EpsEquivalent,
        }
    }

    /// `config` with this objective.
    pub fn apply(&self, config: TrainConfig) -> TrainConfig {
        config.with_prediction(self.prediction).with_variance(self.model_variance()).with_loss_weighting(self.loss_weighting())
    }

    /// Whether the network learns its variance.
    pub fn model_variance(&self) -> ModelVariance {
        match self.variance {
            Some(VarianceChoice::LearnedRange) => ModelVariance::LearnedRange,
            None | Some(VarianceChoice::Beta | VarianceChoice::Posterior) => ModelVariance::Fixed,
        }
    }

    /// The fixed variance `--variance` names, if it names one.
    pub fn fixed_variance(&self) -> Option<VarianceType> {
        match self.variance? {
            VarianceChoice::Beta => Some(VarianceType::Beta),
            VarianceChoice::Posterior => Some(VarianceType::Posterior),
            VarianceChoice::LearnedRange => None,
        }
    }

    /// A new run with this objective's network output (twice the channels when it learns its variance)
    /// and, when `--variance` names a fixed one, that variance in its DDPM sampler.
    pub fn apply_to_run<E>(&self, run: RunDescription<E>) -> RunDescription<E> {
        let mut run = run.with_variance(self.model_variance());
        if let Some(fixed) = self.fixed_variance() {
            run.sampler.variance = fixed;
        }
        run
    }
}

/// `--variance`: the variance of the reverse step p(x_{t-1} | x_t).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarianceChoice {
    /// Fixed, sigma_t^2 = beta_t (diffusers' fixed_large).
    Beta,
    /// Fixed, sigma_t^2 = beta-tilde_t, the true posterior's (fixed_small).
    Posterior,
    /// Learned by the network between the two (improved DDPM; diffusers' learned_range).
    LearnedRange,
}

/// The optimiser and its plan: AdamW with a warm-up and cosine decay, clipping, and the EMA sampled from.
/// The defaults are mnist-train's; an app changes one with `mut_arg`.
#[derive(Args, Debug, Clone)]
pub struct OptimizerArgs {
    /// Peak learning rate (AdamW).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1e-3, value_parser = positive(1.0))]
    pub lr: f64,
    /// Linear warm-up steps before the cosine decay.
    #[arg(long, default_value_t = 100, value_parser = count(0..=MAX_STEPS))]
    pub warmup: usize,
    /// Learning rate at the last step.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1e-5, value_parser = real(0.0..=1.0))]
    pub min_lr: f64,
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0, value_parser = real(0.0..=1.0))]
    pub weight_decay: f64,
    /// Clip the gradient's global norm to this; 0 disables clipping.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0, value_parser = real(0.0..=1e6))]
    pub clip: f64,
    /// EMA decay of the weights sampled from; 0 disables the EMA.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.999, value_parser = real(0.0..1.0))]
    pub ema_decay: f64,
}

impl OptimizerArgs {
    /// `config` with this optimiser, plan and EMA.
    pub fn apply(&self, config: TrainConfig) -> TrainConfig {
        config
            .with_learning_rate(self.lr)
            .with_lr_schedule(LrSchedule::Cosine { warmup_steps: self.warmup, min_lr: self.min_lr })
            .with_weight_decay(self.weight_decay)
            .with_grad_clip_norm((self.clip > 0.0).then_some(self.clip))
            .with_ema((self.ema_decay > 0.0).then(|| EmaConfig::new().with_decay(self.ema_decay)))
    }
}

/// The controls every image app's `train` has.
#[derive(Args, Debug, Clone)]
pub struct TrainRunArgs {
    /// Continue the run in --out from its checkpoint with its own settings: only --steps, --minutes, how
    /// often it checkpoints, logs and draws samples may change; other flags may be repeated with the
    /// run's own values (the same command with --resume added) and are refused when they differ.
    #[arg(long)]
    pub resume: bool,
    /// Optimiser steps in all; the learning-rate plan is laid over them. [default: with --minutes, as
    /// many as fit in the time; else the app's or the preset's; with --resume, the checkpoint's]
    #[arg(long, value_parser = count(1..=MAX_STEPS))]
    pub steps: Option<usize>,
    /// Train for this many minutes, then checkpoint and stop: without --steps, as many steps as fit
    /// (the learning-rate plan laid over the pace measured as the run goes); with --steps, at most those.
    #[arg(long, allow_negative_numbers = true, value_parser = positive(1e7))]
    pub minutes: Option<f64>,
    /// Seeds the initial weights, the training noise, the timesteps and the minibatch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a checkpoint every this many steps (and at the end, on --minutes and on Ctrl-C).
    /// [default: 250 for mnist-train, 500 for single-image: a few minutes of CPU training]
    #[arg(long, value_parser = count(1..=MAX_STEPS))]
    pub checkpoint_every: Option<usize>,
    /// Read the loss back (one sync) every this many steps.
    #[arg(long, default_value_t = 25, value_parser = count(1..=MAX_STEPS))]
    pub log_every: usize,
    /// Print the network's layers and parameter count, then exit.
    #[arg(long)]
    pub print_model: bool,
}

impl TrainRunArgs {
    /// The steps a new run plans: --steps; else, with --minutes, as many as fit in the time (`fit`
    /// lays the plan over the measured pace, [`MAX_STEPS`] standing for "unbounded" until it has);
    /// else `default`, the app's or the preset's.
    pub fn planned_steps(&self, default: usize) -> usize {
        match (self.steps, self.minutes) {
            (Some(steps), _) => steps,
            (None, Some(_)) => MAX_STEPS as usize,
            (None, None) => default,
        }
    }

    /// `steps` (from [`TrainRunArgs::planned_steps`]) in words, for the line a new run starts with.
    pub fn describe_steps(&self, steps: usize) -> String {
        match self.minutes {
            Some(minutes) if self.steps.is_none() => format!("as many steps as fit in {minutes} minutes"),
            _ => format!("{steps} steps"),
        }
    }
}

/// The sampler flags of every `sample` command, each overriding the run's own sampler.
#[derive(Args, Debug, Clone)]
pub struct SamplerArgs {
    /// Which sampler: ancestral DDPM over all T steps, DDIM, or a DPM-Solver++ multistep solver. [default: the run's]
    #[arg(long, value_enum)]
    pub sampler: Option<SamplerKind>,
    /// Model evaluations of DDIM and the solvers [default: the run's]; of DDPM, which takes all T
    /// without it (fewer are respaced: each step the posterior between the two levels it joins).
    #[arg(long, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub steps: Option<usize>,
    /// DDIM noise: 0 is deterministic, 1 matches DDPM. [default: the run's]
    #[arg(long, allow_negative_numbers = true, value_parser = real(0.0..=1.0))]
    pub eta: Option<f64>,
    /// How the samplers pick their timesteps when they take fewer than T. [default: the run's]
    #[arg(long, value_enum)]
    pub spacing: Option<Spacing>,
    /// Clamp the estimate of x_0 to [-1, 1] at every step, for every sampler (true or false). [default: the run's]
    #[arg(long)]
    pub clip_x0: Option<bool>,
    /// Seeds the sampling noise; each image draws its own.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which weights to sample from.
    #[arg(long, value_enum, default_value_t = Weights::Ema)]
    pub weights: Weights,
    /// Start from this x_T instead of fresh noise: a .npy of float32 [N, C, H, W] matching the model; N
    /// sets the number of samples. With DDIM (eta 0), diffusers' pipeline given the same x_T, steps,
    /// spacing and clipping draws the same images.
    #[arg(long, value_name = "X.npy")]
    pub init_noise: Option<PathBuf>,
}

impl SamplerArgs {
    /// The `--init-noise` x_T, `[N, C, H, W]`, on `device`.
    pub fn read_init_noise(&self, device: &Device) -> anyhow::Result<Option<Tensor<4>>> {
        let Some(path) = &self.init_noise else { return Ok(None) };
        let (values, shape) = ddpm_data::read_npy_f32(path).with_context(|| format!("--init-noise {}", path.display()))?;
        let shape: [usize; 4] = shape.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("--init-noise {} holds an array of shape {shape:?}; it must be [N, C, H, W] float32", path.display())
        })?;
        anyhow::ensure!(shape[0] > 0, "--init-noise {} holds no samples (shape {shape:?})", path.display());
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            anyhow::bail!("--init-noise {} holds {bad}; the noise must be finite", path.display());
        }
        Ok(Some(Tensor::from_data(TensorData::new(values, shape), device)))
    }

    /// The run's sampler with whatever these flags change.
    pub fn apply(&self, run_sampler: &SamplerConfig) -> SamplerConfig {
        let mut config = run_sampler.clone();
        if let Some(kind) = self.sampler {
            config.kind = kind;
        }
        match (self.steps, config.kind) {
            (Some(steps), SamplerKind::Ddpm) => config.ddpm_steps = Some(steps),
            (Some(steps), _) => config.steps = steps,
            (None, _) => {}
        }
        if let Some(eta) = self.eta {
            config.eta = eta;
        }
        if let Some(spacing) = self.spacing {
            config.spacing = spacing;
        }
        if let Some(clip) = self.clip_x0 {
            config.clip_x0 = clip;
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        objective: ObjectiveArgs,
        #[command(flatten)]
        sampler: SamplerArgs,
    }

    fn parse(flags: &[&str]) -> Flags {
        Flags::parse_from(std::iter::once("app").chain(flags.iter().copied()))
    }

    #[test]
    fn sampler_flags_change_only_what_they_name() {
        let run = SamplerConfig::new().with_steps(100).with_clip_x0(true);
        assert_eq!(parse(&[]).sampler.apply(&run), run, "no flag keeps the run's sampler");
        let changed = parse(&["--sampler", "ddpm", "--clip-x0", "false", "--eta", "0.5"]).sampler.apply(&run);
        assert_eq!(changed, run.clone().with_kind(SamplerKind::Ddpm).with_clip_x0(false).with_eta(0.5));
    }

    #[test]
    fn the_objective_flags_set_the_training_target_and_weighting() {
        let config =
            parse(&["--prediction", "v", "--loss-weighting", "min-snr", "--min-snr-gamma", "2"]).objective.apply(TrainConfig::new());
        assert_eq!((config.prediction, config.loss_weighting), (Prediction::V, LossWeighting::MinSnr { gamma: 2.0 }));
        let default = |prediction| parse(&["--prediction", prediction]).objective.apply(TrainConfig::new()).loss_weighting;
        assert_eq!(default("sample"), LossWeighting::EpsEquivalent);
        assert_eq!([default("epsilon"), default("v")], [LossWeighting::Uniform; 2]);
        let uniform = parse(&["--prediction", "sample", "--loss-weighting", "uniform"]).objective.apply(TrainConfig::new());
        assert_eq!(uniform.loss_weighting, LossWeighting::Uniform, "the flag overrides the default");
        let err = Flags::try_parse_from(["app", "--loss-weighting", "min-snr", "--min-snr-gamma", "nan"]).err().unwrap();
        assert!(err.to_string().contains("--min-snr-gamma") && err.to_string().contains("NaN is not a number"), "{err}");
    }
}
