//! DDPM ancestral sampling (Ho et al. 2020, Algorithm 2).

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use ddpm_nets::Denoiser;
use ddpm_schedule::{NoiseRng, NoiseSchedule};

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

/// What [`DdpmSampler::sample`] returns.
#[derive(Debug, Clone)]
pub struct Sampled<const D: usize> {
    /// x_0, `[B, ...]`.
    pub samples: Tensor<D>,
    /// `(t, x_t)` pairs from x_T down to x_0, when a trajectory was requested; `t = T` labels the
    /// starting noise and `t = 0` the final samples.
    pub trajectory: Vec<(usize, Tensor<D>)>,
}

/// Ancestral sampling: x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z.
#[derive(Debug, Clone)]
pub struct DdpmSampler<'a> {
    schedule: &'a NoiseSchedule,
    variance: VarianceType,
}

impl<'a> DdpmSampler<'a> {
    pub fn new(schedule: &'a NoiseSchedule, variance: VarianceType) -> Self {
        Self { schedule, variance }
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

    /// Runs all T reverse steps from x_T ~ N(0, I) (noise from `rng`) to x_0.
    ///
    /// No noise is added by the last step (t = 0), as in the paper. `trajectory_every = Some(k)` keeps
    /// x_t every `k` steps (plus x_T and x_0); `on_step(done, total)` reports progress.
    pub fn sample<const D: usize, M: Denoiser<D>>(
        &self,
        model: &M,
        shape: [usize; D],
        rng: &mut NoiseRng,
        device: &Device,
        trajectory_every: Option<usize>,
        mut on_step: impl FnMut(usize, usize),
    ) -> Sampled<D> {
        let num_steps = self.schedule.num_steps();
        let batch = shape[0];
        let mut x = rng.normal(shape, device);
        let mut trajectory = Vec::new();
        let keep = |t: usize| trajectory_every.is_some_and(|k| t == num_steps || t == 0 || t % k.max(1) == 0);
        if keep(num_steps) {
            trajectory.push((num_steps, x.clone()));
        }
        let mut timesteps = vec![0; batch];
        for t in (0..num_steps).rev() {
            timesteps.fill(t);
            let noise_pred = model.predict_noise(x.clone(), &timesteps);
            x = self.step_mean(x, t, noise_pred);
            if t > 0 {
                x = x + rng.normal(shape, device).mul_scalar(self.sigma(t));
            }
            if keep(t) {
                trajectory.push((t, x.clone()));
            }
            on_step(num_steps - t, num_steps);
        }
        Sampled { samples: x, trajectory }
    }
}
