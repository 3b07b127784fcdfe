//! The schedule applied to tensors: forward noising q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0), and
//! the conversions between x_t, x_0, the noise eps and the velocity v that the prediction targets need.
//!
//! Timesteps arrive as host slices, one per example: they are drawn on the host anyway (from the
//! project's own seeded RNG), so looking the coefficients up on the host costs one small upload and
//! no device-side gather, and behaves the same on every backend.

use burn::tensor::{Device, Tensor, TensorData};

use crate::NoiseSchedule;

/// A `[B, 1, ..., 1]` tensor holding one value per example, ready to broadcast against a `[B, ...]` batch.
pub fn per_example<const D: usize>(values: &[f64], device: &Device) -> Tensor<D> {
    let mut shape = [1; D];
    shape[0] = values.len();
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Mean and variance of the Gaussian posterior q(x_{t-1} | x_t, x_0), per example.
#[derive(Debug, Clone)]
pub struct Posterior<const D: usize> {
    /// `[B, ...]`
    pub mean: Tensor<D>,
    /// `[B, 1, ..., 1]`: beta-tilde_t for each example.
    pub variance: Tensor<D>,
    /// `[B, 1, ..., 1]`: ln(beta-tilde_t), clipped at t = 0.
    pub log_variance_clipped: Tensor<D>,
}

/// The posterior q(x_s | x_t, x_0) of a chain that steps from noise level `abar_t` straight to the less
/// noisy `abar_s` (the next timestep it visits, or the clean data at 1): the DDPM posterior (Ho et al.
/// eq. 6-7) of a step whose beta is 1 - abar_t / abar_s, improved DDPM's respacing and diffusers'
/// `DDPMScheduler` with fewer steps than T. Between consecutive timesteps it is the schedule's own step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPosterior {
    /// The step's beta, 1 - abar_t / abar_s.
    pub beta: f64,
    /// The mean's factor of x_0: sqrt(abar_s) beta / (1 - abar_t).
    pub coef1: f64,
    /// The mean's factor of x_t: sqrt(1 - beta) (1 - abar_s) / (1 - abar_t).
    pub coef2: f64,
    /// beta-tilde = beta (1 - abar_s) / (1 - abar_t); 0 onto the clean data.
    pub variance: f64,
}

impl StepPosterior {
    pub fn between(abar_t: f64, abar_s: f64) -> Self {
        let beta = 1.0 - abar_t / abar_s;
        let (coef1, coef2) = (abar_s.sqrt() * beta / (1.0 - abar_t), (1.0 - beta).sqrt() * (1.0 - abar_s) / (1.0 - abar_t));
        Self { beta, coef1, coef2, variance: beta * (1.0 - abar_s) / (1.0 - abar_t) }
    }
}

impl NoiseSchedule {
    /// Looks up `table[t]` for each example's timestep as a `[B, 1, ..., 1]` tensor.
    pub(crate) fn gather<const D: usize>(&self, table: &[f64], timesteps: &[usize], device: &Device) -> Tensor<D> {
        let values: Vec<f64> = timesteps
            .iter()
            .map(|&t| {
                self.check_timestep(t);
                table[t]
            })
            .collect();
        per_example(&values, device)
    }

    /// `x` times `table[t]` for each example's timestep `t`: one scalar multiplication when every example
    /// is at the same step (each step of a sampler), a `[B, 1, ..., 1]` factor broadcast over the batch
    /// otherwise. The two give the same values: the factor is the same f32 either way.
    fn scaled<const D: usize>(&self, x: Tensor<D>, table: &[f64], timesteps: &[usize]) -> Tensor<D> {
        match timesteps {
            [first, rest @ ..] if rest.iter().all(|t| t == first) => {
                self.check_timestep(*first);
                x.mul_scalar(table[*first] as f32)
            }
            _ => {
                let device = x.device();
                x * self.gather::<D>(table, timesteps, &device)
            }
        }
    }

    fn check_batch<const D: usize>(x: &Tensor<D>, timesteps: &[usize]) {
        let batch = x.dims()[0];
        assert_eq!(batch, timesteps.len(), "one timestep per example: batch is {batch}, got {} timesteps", timesteps.len());
    }

    /// Draws x_t ~ q(x_t | x_0) = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise, for a different t per example.
    ///
    /// Shapes: `x0`, `noise`: `[B, ...]`; `timesteps`: `B` 0-based steps. Returns `[B, ...]`.
    pub fn q_sample<const D: usize>(&self, x0: Tensor<D>, timesteps: &[usize], noise: Tensor<D>) -> Tensor<D> {
        Self::check_batch(&x0, timesteps);
        self.scaled(x0, self.sqrt_alphas_cumprod(), timesteps) + self.scaled(noise, self.sqrt_one_minus_alphas_cumprod(), timesteps)
    }

    /// One example at several noise levels, all with the same `noise`: the forward-process figure
    /// of the DDPM tutorials. `timesteps` could come from [`NoiseSchedule::evenly_spaced`].
    ///
    /// Shapes: `x0`, `noise`: `[1, ...]`; returns `[timesteps.len(), ...]`.
    pub fn q_sample_levels<const D: usize>(&self, x0: Tensor<D>, timesteps: &[usize], noise: Tensor<D>) -> Tensor<D> {
        let count = timesteps.len();
        self.q_sample(x0.repeat_dim(0, count), timesteps, noise.repeat_dim(0, count))
    }

    /// `count` (at least 2) timesteps evenly spaced from 0 (almost clean) to T - 1 (the noisiest),
    /// rounded down.
    pub fn evenly_spaced(&self, count: usize) -> Vec<usize> {
        let last = self.num_steps() - 1;
        (0..count).map(|i| i * last / (count - 1).max(1)).collect()
    }

    /// x_0 from x_t and its noise (Ho et al. eq. 4 solved for x_0):
    /// x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t).
    ///
    /// Shapes: `x_t`, `eps`: `[B, ...]`; `timesteps`: `B` 0-based steps. Returns `[B, ...]`.
    pub fn predict_x0_from_eps<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], eps: Tensor<D>) -> Tensor<D> {
        Self::check_batch(&x_t, timesteps);
        self.scaled(x_t, self.sqrt_recip_alphas_cumprod(), timesteps) - self.scaled(eps, self.sqrt_recipm1_alphas_cumprod(), timesteps)
    }

    /// The noise that takes x_0 to x_t: eps = (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t).
    ///
    /// Shapes: `x_t`, `x0`: `[B, ...]`; returns `[B, ...]`.
    pub fn predict_eps_from_x0<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], x0: Tensor<D>) -> Tensor<D> {
        Self::check_batch(&x_t, timesteps);
        let device = x_t.device();
        (x_t - self.scaled(x0, self.sqrt_alphas_cumprod(), timesteps))
            / self.gather::<D>(self.sqrt_one_minus_alphas_cumprod(), timesteps, &device)
    }

    /// The velocity of Salimans & Ho 2022 ("Progressive Distillation", sec. 4):
    /// v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0.
    ///
    /// Shapes: `x0`, `eps`: `[B, ...]`; returns `[B, ...]`.
    pub fn velocity<const D: usize>(&self, x0: Tensor<D>, timesteps: &[usize], eps: Tensor<D>) -> Tensor<D> {
        Self::check_batch(&x0, timesteps);
        self.scaled(eps, self.sqrt_alphas_cumprod(), timesteps) - self.scaled(x0, self.sqrt_one_minus_alphas_cumprod(), timesteps)
    }

    /// x_0 from x_t and the velocity: x_0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v.
    ///
    /// Shapes: `x_t`, `v`: `[B, ...]`; returns `[B, ...]`.
    pub fn predict_x0_from_v<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], v: Tensor<D>) -> Tensor<D> {
        Self::check_batch(&x_t, timesteps);
        self.scaled(x_t, self.sqrt_alphas_cumprod(), timesteps) - self.scaled(v, self.sqrt_one_minus_alphas_cumprod(), timesteps)
    }

    /// The noise from x_t and the velocity: eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v.
    ///
    /// Shapes: `x_t`, `v`: `[B, ...]`; returns `[B, ...]`.
    pub fn predict_eps_from_v<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], v: Tensor<D>) -> Tensor<D> {
        Self::check_batch(&x_t, timesteps);
        self.scaled(x_t, self.sqrt_one_minus_alphas_cumprod(), timesteps) + self.scaled(v, self.sqrt_alphas_cumprod(), timesteps)
    }

    /// The posterior q(x_{t-1} | x_t, x_0) = N(coef1_t x_0 + coef2_t x_t, beta-tilde_t I) (Ho et al. eq. 6-7),
    /// for a different t per example: the DDPM sampling step, given an estimate of x_0.
    ///
    /// Shapes: `x0`, `x_t`: `[B, ...]`; `timesteps`: `B` 0-based steps.
    pub fn q_posterior<const D: usize>(&self, x0: Tensor<D>, x_t: Tensor<D>, timesteps: &[usize]) -> Posterior<D> {
        let device = x0.device();
        Posterior {
            mean: self.q_posterior_mean(x0, x_t, timesteps),
            variance: self.gather(self.posterior_variance(), timesteps, &device),
            log_variance_clipped: self.gather(self.posterior_log_variance_clipped(), timesteps, &device),
        }
    }

    /// The mean of q(x_{t-1} | x_t, x_0): coef1_t x_0 + coef2_t x_t, all a sampler's step needs when its
    /// variance is fixed in advance.
    ///
    /// Shapes: `x0`, `x_t`: `[B, ...]`; `timesteps`: `B` 0-based steps. Returns `[B, ...]`.
    pub fn q_posterior_mean<const D: usize>(&self, x0: Tensor<D>, x_t: Tensor<D>, timesteps: &[usize]) -> Tensor<D> {
        Self::check_batch(&x0, timesteps);
        self.scaled(x0, self.posterior_mean_coef1(), timesteps) + self.scaled(x_t, self.posterior_mean_coef2(), timesteps)
    }
}
