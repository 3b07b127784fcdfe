use serde::{Deserialize, Serialize};

use crate::ScheduleError;

/// How the per-step noise variances beta_t are laid out over the `T` steps.
///
/// Each variant matches the schedule of the same name in diffusers, so the golden tables from
/// `tests/fixtures/diffusers_schedulers.json` pin them down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BetaSchedule {
    /// Ho et al.: betas evenly spaced from `start` to `end` (DDPM used 1e-4 .. 0.02 over 1000 steps).
    Linear { start: f64, end: f64 },
    /// Stable Diffusion's: square roots evenly spaced, then squared.
    ScaledLinear { start: f64, end: f64 },
    /// Nichol & Dhariwal: alpha-bar(t) follows cos^2(((t/T + s) / (1 + s)) pi/2); betas are then clamped
    /// to `[min_beta, max_beta]` (the paper caps at 0.999; some programs use [1e-4, 0.02]).
    Cosine { s: f64, min_beta: f64, max_beta: f64 },
    /// Betas follow a sigmoid over [-6, 6], scaled to `start .. end` (GeoDiff, as in diffusers).
    Sigmoid { start: f64, end: f64 },
    /// Betas supplied by the user, one per step.
    Custom(Vec<f64>),
}

impl BetaSchedule {
    /// The DDPM paper's schedule: linear from 1e-4 to 0.02.
    pub fn ddpm_linear() -> Self {
        Self::Linear { start: 1e-4, end: 0.02 }
    }

    /// The improved-DDPM cosine schedule: offset 0.008, no lower clamp, betas capped at 0.999.
    pub fn cosine() -> Self {
        Self::Cosine { s: 0.008, min_beta: 0.0, max_beta: 0.999 }
    }

    /// The cosine schedule with betas clamped to the linear schedule's range [1e-4, 0.02], as in the
    /// single-image reference: gentler at both ends than [`BetaSchedule::cosine`].
    pub fn cosine_clamped() -> Self {
        Self::Cosine { s: 0.008, min_beta: 1e-4, max_beta: 0.02 }
    }

    /// The betas for `num_steps` steps, before validation (see [`crate::NoiseSchedule::new`]).
    pub fn betas(&self, num_steps: usize) -> Result<Vec<f64>, ScheduleError> {
        if num_steps == 0 {
            return Err(ScheduleError::NoSteps);
        }
        if num_steps > crate::MAX_TIMESTEPS {
            return Err(ScheduleError::TooManySteps(num_steps));
        }
        let betas = match *self {
            Self::Linear { start, end } => linspace(start, end, num_steps),
            Self::ScaledLinear { start, end } => {
                check_non_negative("scaled-linear start", start)?;
                check_non_negative("scaled-linear end", end)?;
                linspace(start.sqrt(), end.sqrt(), num_steps).into_iter().map(|b| b * b).collect()
            }
            Self::Cosine { s, min_beta, max_beta } => cosine_betas(num_steps, s, min_beta, max_beta)?,
            Self::Sigmoid { start, end } => {
                linspace(-6.0, 6.0, num_steps).into_iter().map(|x| start + (end - start) / (1.0 + (-x).exp())).collect()
            }
            Self::Custom(ref betas) => {
                if betas.len() != num_steps {
                    return Err(ScheduleError::InvalidParameter(format!(
                        "{} custom betas were given for T = {num_steps} steps; give exactly one per step",
                        betas.len()
                    )));
                }
                betas.clone()
            }
        };
        Ok(betas)
    }
}

/// `n` evenly spaced values from `start` to `end`, both included (numpy's `linspace`).
fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f64;
    (0..n).map(|i| start + step * i as f64).collect()
}

fn check_non_negative(what: &str, value: f64) -> Result<(), ScheduleError> {
    if value >= 0.0 { Ok(()) } else { Err(ScheduleError::InvalidParameter(format!("{what} must be >= 0 (got {value})"))) }
}

/// beta_t = 1 - f(t+1)/f(t), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2), clamped to `[min_beta, max_beta]`.
///
/// The ratio is taken in floating point: computing `t / T` with integer division gives 0 for every `t < T`
/// and so 999 zero betas out of 1000 (a bug in several public ports, caught by the golden test).
fn cosine_betas(n: usize, s: f64, min_beta: f64, max_beta: f64) -> Result<Vec<f64>, ScheduleError> {
    if !(s >= 0.0 && s.is_finite()) {
        return Err(ScheduleError::InvalidParameter(format!("cosine offset s must be >= 0 (got {s})")));
    }
    if min_beta.is_nan() || max_beta.is_nan() || min_beta > max_beta {
        return Err(ScheduleError::InvalidParameter(format!("cosine clamp needs min_beta <= max_beta (got {min_beta} > {max_beta})")));
    }
    let f = |t: f64| (((t / n as f64) + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
    Ok((0..n).map(|i| (1.0 - f(i as f64 + 1.0) / f(i as f64)).clamp(min_beta, max_beta)).collect())
}

/// The schedules the apps offer by name (`--schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum NamedSchedule {
    /// Linear betas 1e-4..0.02 (Ho et al.).
    Linear,
    /// The cosine schedule (Nichol & Dhariwal), s = 0.008, betas capped at 0.999.
    Cosine,
    /// The cosine schedule with betas clamped to [1e-4, 0.02] (the single-image reference).
    CosineClamped,
}

impl NamedSchedule {
    pub fn betas(self) -> BetaSchedule {
        match self {
            Self::Linear => BetaSchedule::ddpm_linear(),
            Self::Cosine => BetaSchedule::cosine(),
            Self::CosineClamped => BetaSchedule::cosine_clamped(),
        }
    }
}
