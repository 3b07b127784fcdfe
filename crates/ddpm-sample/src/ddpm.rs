//! DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), written as the posterior at the model's
//! estimate of x_0: x0_hat from the model output (optionally clipped), then
//! x_{t-1} = mean of q(x_{t-1} | x_t, x0_hat) + sigma_t z. Without clipping, and for eps prediction, this is
//! the paper's x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z.

use burn::config::Config;
use burn::tensor::Tensor;
use ddpm_core::{NoiseSchedule, Prediction};

use crate::{Estimator, Sampler, StepMemory};

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

/// Ancestral sampling over all T steps.
#[derive(Debug, Clone)]
pub struct DdpmSampler<'a> {
    estimator: Estimator<'a>,
    variance: VarianceType,
    /// `T - 1, ..., 0`.
    timesteps: Vec<usize>,
}

impl<'a> DdpmSampler<'a> {
    /// A sampler for a network that predicts the noise, without clipping (see [`DdpmSampler::with_estimator`]).
    pub fn new(schedule: &'a NoiseSchedule, variance: VarianceType) -> Self {
        Self::with_estimator(Estimator::new(schedule, Prediction::Epsilon), variance)
    }

    /// A sampler that reads the model output through `estimator` (what it predicts, clipping).
    pub fn with_estimator(estimator: Estimator<'a>, variance: VarianceType) -> Self {
        let timesteps = (0..estimator.schedule().num_steps()).rev().collect();
        Self { estimator, variance, timesteps }
    }

    /// The standard deviation sigma_t of the noise added by the step out of (0-based) step `t`.
    pub fn sigma(&self, t: usize) -> f64 {
        let schedule = self.estimator.schedule();
        match self.variance {
            VarianceType::Beta => schedule.betas()[t],
            VarianceType::Posterior => schedule.posterior_variance()[t],
        }
        .sqrt()
    }

    /// The mean of p(x_{t-1} | x_t) for every example at the same step `t`: the posterior mean of
    /// q(x_{t-1} | x_t, x0_hat) at the model's (optionally clipped) estimate x0_hat.
    ///
    /// Shapes: `x_t`, `output`: `[B, ...]`; returns `[B, ...]`.
    pub fn step_mean<const D: usize>(&self, x_t: Tensor<D>, t: usize, output: Tensor<D>) -> Tensor<D> {
        let timesteps = vec![t; x_t.dims()[0]];
        let x0 = self.estimator.x0(x_t.clone(), &timesteps, output);
        self.estimator.schedule().q_posterior_mean(x0, x_t, &timesteps)
    }
}

impl Sampler for DdpmSampler<'_> {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, _: &mut StepMemory<D>) -> Tensor<D> {
        self.step_mean(x_t, self.timesteps[position], output)
    }

    /// No noise is added by the last step (t = 0), as in the paper.
    fn noise_std_at(&self, position: usize) -> f64 {
        match self.timesteps[position] {
            0 => 0.0,
            t => self.sigma(t),
        }
    }
}
