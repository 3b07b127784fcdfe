//! DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), written as the posterior at the model's
//! estimate of x_0: x0_hat from the model output (optionally clipped), then
//! x_{t-1} = mean of q(x_{t-1} | x_t, x0_hat) + sigma_t z. Without clipping, and for eps prediction, this is
//! the paper's x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z.
//!
//! Over fewer steps than T (improved DDPM's respacing; diffusers' `DDPMScheduler` with
//! `num_inference_steps`), each step is the same posterior between the two noise levels it joins
//! ([`StepPosterior`]), its beta being 1 - abar_t / abar_s.

use burn::config::Config;
use burn::tensor::Tensor;
use ddpm_core::{NoiseSchedule, Prediction, StepPosterior, learned_range_log_variance, per_example};

use crate::{Estimator, Sampler, Spacing, StepMemory};

/// The variance sigma_t^2 of the noise added at each reverse step, when the network does not learn it
/// (a network that does, `ddpm_core::ModelVariance::LearnedRange`, sets its own between the two). Ho et
/// al. found both give similar results: the two extremes for data that is a point mass or N(0, I).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum VarianceType {
    /// sigma_t^2 = beta_t ("fixed_large" in diffusers).
    Beta,
    /// sigma_t^2 = beta-tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t), the true posterior
    /// variance given x_0 ("fixed_small").
    Posterior,
}

/// Ancestral sampling, over all T steps or fewer.
#[derive(Debug, Clone)]
pub struct DdpmSampler<'a> {
    estimator: Estimator<'a>,
    variance: VarianceType,
    /// `T - 1, ..., 0`, or the visited subset, noisiest first.
    timesteps: Vec<usize>,
}

impl<'a> DdpmSampler<'a> {
    /// A sampler over all T steps for a network that predicts the noise, without clipping (see
    /// [`DdpmSampler::with_estimator`]).
    pub fn new(schedule: &'a NoiseSchedule, variance: VarianceType) -> Self {
        Self::with_estimator(Estimator::new(schedule, Prediction::Epsilon), variance)
    }

    /// A sampler over all T steps that reads the model output through `estimator` (what it predicts,
    /// its learned variance, clipping).
    pub fn with_estimator(estimator: Estimator<'a>, variance: VarianceType) -> Self {
        let steps = estimator.schedule().num_steps();
        Self::respaced(estimator, variance, steps, Spacing::Leading)
    }

    /// A sampler over `steps` timesteps picked by `spacing` (all T when `steps` is T, whatever the
    /// spacing).
    ///
    /// # Panics
    /// When `steps` is 0 or more than T.
    pub fn respaced(estimator: Estimator<'a>, variance: VarianceType, steps: usize, spacing: Spacing) -> Self {
        let timesteps = spacing.timesteps(estimator.schedule().num_steps(), steps);
        Self { estimator, variance, timesteps }
    }

    /// The posterior of the step at `position`: from its timestep to the next visited one (the clean
    /// data after the last).
    fn posterior_at(&self, position: usize) -> StepPosterior {
        let abar = self.estimator.schedule().alphas_cumprod();
        let next = self.timesteps.get(position + 1).map_or(1.0, |&s| abar[s]);
        StepPosterior::between(abar[self.timesteps[position]], next)
    }

    /// The position of the step out of timestep `t`.
    ///
    /// # Panics
    /// When the sampler does not visit `t`.
    fn position_of(&self, t: usize) -> usize {
        self.timesteps.iter().position(|&visited| visited == t).unwrap_or_else(|| panic!("the sampler does not visit timestep {t}"))
    }

    /// The standard deviation sigma_t of the fixed-variance noise added by the step out of (0-based)
    /// step `t`: 0 for the last step, onto the data.
    pub fn sigma(&self, t: usize) -> f64 {
        self.noise_std_at(self.position_of(t))
    }

    /// The mean of p(x_{t-1} | x_t) for every example at the same step `t`: the posterior mean of
    /// q(x_{t-1} | x_t, x0_hat) at the model's (optionally clipped) estimate x0_hat.
    ///
    /// Shapes: `x_t`: `[B, ...]`; `output`: the network's; returns `[B, ...]`.
    pub fn step_mean<const D: usize>(&self, x_t: Tensor<D>, t: usize, output: Tensor<D>) -> Tensor<D> {
        self.mean_at(self.position_of(t), x_t, output)
    }

    fn mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>) -> Tensor<D> {
        let timesteps = vec![self.timesteps[position]; x_t.dims()[0]];
        let x0 = self.estimator.x0(x_t.clone(), &timesteps, output);
        let posterior = self.posterior_at(position);
        x0.mul_scalar(posterior.coef1) + x_t.mul_scalar(posterior.coef2)
    }

    fn is_last(&self, position: usize) -> bool {
        position + 1 == self.timesteps.len()
    }
}

impl Sampler for DdpmSampler<'_> {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, _: &mut StepMemory<D>) -> Tensor<D> {
        self.mean_at(position, x_t, output)
    }

    /// No noise is added by the last step (onto the data), as in the paper.
    fn noise_std_at(&self, position: usize) -> f64 {
        if self.is_last(position) {
            return 0.0;
        }
        let posterior = self.posterior_at(position);
        match self.variance {
            VarianceType::Beta => posterior.beta,
            VarianceType::Posterior => posterior.variance,
        }
        .sqrt()
    }

    /// A network that learns its variance sets sigma value by value: exp(ln Sigma_theta / 2), ln Sigma
    /// between the step's ln beta-tilde and ln beta.
    fn learned_noise_std_at<const D: usize>(&self, position: usize, x_t: &Tensor<D>, output: &Tensor<D>) -> Option<Tensor<D>> {
        if self.is_last(position) {
            return None;
        }
        let v = self.estimator.variance_values(x_t, output.clone())?;
        let posterior = self.posterior_at(position);
        // One value for the whole batch, broadcast: every example is at the same step.
        let device = x_t.device();
        let bound = |value: f64| per_example::<D>(&[value.ln()], &device);
        Some(learned_range_log_variance(v, bound(posterior.variance), bound(posterior.beta)).mul_scalar(0.5).exp())
    }
}
