//! DDIM sampling (Song, Meng & Ermon 2021): a non-Markovian reverse process with the same training
//! objective, which can skip timesteps. With eta = 0 it is deterministic; with eta = 1 and every
//! step it is DDPM with the posterior variance.

use burn::config::Config;
use burn::tensor::Tensor;
use ddpm_core::{NoiseSchedule, Prediction};

use crate::{Estimator, Sampler, StepMemory};

/// How a sampler with fewer steps than T picks its timesteps (diffusers' `timestep_spacing`, with
/// `steps_offset` 0). See Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Table 2.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Spacing {
    /// `round(linspace(0, T - 1, n))`, reversed: starts at T - 1, ends at 0.
    Linspace,
    /// Multiples of `T / n` (integer division) from 0, reversed: DDIM's original choice; never visits T - 1.
    Leading,
    /// `round(T - k T / n) - 1` for k = 0..n: starts at T - 1, ends at `T / n - 1`.
    Trailing,
}

impl Spacing {
    /// `steps` distinct timesteps of a `num_train_steps` schedule, noisiest first.
    ///
    /// # Panics
    /// When `steps` is 0 or more than `num_train_steps`.
    pub fn timesteps(self, num_train_steps: usize, steps: usize) -> Vec<usize> {
        assert!((1..=num_train_steps).contains(&steps), "steps must be in 1..={num_train_steps}, got {steps}");
        let (t_max, n) = (num_train_steps as f64, steps as f64);
        let mut timesteps: Vec<usize> = match self {
            Self::Linspace if steps == 1 => vec![0],
            Self::Linspace => (0..steps).map(|k| (k as f64 * (t_max - 1.0) / (n - 1.0)).round_ties_even() as usize).collect(),
            Self::Leading => (0..steps).map(|k| k * (num_train_steps / steps)).collect(),
            Self::Trailing => (0..steps).map(|k| (t_max - k as f64 * t_max / n).round_ties_even() as usize - 1).rev().collect(),
        };
        timesteps.reverse();
        timesteps
    }
}

/// The DDIM update from timestep t to the previous visited one, t' (abar_{t'} = 1 after the last step), on
/// the model's estimates x0_hat (optionally clipped) and eps_hat (see [`Estimator`]):
///
///   sigma  = eta sqrt((1 - abar_{t'}) / (1 - abar_t)) sqrt(1 - abar_t / abar_{t'});
///   x_{t'} = sqrt(abar_{t'}) x0_hat + sqrt(1 - abar_{t'} - sigma^2) eps_hat + sigma z.
#[derive(Debug, Clone)]
pub struct DdimSampler<'a> {
    estimator: Estimator<'a>,
    timesteps: Vec<usize>,
    eta: f64,
}

impl<'a> DdimSampler<'a> {
    /// A deterministic (eta = 0) sampler over `steps` timesteps picked by `spacing`, for a network that
    /// predicts the noise, without clipping (see [`DdimSampler::with_estimator`]).
    pub fn new(schedule: &'a NoiseSchedule, steps: usize, spacing: Spacing) -> Self {
        Self::with_estimator(Estimator::new(schedule, Prediction::Epsilon), steps, spacing)
    }

    /// A deterministic sampler that reads the model output through `estimator` (what it predicts, clipping).
    pub fn with_estimator(estimator: Estimator<'a>, steps: usize, spacing: Spacing) -> Self {
        let timesteps = spacing.timesteps(estimator.schedule().num_steps(), steps);
        Self { estimator, timesteps, eta: 0.0 }
    }

    /// How much fresh noise each step adds: 0 is deterministic DDIM, 1 is DDPM's posterior variance.
    pub fn with_eta(mut self, eta: f64) -> Self {
        self.eta = eta;
        self
    }

    /// abar at the visited position (1 past the end: the clean data).
    fn alpha_bar_at(&self, position: usize) -> f64 {
        self.timesteps.get(position).map_or(1.0, |&t| self.estimator.schedule().alphas_cumprod()[t])
    }

    /// The estimate of x_0 and the next state before noise, for the step at `timesteps()[position]`.
    ///
    /// Shapes: `x_t`, `output`: `[B, ...]`; both results `[B, ...]`.
    pub fn step<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
        let timesteps = vec![self.timesteps[position]; x_t.dims()[0]];
        let x0 = self.estimator.x0(x_t.clone(), &timesteps, output.clone());
        let eps = self.estimator.eps(x_t, &timesteps, output);
        let next = ddim_mean(x0.clone(), eps, self.alpha_bar_at(position + 1), self.noise_std_at(position));
        (x0, next)
    }
}

/// The standard deviation of DDIM's step from noise level `abar` to the less noisy `abar_prev`:
/// eta sqrt((1 - abar_prev) / (1 - abar)) sqrt(1 - abar / abar_prev).
pub(crate) fn ddim_sigma(eta: f64, abar: f64, abar_prev: f64) -> f64 {
    eta * ((1.0 - abar_prev) / (1.0 - abar) * (1.0 - abar / abar_prev)).sqrt()
}

/// The mean of DDIM's step onto noise level `abar_prev` that adds noise of std `sigma`:
/// sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat.
///
/// Shapes: `x0`, `eps`: `[B, ...]`; returns `[B, ...]`.
pub(crate) fn ddim_mean<const D: usize>(x0: Tensor<D>, eps: Tensor<D>, abar_prev: f64, sigma: f64) -> Tensor<D> {
    let direction = (1.0 - abar_prev - sigma * sigma).max(0.0).sqrt();
    x0.mul_scalar(abar_prev.sqrt()) + eps.mul_scalar(direction)
}

impl Sampler for DdimSampler<'_> {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, _: &mut StepMemory<D>) -> Tensor<D> {
        self.step(position, x_t, output).1
    }

    fn noise_std_at(&self, position: usize) -> f64 {
        ddim_sigma(self.eta, self.alpha_bar_at(position), self.alpha_bar_at(position + 1))
    }
}
