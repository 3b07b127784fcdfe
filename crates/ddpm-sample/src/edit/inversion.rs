//! DDIM inversion (Song et al. 2021, sec. 4.3; diffusers' `DDIMInverseScheduler`): the deterministic
//! DDIM chain (eta 0) run forwards, from an image to the x_T that DDIM with the same timesteps maps back
//! to it. The ODE step from t to the next, noisier t' needs the noise estimate at t', which depends on
//! the unknown x_{t'}; inversion takes it at the current state instead, eps(x_t, t'), the
//! approximation every implementation makes. x_0 is never clipped here: clipping would break the
//! symmetry with the regenerating chain.

use burn::tensor::Tensor;

use crate::{Estimator, Sampler, Spacing, StepMemory};

/// DDIM's timesteps in increasing order, as a sampler whose chain ends at the noise (x_T).
#[derive(Debug, Clone)]
pub struct DdimInversion<'a> {
    estimator: Estimator<'a>,
    /// The DDIM sampler's timesteps, least noisy first.
    timesteps: Vec<usize>,
}

impl<'a> DdimInversion<'a> {
    /// Inverts DDIM over `steps` timesteps picked by `spacing`, for a network read through `estimator`
    /// (its clipping is ignored).
    pub fn new(estimator: Estimator<'a>, steps: usize, spacing: Spacing) -> Self {
        let mut timesteps = spacing.timesteps(estimator.schedule().num_steps(), steps);
        timesteps.reverse();
        Self { estimator: estimator.with_clip_x0(false), timesteps }
    }

    /// abar of the state given to the step at `position`: the clean image (1) before the first.
    fn alpha_bar_before(&self, position: usize) -> f64 {
        position.checked_sub(1).map_or(1.0, |p| self.estimator.schedule().alphas_cumprod()[self.timesteps[p]])
    }
}

/// The deterministic DDIM move of a state at noise level `abar_from` to `abar_to` along a noise estimate
/// `eps`: x_0 = (x - sqrt(1 - abar_from) eps) / sqrt(abar_from), then sqrt(abar_to) x_0 + sqrt(1 - abar_to) eps.
///
/// Shapes: `x`, `eps`: `[B, ...]`; returns `[B, ...]`.
fn ddim_move<const D: usize>(x: Tensor<D>, eps: Tensor<D>, abar_from: f64, abar_to: f64) -> Tensor<D> {
    let x0 = (x - eps.clone().mul_scalar((1.0 - abar_from).sqrt())).div_scalar(abar_from.sqrt());
    x0.mul_scalar(abar_to.sqrt()) + eps.mul_scalar((1.0 - abar_to).sqrt())
}

impl Sampler for DdimInversion<'_> {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// The model output at `timesteps()[position]` was taken on the state one level less noisy.
    fn step_mean_at<const D: usize>(&self, position: usize, x: Tensor<D>, output: Tensor<D>, _: &mut StepMemory<D>) -> Tensor<D> {
        let t = self.timesteps[position];
        let eps = self.estimator.eps(x.clone(), &vec![t; x.dims()[0]], output);
        ddim_move(x, eps, self.alpha_bar_before(position), self.estimator.schedule().alphas_cumprod()[t])
    }

    fn noise_std_at(&self, _position: usize) -> f64 {
        0.0
    }
}
