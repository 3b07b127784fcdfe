//! Improved DDPM's hybrid objective for a network that learns its variance (Nichol & Dhariwal 2021,
//! sec. 3.1): L_hybrid = L_simple + lambda L_vlb, lambda = 0.001. The variance is learned from L_vlb
//! alone: its mean is the prediction's with the gradient stopped, so L_simple keeps training the mean.

use burn::tensor::Tensor;
use ddpm_core::{NoiseSchedule, Prediction};

/// lambda of L_hybrid.
pub const VLB_WEIGHT: f64 = 0.001;

/// lambda L_vlb of a batch, estimated from one step per example: L_vlb = T times the mean of L_t over t, so each example's
/// term L_t (bits per dimension, [`NoiseSchedule::vb_term_bpd`]) counts lambda T times, and the batch
/// takes their mean (improved DDPM's `vb * num_timesteps / 1000`).
///
/// Shapes: `x0`, `x_t`, `prediction`, `variance_values`: `[B, ...]`, the last two the network's output
/// split in its two halves; `timesteps`: `B` 0-based steps. Returns `[1]`.
pub fn vlb_loss<const D: usize>(
    schedule: &NoiseSchedule,
    target: Prediction,
    x0: Tensor<D>,
    x_t: Tensor<D>,
    timesteps: &[usize],
    prediction: Tensor<D>,
    variance_values: Tensor<D>,
) -> Tensor<1> {
    let frozen_x0 = target.x0(schedule, x_t.clone(), timesteps, prediction.detach());
    let model_mean = schedule.q_posterior_mean(frozen_x0, x_t.clone(), timesteps);
    let model_log_variance = schedule.learned_range_log_variance(variance_values, timesteps);
    let terms = schedule.vb_term_bpd(x0, x_t, timesteps, model_mean, model_log_variance);
    terms.mean().mul_scalar(VLB_WEIGHT * schedule.num_steps() as f64)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};
    use ddpm_core::BetaSchedule;

    use super::*;

    fn scalar(x: Tensor<1>) -> f64 {
        f64::from(x.into_scalar::<f32>())
    }

    #[test]
    fn with_the_exact_mean_the_term_is_the_kl_of_the_variances_alone_and_the_mean_gets_no_gradient() {
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
        let device = Device::flex().autodiff();
        // Early, where beta_t and beta-tilde_t differ most (at t = 300 the KL is 6e-6, below float32 resolution).
        let t = 2;
        let (x0, eps) = (Tensor::<2>::from_floats([[0.4]], &device), Tensor::<2>::from_floats([[0.7]], &device));
        let x_t = schedule.q_sample(x0.clone(), &[t], eps.clone());
        let loss_at = |v: f32| {
            let prediction = eps.clone().require_grad();
            let values = Tensor::<2>::from_floats([[v]], &device).require_grad();
            let loss = vlb_loss(&schedule, Prediction::Epsilon, x0.clone(), x_t.clone(), &[t], prediction.clone(), values.clone());
            let grads = loss.clone().backward();
            let mean_gradient = prediction.grad(&grads).map_or(0.0, |g| g.abs().max().into_scalar::<f32>());
            let variance_gradient = values.grad(&grads).expect("the variance values get a gradient").into_scalar::<f32>();
            (scalar(loss), mean_gradient, variance_gradient)
        };
        // Sigma = beta_t (v = 1) against the true posterior's beta-tilde_t, means equal:
        // KL = (ln(beta / beta-tilde) + beta-tilde / beta - 1) / 2 nats per value, weighted lambda T.
        let (beta, tilde) = (schedule.betas()[t], schedule.posterior_variance()[t]);
        let kl_bits = ((beta / tilde).ln() + tilde / beta - 1.0) / 2.0 / std::f64::consts::LN_2;
        let (at_large, mean_gradient, variance_gradient) = loss_at(1.0);
        assert!((at_large - VLB_WEIGHT * 1000.0 * kl_bits).abs() < 1e-3 * at_large, "{at_large} vs {}", VLB_WEIGHT * 1000.0 * kl_bits);
        assert_eq!(mean_gradient, 0.0, "the mean is trained by L_simple alone");
        assert!(variance_gradient > 0.0, "above the true variance, the loss falls as v does");
        let (at_true, _, at_true_gradient) = loss_at(-1.0);
        assert!(at_true.abs() < 1e-5 && at_true_gradient.abs() < 1e-4, "v = -1 is the true posterior: {at_true}, {at_true_gradient}");
    }
}
