use crate::{BetaSchedule, ScheduleError};

/// Every table a DDPM needs, derived from the betas once, in `f64`.
///
/// The tables are read-only (one accessor each): they are derived from each other, so editing one
/// would leave the others stale. Build a new schedule with [`NoiseSchedule::from_betas`] instead.
///
/// Index `t` is 0-based (see the crate docs). Names follow Ho et al.'s reference code so the formulas
/// read like the paper:
///
/// * `alphas[t] = 1 - betas[t]`, `alphas_cumprod[t] = prod_{s<=t} alphas[s]` (alpha-bar),
///   `alphas_cumprod_prev[t] = alphas_cumprod[t-1]` with `alphas_cumprod_prev[0] = 1`;
/// * q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I);
/// * q(x_{t-1} | x_t, x_0) = N(coef1_t x_0 + coef2_t x_t, beta-tilde_t I) with
///   beta-tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t),
///   coef1_t = beta_t sqrt(abar_{t-1}) / (1 - abar_t), coef2_t = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t);
/// * SNR_t = abar_t / (1 - abar_t).
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    betas: Vec<f64>,
    alphas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
    alphas_cumprod_prev: Vec<f64>,
    sqrt_alphas_cumprod: Vec<f64>,
    sqrt_one_minus_alphas_cumprod: Vec<f64>,
    /// 1 / sqrt(abar_t): recovers x_0 from x_t and the noise.
    sqrt_recip_alphas_cumprod: Vec<f64>,
    /// sqrt(1 / abar_t - 1).
    sqrt_recipm1_alphas_cumprod: Vec<f64>,
    /// beta-tilde_t; zero at t = 0, where x_0 is known from x_1 exactly.
    posterior_variance: Vec<f64>,
    /// ln(beta-tilde_t), with the t = 0 entry replaced by t = 1's so it stays finite (as in Ho et al.).
    posterior_log_variance_clipped: Vec<f64>,
    posterior_mean_coef1: Vec<f64>,
    posterior_mean_coef2: Vec<f64>,
    snr: Vec<f64>,
}

impl NoiseSchedule {
    /// Builds the tables for `num_steps` (T) steps of `schedule`, rejecting invalid betas.
    pub fn new(schedule: &BetaSchedule, num_steps: usize) -> Result<Self, ScheduleError> {
        Self::from_betas(schedule.betas(num_steps)?)
    }

    /// Builds the tables from explicit betas. Requires T >= 1, every beta finite and in (0, 1), and
    /// alpha-bar strictly decreasing (it stops decreasing only once it has underflowed to zero).
    pub fn from_betas(betas: Vec<f64>) -> Result<Self, ScheduleError> {
        validate(&betas)?;
        let alphas: Vec<f64> = betas.iter().map(|b| 1.0 - b).collect();
        let alphas_cumprod: Vec<f64> = alphas
            .iter()
            .scan(1.0, |acc, a| {
                *acc *= a;
                Some(*acc)
            })
            .collect();
        for (index, pair) in alphas_cumprod.windows(2).enumerate() {
            if !(pair[1] < pair[0] && pair[1] > 0.0) {
                return Err(ScheduleError::AlphaBarNotDecreasing { index: index + 1, previous: pair[0], value: pair[1] });
            }
        }
        let alphas_cumprod_prev: Vec<f64> =
            std::iter::once(1.0).chain(alphas_cumprod[..alphas_cumprod.len() - 1].iter().copied()).collect();

        let map = |f: &dyn Fn(usize) -> f64| (0..betas.len()).map(f).collect::<Vec<f64>>();
        let posterior_variance = map(&|t| betas[t] * (1.0 - alphas_cumprod_prev[t]) / (1.0 - alphas_cumprod[t]));
        let posterior_log_variance_clipped = map(&|t| {
            let clipped = if t == 0 && betas.len() > 1 { posterior_variance[1] } else { posterior_variance[t] };
            clipped.ln()
        });
        Ok(Self {
            sqrt_alphas_cumprod: map(&|t| alphas_cumprod[t].sqrt()),
            sqrt_one_minus_alphas_cumprod: map(&|t| (1.0 - alphas_cumprod[t]).sqrt()),
            sqrt_recip_alphas_cumprod: map(&|t| alphas_cumprod[t].recip().sqrt()),
            sqrt_recipm1_alphas_cumprod: map(&|t| (alphas_cumprod[t].recip() - 1.0).sqrt()),
            posterior_mean_coef1: map(&|t| betas[t] * alphas_cumprod_prev[t].sqrt() / (1.0 - alphas_cumprod[t])),
            posterior_mean_coef2: map(&|t| (1.0 - alphas_cumprod_prev[t]) * alphas[t].sqrt() / (1.0 - alphas_cumprod[t])),
            snr: map(&|t| alphas_cumprod[t] / (1.0 - alphas_cumprod[t])),
            posterior_variance,
            posterior_log_variance_clipped,
            alphas_cumprod_prev,
            alphas_cumprod,
            alphas,
            betas,
        })
    }

    /// T, the number of diffusion steps.
    pub fn num_steps(&self) -> usize {
        self.betas.len()
    }

    /// Panics with a clear message when `t` is not a valid 0-based step.
    pub(crate) fn check_timestep(&self, t: usize) {
        assert!(t < self.num_steps(), "timestep {t} is out of range: valid steps are 0..{}", self.num_steps());
    }
}

fn validate(betas: &[f64]) -> Result<(), ScheduleError> {
    if betas.is_empty() {
        return Err(ScheduleError::NoSteps);
    }
    for (index, &value) in betas.iter().enumerate() {
        if !value.is_finite() {
            return Err(ScheduleError::NonFiniteBeta { index, value });
        }
        if !(value > 0.0 && value < 1.0) {
            return Err(ScheduleError::BetaOutOfRange { index, value });
        }
    }
    Ok(())
}

/// One read-only accessor per table, each `T` long and indexed by the 0-based timestep.
macro_rules! table_accessors {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        impl NoiseSchedule {
            $($(#[$doc])* pub fn $name(&self) -> &[f64] { &self.$name })*
        }
    };
}

table_accessors! {
    /// beta_t.
    betas,
    /// alpha_t = 1 - beta_t.
    alphas,
    /// abar_t = prod_{s <= t} alpha_s.
    alphas_cumprod,
    /// abar_{t-1}, with 1 at t = 0.
    alphas_cumprod_prev,
    /// sqrt(abar_t).
    sqrt_alphas_cumprod,
    /// sqrt(1 - abar_t).
    sqrt_one_minus_alphas_cumprod,
    /// 1 / sqrt(abar_t).
    sqrt_recip_alphas_cumprod,
    /// sqrt(1 / abar_t - 1).
    sqrt_recipm1_alphas_cumprod,
    /// beta-tilde_t, the variance of q(x_{t-1} | x_t, x_0); 0 at t = 0.
    posterior_variance,
    /// ln(beta-tilde_t), with the t = 0 entry replaced by t = 1's.
    posterior_log_variance_clipped,
    /// The coefficient of x_0 in the posterior mean.
    posterior_mean_coef1,
    /// The coefficient of x_t in the posterior mean.
    posterior_mean_coef2,
    /// SNR_t = abar_t / (1 - abar_t).
    snr,
}
