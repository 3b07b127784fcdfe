//! Reading a network's output: whatever it predicts (eps, x_0 or v), a sampler needs estimates of
//! x_0 and of the noise, and may clip the x_0 estimate to the data range.

use burn::tensor::Tensor;
use ddpm_core::{NoiseSchedule, Prediction};

/// The schedule a network was trained on, what it predicts, and whether its x_0 estimate is clipped to
/// [-1, 1] (diffusers' `prediction_type` and `clip_sample`). Every sampler reads model outputs through it.
#[derive(Debug, Clone, Copy)]
pub struct Estimator<'a> {
    schedule: &'a NoiseSchedule,
    prediction: Prediction,
    clip_x0: bool,
}

impl<'a> Estimator<'a> {
    /// Reads the output of a network trained on `schedule` to predict `prediction`, without clipping.
    pub fn new(schedule: &'a NoiseSchedule, prediction: Prediction) -> Self {
        Self { schedule, prediction, clip_x0: false }
    }

    /// Clamps the x_0 estimate to [-1, 1], the range the project's data is scaled to.
    pub fn with_clip_x0(mut self, clip: bool) -> Self {
        self.clip_x0 = clip;
        self
    }

    pub fn schedule(&self) -> &'a NoiseSchedule {
        self.schedule
    }

    /// The estimate of x_0 at x_t, clipped when asked.
    ///
    /// Shapes: `x_t`, `output`: `[B, ...]`; `timesteps`: `B` 0-based steps. Returns `[B, ...]`.
    pub fn x0<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<D> {
        let x0 = self.prediction.x0(self.schedule, x_t, timesteps, output);
        if self.clip_x0 { x0.clamp(-1.0, 1.0) } else { x0 }
    }

    /// The estimate of the noise at x_t, from the unclipped output (as diffusers' DDIM does).
    ///
    /// Shapes: `x_t`, `output`: `[B, ...]`; returns `[B, ...]`.
    pub fn eps<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<D> {
        self.prediction.eps(self.schedule, x_t, timesteps, output)
    }
}
