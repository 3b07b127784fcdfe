//! Picking a sampler by configuration: what a preset stores and a `sample` command line overrides.

use burn::config::Config;
use burn::tensor::Tensor;
use ddpm_core::{NoiseSchedule, Parameterization};

use crate::{DdimSampler, DdpmSampler, DpmSolverPlusPlus, Estimator, SampleError, Sampler, Spacing, StepMemory, VarianceType};

/// The samplers [`SamplerConfig`] can build; on a command line `ddpm`, `ddim`, `dpm++2m` and `dpm++3m`.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    /// Ancestral sampling over all T steps, or `ddpm_steps` of them.
    Ddpm,
    /// DDIM over `steps` timesteps.
    Ddim,
    /// DPM-Solver++(2M) over `steps` timesteps: a second-order multistep ODE solver on x_0 estimates.
    DpmSolver2m,
    /// DPM-Solver++(3M): the same, extrapolating from three estimates.
    DpmSolver3m,
}

impl SamplerKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [Self; 4] = [Self::Ddpm, Self::Ddim, Self::DpmSolver2m, Self::DpmSolver3m];

    /// The name a command line gives it (the community's, as in k-diffusion's `dpm++2m`).
    pub fn cli_name(self) -> &'static str {
        match self {
            Self::Ddpm => "ddpm",
            Self::Ddim => "ddim",
            Self::DpmSolver2m => "dpm++2m",
            Self::DpmSolver3m => "dpm++3m",
        }
    }

    /// The solver order of the DPM-Solver++ kinds.
    fn dpm_solver_order(self) -> Option<usize> {
        match self {
            Self::DpmSolver2m => Some(2),
            Self::DpmSolver3m => Some(3),
            Self::Ddpm | Self::Ddim => None,
        }
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for SamplerKind {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Self::Ddpm => "ancestral sampling over all T steps (or --steps of them)",
            Self::Ddim => "DDIM over fewer timesteps than T",
            Self::DpmSolver2m => "DPM-Solver++(2M), second-order multistep ODE solver",
            Self::DpmSolver3m => "DPM-Solver++(3M), third-order multistep ODE solver",
        };
        Some(clap::builder::PossibleValue::new(self.cli_name()).help(help))
    }
}

/// A sampler and its settings.
#[derive(Config, Debug, PartialEq)]
pub struct SamplerConfig {
    #[config(default = "SamplerKind::Ddim")]
    pub kind: SamplerKind,
    /// Steps (model evaluations) of DDIM and the solvers.
    #[config(default = 50)]
    pub steps: usize,
    /// DDPM's steps when fewer than T, picked by `spacing`, each the posterior between the two levels it
    /// joins (improved DDPM's respacing; diffusers' `num_inference_steps`); `None` takes all T.
    #[config(default = "None")]
    pub ddpm_steps: Option<usize>,
    /// DDIM noise: 0 is deterministic, 1 matches DDPM with the posterior variance. The solvers are deterministic.
    #[config(default = 0.0)]
    pub eta: f64,
    #[config(default = "Spacing::Leading")]
    pub spacing: Spacing,
    /// Clamp the estimate of x_0 to [-1, 1] at every step, for every sampler (diffusers' `clip_sample`).
    #[config(default = false)]
    pub clip_x0: bool,
    /// DDPM's sigma_t^2.
    #[config(default = "VarianceType::Beta")]
    pub variance: VarianceType,
}

impl SamplerConfig {
    /// Builds the sampler for a network trained on `schedule` to output `parameterization` (a
    /// [`ddpm_core::Prediction`], or one with a learned variance), or explains why these settings cannot
    /// run on it.
    pub fn init<'a>(
        &self,
        schedule: &'a NoiseSchedule,
        parameterization: impl Into<Parameterization>,
    ) -> Result<AnySampler<'a>, SampleError> {
        let Parameterization { prediction, variance } = parameterization.into();
        let estimator = Estimator::new(schedule, prediction).with_variance(variance).with_clip_x0(self.clip_x0);
        let t = schedule.num_steps();
        let steps = self.chain_length(t);
        if !(1..=t).contains(&steps) {
            return Err(SampleError::Steps { sampler: self.name(), steps, num_train_steps: t });
        }
        match self.kind {
            SamplerKind::Ddpm => Ok(AnySampler::Ddpm(DdpmSampler::respaced(estimator, self.variance, steps, self.spacing))),
            SamplerKind::Ddim => {
                if !(self.eta >= 0.0 && self.eta.is_finite()) {
                    return Err(SampleError::Eta(self.eta));
                }
                Ok(AnySampler::Ddim(DdimSampler::with_estimator(estimator, self.steps, self.spacing).with_eta(self.eta)))
            }
            SamplerKind::DpmSolver2m | SamplerKind::DpmSolver3m => {
                let order = self.kind.dpm_solver_order().expect("a DPM-Solver++ kind");
                Ok(AnySampler::DpmSolver(DpmSolverPlusPlus::new(estimator, order, self.steps, self.spacing)))
            }
        }
    }

    /// How many steps (model evaluations) the chain takes on a schedule of `num_train_steps` steps.
    pub fn chain_length(&self, num_train_steps: usize) -> usize {
        match self.kind {
            SamplerKind::Ddpm => self.ddpm_steps.unwrap_or(num_train_steps),
            SamplerKind::Ddim | SamplerKind::DpmSolver2m | SamplerKind::DpmSolver3m => self.steps,
        }
    }

    /// The sampler's name, as `describe` starts it.
    fn name(&self) -> &'static str {
        match self.kind {
            SamplerKind::Ddpm => "DDPM",
            SamplerKind::Ddim => "DDIM",
            SamplerKind::DpmSolver2m => "DPM-Solver++(2M)",
            SamplerKind::DpmSolver3m => "DPM-Solver++(3M)",
        }
    }

    /// A short human description, e.g. "DDIM-50 (eta 0, Leading spacing)", "DDPM-1000 (x_0 clipped)" or
    /// "DPM-Solver++(2M)-20 (Trailing spacing)".
    pub fn describe(&self, num_train_steps: usize) -> String {
        let clipped = if self.clip_x0 { ", x_0 clipped" } else { "" };
        let steps = self.chain_length(num_train_steps);
        let settings = match self.kind {
            SamplerKind::Ddpm if steps < num_train_steps => format!("{:?} spacing{clipped}", self.spacing),
            SamplerKind::Ddpm => clipped.trim_start_matches(", ").to_string(),
            SamplerKind::Ddim => format!("eta {}, {:?} spacing{clipped}", self.eta, self.spacing),
            SamplerKind::DpmSolver2m | SamplerKind::DpmSolver3m => format!("{:?} spacing{clipped}", self.spacing),
        };
        if settings.is_empty() { format!("{}-{steps}", self.name()) } else { format!("{}-{steps} ({settings})", self.name()) }
    }
}

/// Any of the samplers, behind one [`Sampler`].
#[derive(Debug, Clone)]
pub enum AnySampler<'a> {
    Ddpm(DdpmSampler<'a>),
    Ddim(DdimSampler<'a>),
    DpmSolver(DpmSolverPlusPlus<'a>),
}

impl Sampler for AnySampler<'_> {
    fn timesteps(&self) -> &[usize] {
        match self {
            Self::Ddpm(s) => s.timesteps(),
            Self::Ddim(s) => s.timesteps(),
            Self::DpmSolver(s) => s.timesteps(),
        }
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, memory: &mut StepMemory<D>) -> Tensor<D> {
        match self {
            Self::Ddpm(s) => s.step_mean_at(position, x_t, output, memory),
            Self::Ddim(s) => s.step_mean_at(position, x_t, output, memory),
            Self::DpmSolver(s) => s.step_mean_at(position, x_t, output, memory),
        }
    }

    fn noise_std_at(&self, position: usize) -> f64 {
        match self {
            Self::Ddpm(s) => s.noise_std_at(position),
            Self::Ddim(s) => s.noise_std_at(position),
            Self::DpmSolver(s) => s.noise_std_at(position),
        }
    }

    fn learned_noise_std_at<const D: usize>(&self, position: usize, x_t: &Tensor<D>, output: &Tensor<D>) -> Option<Tensor<D>> {
        match self {
            Self::Ddpm(s) => s.learned_noise_std_at(position, x_t, output),
            Self::Ddim(s) => s.learned_noise_std_at(position, x_t, output),
            Self::DpmSolver(s) => s.learned_noise_std_at(position, x_t, output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_core::{BetaSchedule, Prediction};

    #[test]
    fn builds_what_it_says_and_refuses_impossible_steps() {
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100).unwrap();
        let ddim = SamplerConfig::new().with_steps(10).init(&schedule, Prediction::Epsilon).unwrap();
        assert_eq!(ddim.timesteps(), DdimSampler::new(&schedule, 10, Spacing::Leading).timesteps());
        let ddpm = SamplerConfig::new().with_kind(SamplerKind::Ddpm).init(&schedule, Prediction::Epsilon).unwrap();
        assert_eq!(ddpm.timesteps().len(), 100);
        assert!((ddpm.noise_std_at(0) - schedule.betas()[99].sqrt()).abs() < 1e-12);
        let error = SamplerConfig::new().with_steps(101).init(&schedule, Prediction::Epsilon).unwrap_err();
        assert_eq!(error, SampleError::Steps { sampler: "DDIM", steps: 101, num_train_steps: 100 });
        let solver = SamplerConfig::new().with_kind(SamplerKind::DpmSolver2m).with_steps(0);
        assert!(solver.init(&schedule, Prediction::Epsilon).unwrap_err().to_string().starts_with("DPM-Solver++(2M) steps"));
        assert_eq!(solver.with_steps(20).with_spacing(Spacing::Trailing).describe(100), "DPM-Solver++(2M)-20 (Trailing spacing)");
        assert_eq!(SamplerConfig::new().with_kind(SamplerKind::Ddpm).with_clip_x0(true).describe(100), "DDPM-100 (x_0 clipped)");
        assert_eq!(SamplerConfig::new().with_kind(SamplerKind::Ddpm).describe(100), "DDPM-100");
        let respaced = SamplerConfig::new().with_kind(SamplerKind::Ddpm).with_ddpm_steps(Some(10)).with_spacing(Spacing::Trailing);
        assert_eq!(respaced.describe(100), "DDPM-10 (Trailing spacing)");
        assert_eq!(respaced.init(&schedule, Prediction::Epsilon).unwrap().timesteps(), Spacing::Trailing.timesteps(100, 10));
        let error = respaced.with_ddpm_steps(Some(101)).init(&schedule, Prediction::Epsilon).unwrap_err();
        assert_eq!(error, SampleError::Steps { sampler: "DDPM", steps: 101, num_train_steps: 100 });
        assert!(SamplerConfig::new().with_eta(-1.0).init(&schedule, Prediction::Epsilon).is_err());
    }
}
