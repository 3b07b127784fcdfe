//! Picking a sampler by configuration: what a preset stores and a `sample` command line overrides.

use burn::config::Config;
use burn::tensor::Tensor;
use ddpm_schedule::{NoiseSchedule, Prediction};

use crate::{DdimSampler, DdpmSampler, Estimator, ReverseProcess, Spacing, VarianceType};

/// The samplers [`SamplerConfig`] can build.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SamplerKind {
    /// Ancestral sampling over all T steps.
    Ddpm,
    /// DDIM over `steps` timesteps.
    Ddim,
}

/// A sampler and its settings.
#[derive(Config, Debug, PartialEq)]
pub struct SamplerConfig {
    #[config(default = "SamplerKind::Ddim")]
    pub kind: SamplerKind,
    /// DDIM steps; DDPM always takes all T.
    #[config(default = 50)]
    pub steps: usize,
    /// DDIM noise: 0 is deterministic, 1 matches DDPM with the posterior variance.
    #[config(default = 0.0)]
    pub eta: f64,
    #[config(default = "Spacing::Leading")]
    pub spacing: Spacing,
    /// Clamp the estimate of x_0 to [-1, 1] at every step, for DDPM and DDIM alike (diffusers' `clip_sample`).
    #[config(default = false)]
    pub clip_x0: bool,
    /// DDPM's sigma_t^2.
    #[config(default = "VarianceType::Beta")]
    pub variance: VarianceType,
}

impl SamplerConfig {
    /// Builds the sampler for a network trained on `schedule` to predict `prediction`, or explains why
    /// these settings cannot run on it.
    pub fn init<'a>(&self, schedule: &'a NoiseSchedule, prediction: Prediction) -> Result<Sampler<'a>, String> {
        let estimator = Estimator::new(schedule, prediction).with_clip_x0(self.clip_x0);
        match self.kind {
            SamplerKind::Ddpm => Ok(Sampler::Ddpm(DdpmSampler::with_estimator(estimator, self.variance))),
            SamplerKind::Ddim => {
                let t = schedule.num_steps();
                if !(1..=t).contains(&self.steps) {
                    return Err(format!("DDIM steps must be between 1 and T = {t}, got {}", self.steps));
                }
                if !(self.eta >= 0.0 && self.eta.is_finite()) {
                    return Err(format!("eta must be a non-negative number, got {}", self.eta));
                }
                Ok(Sampler::Ddim(DdimSampler::with_estimator(estimator, self.steps, self.spacing).with_eta(self.eta)))
            }
        }
    }

    /// How many steps (model evaluations) the chain takes on a schedule of `num_train_steps` steps.
    pub fn chain_length(&self, num_train_steps: usize) -> usize {
        match self.kind {
            SamplerKind::Ddpm => num_train_steps,
            SamplerKind::Ddim => self.steps,
        }
    }

    /// A short human description, e.g. "DDIM-50 (eta 0, Leading spacing)" or "DDPM-1000 (x_0 clipped)".
    pub fn describe(&self, num_train_steps: usize) -> String {
        match self.kind {
            SamplerKind::Ddpm => format!("DDPM-{num_train_steps}{}", if self.clip_x0 { " (x_0 clipped)" } else { "" }),
            SamplerKind::Ddim => format!(
                "DDIM-{} (eta {}, {:?} spacing{})",
                self.steps,
                self.eta,
                self.spacing,
                if self.clip_x0 { ", x_0 clipped" } else { "" }
            ),
        }
    }
}

/// Either sampler, behind one [`ReverseProcess`].
#[derive(Debug, Clone)]
pub enum Sampler<'a> {
    Ddpm(DdpmSampler<'a>),
    Ddim(DdimSampler<'a>),
}

impl Sampler<'_> {
    /// Runs the chain on `threads` slices of the batch at once (see [`ReverseProcess::threads`]).
    pub fn with_threads(self, threads: usize) -> Self {
        match self {
            Self::Ddpm(s) => Self::Ddpm(s.with_threads(threads)),
            Self::Ddim(s) => Self::Ddim(s.with_threads(threads)),
        }
    }
}

impl ReverseProcess for Sampler<'_> {
    fn timesteps(&self) -> &[usize] {
        match self {
            Self::Ddpm(s) => s.timesteps(),
            Self::Ddim(s) => s.timesteps(),
        }
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Ddpm(s) => s.step_mean_at(position, x_t, output),
            Self::Ddim(s) => s.step_mean_at(position, x_t, output),
        }
    }

    fn noise_std_at(&self, position: usize) -> f64 {
        match self {
            Self::Ddpm(s) => s.noise_std_at(position),
            Self::Ddim(s) => s.noise_std_at(position),
        }
    }

    fn threads(&self) -> usize {
        match self {
            Self::Ddpm(s) => s.threads(),
            Self::Ddim(s) => s.threads(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;

    #[test]
    fn builds_what_it_says_and_refuses_impossible_steps() {
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100).unwrap();
        let ddim = SamplerConfig::new().with_steps(10).init(&schedule, Prediction::Epsilon).unwrap();
        assert_eq!(ddim.timesteps(), DdimSampler::new(&schedule, 10, Spacing::Leading).timesteps());
        let ddpm = SamplerConfig::new().with_kind(SamplerKind::Ddpm).init(&schedule, Prediction::Epsilon).unwrap();
        assert_eq!(ddpm.timesteps().len(), 100);
        assert!((ddpm.noise_std_at(0) - schedule.betas()[99].sqrt()).abs() < 1e-12);
        let error = SamplerConfig::new().with_steps(101).init(&schedule, Prediction::Epsilon).unwrap_err();
        assert!(error.contains("between 1 and T = 100"), "{error}");
        assert!(SamplerConfig::new().with_eta(-1.0).init(&schedule, Prediction::Epsilon).is_err());
    }
}
