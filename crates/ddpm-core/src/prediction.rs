//! What a denoising network is trained to output, and how any of its outputs turns back into
//! estimates of x_0 and of the noise.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::NoiseSchedule;

/// The network's target given the noised x_t and its 0-based timestep t (diffusers' `prediction_type`).
///
/// All three carry the same information: with x_t known, any one of eps, x_0 and v gives the other two
/// (the conversions are [`NoiseSchedule`]'s `predict_*` functions). They differ in how a network's error is
/// amplified: an eps error becomes an x_0 error scaled by sqrt(1 / abar_t - 1), huge at high noise, while an
/// x_0 error is an eps error scaled by sqrt(abar_t / (1 - abar_t)), huge at low noise; v balances the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Prediction {
    /// The noise eps (Ho et al. 2020): the DDPM paper's simplified objective.
    #[default]
    Epsilon,
    /// The clean sample x_0 (diffusers' "sample").
    Sample,
    /// The velocity v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0 (Salimans & Ho 2022).
    V,
}

impl Prediction {
    /// The training target for x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.
    ///
    /// Shapes: `x0`, `eps`: `[B, ...]`; `timesteps`: `B` 0-based steps. Returns `[B, ...]`.
    pub fn target<const D: usize>(self, schedule: &NoiseSchedule, x0: Tensor<D>, timesteps: &[usize], eps: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Epsilon => eps,
            Self::Sample => x0,
            Self::V => schedule.velocity(x0, timesteps, eps),
        }
    }

    /// The estimate of x_0 that the model output `output` at x_t implies.
    ///
    /// Shapes: `x_t`, `output`: `[B, ...]`; returns `[B, ...]`.
    pub fn x0<const D: usize>(self, schedule: &NoiseSchedule, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Epsilon => schedule.predict_x0_from_eps(x_t, timesteps, output),
            Self::Sample => output,
            Self::V => schedule.predict_x0_from_v(x_t, timesteps, output),
        }
    }

    /// The estimate of the noise eps that the model output `output` at x_t implies.
    ///
    /// Shapes: `x_t`, `output`: `[B, ...]`; returns `[B, ...]`.
    pub fn eps<const D: usize>(self, schedule: &NoiseSchedule, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Epsilon => output,
            Self::Sample => schedule.predict_eps_from_x0(x_t, timesteps, output),
            Self::V => schedule.predict_eps_from_v(x_t, timesteps, output),
        }
    }

    /// How many times larger the squared error of the implied eps is than the squared error of this
    /// target, at timestep `t` (x_t fixed): 1 for eps; SNR_t for x_0 (eps = (x_t - sqrt(abar_t) x_0) /
    /// sqrt(1 - abar_t)); abar_t = SNR_t / (SNR_t + 1) for v (eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v).
    /// A loss weighting defined on the eps loss (Min-SNR) is multiplied by it for the other targets.
    pub fn eps_error_gain(self, schedule: &NoiseSchedule, t: usize) -> f64 {
        match self {
            Self::Epsilon => 1.0,
            Self::Sample => schedule.snr()[t],
            Self::V => schedule.alphas_cumprod()[t],
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;
    use crate::{BetaSchedule, NoiseRng};

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    fn assert_close(what: &str, actual: Vec<f32>, expected: &[f32], tolerance: f32) {
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() <= tolerance * e.abs().max(1.0), "{what}[{i}]: {a} vs {e}");
        }
    }

    #[test]
    fn every_target_converts_back_to_the_x0_and_eps_it_came_from() {
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
        let device = Device::flex();
        // Timesteps from nearly clean to pure noise, where the conversions divide by small numbers.
        let timesteps = [0, 1, 10, 250, 500, 900, 999];
        let mut rng = NoiseRng::new(4);
        let x0 = rng.normal::<2>([timesteps.len(), 16], &device).clamp(-1.0, 1.0);
        let eps = rng.normal::<2>([timesteps.len(), 16], &device);
        let x_t = schedule.q_sample(x0.clone(), &timesteps, eps.clone());
        let (x0_values, eps_values) = (values(x0.clone()), values(eps.clone()));
        for prediction in [Prediction::Epsilon, Prediction::Sample, Prediction::V] {
            let target = prediction.target(&schedule, x0.clone(), &timesteps, eps.clone());
            let back_x0 = prediction.x0(&schedule, x_t.clone(), &timesteps, target.clone());
            let back_eps = prediction.eps(&schedule, x_t.clone(), &timesteps, target);
            // x_0 from eps at t = 999 divides by sqrt(abar) = 0.006, eps from x_0 at t = 0 by sqrt(1 - abar) = 0.01:
            // float32 rounding of x_t (6e-8 relative) grows by those factors.
            assert_close(&format!("{prediction:?} x0"), values(back_x0), &x0_values, 5e-5);
            assert_close(&format!("{prediction:?} eps"), values(back_eps), &eps_values, 5e-5);
        }
    }

    #[test]
    fn velocity_has_its_closed_form() {
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
        let device = Device::flex();
        let x0 = Tensor::<2>::from_floats([[0.5, -1.0]], &device);
        let eps = Tensor::<2>::from_floats([[2.0, 0.25]], &device);
        let abar = schedule.alphas_cumprod()[300];
        let (a, b) = (abar.sqrt() as f32, (1.0 - abar).sqrt() as f32);
        let v = Prediction::V.target(&schedule, x0, &[300], eps);
        assert_close("v", values(v), &[a * 2.0 - b * 0.5, a * 0.25 + b], 1e-6);
        assert_eq!(Prediction::V.eps_error_gain(&schedule, 300), abar);
        assert_eq!(Prediction::Sample.eps_error_gain(&schedule, 300), schedule.snr()[300]);
    }
}
