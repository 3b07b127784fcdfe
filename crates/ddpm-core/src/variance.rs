//! The variance of the reverse step p(x_{t-1} | x_t): fixed in advance (the DDPM paper), or learned by
//! the network (improved DDPM, Nichol & Dhariwal 2021), and the per-step term of the variational bound
//! that trains a learned variance.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::likelihood::{bits_per_dim, discretized_gaussian_log_likelihood, normal_kl};
use crate::{NoiseSchedule, Prediction, per_example};

/// How a network's output parameterizes the reverse step: what it predicts, and whether its variance
/// follows. A bare [`Prediction`] is a network with a fixed variance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parameterization {
    pub prediction: Prediction,
    pub variance: ModelVariance,
}

impl From<Prediction> for Parameterization {
    fn from(prediction: Prediction) -> Self {
        Self { prediction, variance: ModelVariance::Fixed }
    }
}

/// Whether a network outputs the variance of the reverse step besides its prediction (diffusers'
/// `variance_type`, `learned_range` when it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ModelVariance {
    /// The sampler fixes it (beta_t or beta-tilde_t); the network outputs its prediction alone.
    #[default]
    Fixed,
    /// Improved DDPM's learned range: after its prediction's C channels the network outputs C more,
    /// v, and ln Sigma = frac ln beta_t + (1 - frac) ln beta-tilde_t with frac = (v + 1) / 2 (eq. 15).
    /// v is not clamped (as in improved DDPM and diffusers); -1 and 1 are the two fixed variances.
    LearnedRange,
}

impl ModelVariance {
    /// The channels a network outputs for data of `channels` channels: twice as many when it learns
    /// the variance.
    pub fn output_channels(self, channels: usize) -> usize {
        match self {
            Self::Fixed => channels,
            Self::LearnedRange => 2 * channels,
        }
    }

    /// A network's output cut into its prediction and, when it learns the variance, its variance
    /// values v (dimension 1 split in two halves, as diffusers and improved DDPM split it).
    ///
    /// Shapes: `output`: `[B, C, ...]`, or `[B, 2C, ...]` when learned, for data of `channels` = C
    /// channels. Returns `[B, C, ...]` and, when learned, `[B, C, ...]`.
    pub fn split<const D: usize>(self, output: Tensor<D>, channels: usize) -> (Tensor<D>, Option<Tensor<D>>) {
        let width = output.dims()[1];
        match self {
            Self::Fixed => {
                assert_eq!(width, channels, "a network with a fixed variance outputs one value per input value");
                (output, None)
            }
            Self::LearnedRange => {
                assert_eq!(width, 2 * channels, "a network that learns its variance outputs twice the input's channels");
                (output.clone().narrow(1, 0, channels), Some(output.narrow(1, channels, channels)))
            }
        }
    }
}

/// Improved DDPM's eq. 15: ln Sigma = frac `max_log` + (1 - frac) `min_log` with frac = (v + 1) / 2, for a
/// learned-range network's variance values `v` between the log-variances `min_log` (the posterior's,
/// ln beta-tilde) and `max_log` (ln beta) of the same step.
///
/// Shapes: `v`: `[B, ...]`; `min_log`, `max_log`: broadcast against it (`[B, 1, ..., 1]`). Returns `[B, ...]`.
pub fn learned_range_log_variance<const D: usize>(v: Tensor<D>, min_log: Tensor<D>, max_log: Tensor<D>) -> Tensor<D> {
    let frac = v.add_scalar(1.0).mul_scalar(0.5);
    frac.clone() * max_log + frac.neg().add_scalar(1.0) * min_log
}

impl NoiseSchedule {
    /// ln Sigma_theta(x_t, t) of a learned-range network's variance values `v` at each example's step t:
    /// [`learned_range_log_variance`] between ln beta-tilde_t (clipped at t = 0 as
    /// [`NoiseSchedule::posterior_log_variance_clipped`] is) and ln beta_t.
    ///
    /// Shapes: `v`: `[B, ...]`; `timesteps`: `B` 0-based steps. Returns `[B, ...]`.
    pub fn learned_range_log_variance<const D: usize>(&self, v: Tensor<D>, timesteps: &[usize]) -> Tensor<D> {
        let device = v.device();
        let max_log: Vec<f64> = timesteps.iter().map(|&t| self.betas()[t].ln()).collect();
        let min_log = self.gather::<D>(self.posterior_log_variance_clipped(), timesteps, &device);
        learned_range_log_variance(v, min_log, per_example::<D>(&max_log, &device))
    }

    /// One term of the variational bound per example, in bits per dimension: at t >= 1 the KL of the
    /// true posterior q(x_{t-1} | x_t, x_0) from the model's N(`model_mean`, exp(`model_log_variance`)),
    /// at t = 0 the decoder's -log p(x_0 | x_1) over 8-bit bins (improved DDPM's `_vb_terms_bpd`).
    ///
    /// Shapes: `x0`, `x_t`, `model_mean`: `[B, ...]`; `model_log_variance`: `[B, ...]` or
    /// `[B, 1, ..., 1]`; `timesteps`: `B` 0-based steps. Returns `[B]`.
    pub fn vb_term_bpd<const D: usize>(
        &self,
        x0: Tensor<D>,
        x_t: Tensor<D>,
        timesteps: &[usize],
        model_mean: Tensor<D>,
        model_log_variance: Tensor<D>,
    ) -> Tensor<1> {
        let device = x0.device();
        let decoder_at: Vec<f64> = timesteps.iter().map(|&t| f64::from(u8::from(t == 0))).collect();
        let kl = || {
            let posterior = self.q_posterior(x0.clone(), x_t.clone(), timesteps);
            let nats = normal_kl(posterior.mean, posterior.log_variance_clipped, model_mean.clone(), model_log_variance.clone());
            bits_per_dim(nats)
        };
        let decoder = || {
            let log_scale = model_log_variance.clone().mul_scalar(0.5);
            bits_per_dim(discretized_gaussian_log_likelihood(x0.clone(), model_mean.clone(), log_scale).neg())
        };
        match decoder_at.iter().filter(|&&d| d > 0.0).count() {
            0 => kl(),
            n if n == timesteps.len() => decoder(),
            _ => {
                let at_zero = per_example::<1>(&decoder_at, &device);
                kl() * at_zero.clone().neg().add_scalar(1.0) + decoder() * at_zero
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;
    use crate::BetaSchedule;

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn learned_range_spans_the_two_fixed_variances() {
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
        let device = Device::flex();
        let timesteps = [0, 1, 500, 999];
        let at = |v: f32| values(schedule.learned_range_log_variance(Tensor::<2>::full([4, 3], v, &device), &timesteps));
        for (i, &t) in timesteps.iter().enumerate() {
            let (large, small) = (schedule.betas()[t].ln(), schedule.posterior_log_variance_clipped()[t]);
            let close = |got: f32, want: f64| (f64::from(got) - want).abs() <= 1e-5 * want.abs().max(1.0);
            assert!(close(at(1.0)[3 * i], large), "v = 1 at t = {t} is ln beta_t");
            assert!(close(at(-1.0)[3 * i], small), "v = -1 at t = {t} is ln beta-tilde_t (clipped)");
            assert!(close(at(0.0)[3 * i], 0.5 * (large + small)), "v = 0 at t = {t} is the geometric mean");
        }
    }

    #[test]
    fn split_cuts_the_channels_in_two_halves() {
        let device = Device::flex();
        let output = Tensor::<4>::from_floats([[[[1.0]], [[2.0]], [[3.0]], [[4.0]]]], &device);
        let (prediction, v) = ModelVariance::LearnedRange.split(output.clone(), 2);
        assert_eq!(values(prediction), [1.0, 2.0]);
        assert_eq!(values(v.unwrap()), [3.0, 4.0]);
        let (whole, none) = ModelVariance::Fixed.split(output, 4);
        assert_eq!((values(whole).len(), none.is_none()), (4, true));
        assert_eq!(ModelVariance::LearnedRange.output_channels(3), 6);
    }
}
