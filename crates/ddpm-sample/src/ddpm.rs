//! DDPM ancestral sampling (Ho et al. 2020, Algorithm 2).

use burn::config::Config;
use burn::tensor::Tensor;
use ddpm_schedule::NoiseSchedule;

use crate::ReverseProcess;

/// The variance sigma_t^2 of the noise added at each reverse step. Ho et al. found both give
/// similar results: the two extremes for data that is a point mass or N(0, I).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum VarianceType {
    /// sigma_t^2 = beta_t ("fixed_large" in diffusers).
    Beta,
    /// sigma_t^2 = beta-tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t), the true posterior
    /// variance given x_0 ("fixed_small").
    Posterior,
}

/// Ancestral sampling over all T steps:
/// x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z.
#[derive(Debug, Clone)]
pub struct DdpmSampler<'a> {
    schedule: &'a NoiseSchedule,
    variance: VarianceType,
    threads: usize,
    /// `T - 1, ..., 0`.
    timesteps: Vec<usize>,
}

impl<'a> DdpmSampler<'a> {
    pub fn new(schedule: &'a NoiseSchedule, variance: VarianceType) -> Self {
        Self { schedule, variance, threads: 1, timesteps: (0..schedule.num_steps()).rev().collect() }
    }

    /// Runs the chain on `threads` slices of the batch at once (see [`ReverseProcess::threads`]).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The standard deviation sigma_t of the noise added by the step out of (0-based) step `t`.
    pub fn sigma(&self, t: usize) -> f64 {
        match self.variance {
            VarianceType::Beta => self.schedule.betas[t],
            VarianceType::Posterior => self.schedule.posterior_variance[t],
        }
        .sqrt()
    }

    /// The mean of p(x_{t-1} | x_t) for every example at the same step `t`, given the predicted noise.
    ///
    /// Shapes: `x_t`, `noise_pred`: `[B, ...]`; returns `[B, ...]`.
    pub fn step_mean<const D: usize>(&self, x_t: Tensor<D>, t: usize, noise_pred: Tensor<D>) -> Tensor<D> {
        let s = self.schedule;
        let noise_coef = s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t];
        (x_t - noise_pred.mul_scalar(noise_coef)).mul_scalar(s.sqrt_recip_alphas[t])
    }
}

impl ReverseProcess for DdpmSampler<'_> {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, noise_pred: Tensor<D>) -> Tensor<D> {
        self.step_mean(x_t, self.timesteps[position], noise_pred)
    }

    /// No noise is added by the last step (t = 0), as in the paper.
    fn noise_std_at(&self, position: usize) -> f64 {
        match self.timesteps[position] {
            0 => 0.0,
            t => self.sigma(t),
        }
    }

    fn threads(&self) -> usize {
        self.threads
    }
}
