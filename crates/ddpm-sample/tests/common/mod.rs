//! What several sampler tests share: the exact denoiser for Gaussian data.

use burn::tensor::Tensor;
use ddpm_core::Denoiser;
use ddpm_core::{NoiseSchedule, Prediction, per_example};

/// The exact denoiser for x_0 ~ N(mu, s^2), in closed form for each target. With x_t = sqrt(a) x_0 +
/// sqrt(1 - a) eps and d = a s^2 + 1 - a:
///   E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / d,
///   E[x_0 | x_t] = mu + sqrt(a) s^2 (x_t - sqrt(a) mu) / d,
///   E[v | x_t]   = sqrt(a) E[eps | x_t] - sqrt(1 - a) E[x_0 | x_t].
/// Each is affine in x_t: gain (x_t - sqrt(a) mu) + offset.
pub struct Oracle<'a> {
    pub schedule: &'a NoiseSchedule,
    pub prediction: Prediction,
    pub mu: f64,
    pub s: f64,
}

impl Oracle<'_> {
    fn gain_offset(&self, t: usize) -> (f64, f64) {
        let a = self.schedule.alphas_cumprod()[t];
        let d = a * self.s * self.s + 1.0 - a;
        let (eps_gain, x0_gain) = ((1.0 - a).sqrt() / d, a.sqrt() * self.s * self.s / d);
        match self.prediction {
            Prediction::Epsilon => (eps_gain, 0.0),
            Prediction::Sample => (x0_gain, self.mu),
            Prediction::V => (a.sqrt() * eps_gain - (1.0 - a).sqrt() * x0_gain, -(1.0 - a).sqrt() * self.mu),
        }
    }
}

impl Denoiser<2> for Oracle<'_> {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], _: Option<&[usize]>) -> Tensor<2> {
        let abar = self.schedule.alphas_cumprod();
        let shift: Vec<f64> = timesteps.iter().map(|&t| abar[t].sqrt() * self.mu).collect();
        let (gain, offset): (Vec<f64>, Vec<f64>) = timesteps.iter().map(|&t| self.gain_offset(t)).unzip();
        let device = x_t.device();
        (x_t - per_example::<2>(&shift, &device)) * per_example::<2>(&gain, &device) + per_example::<2>(&offset, &device)
    }
}
