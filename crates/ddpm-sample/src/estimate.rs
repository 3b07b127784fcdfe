//! Reading a network's output: whatever it predicts (eps, x_0 or v), a sampler needs estimates of
//! x_0 and of the noise, and may clip the x_0 estimate to the data range.

use burn::tensor::Tensor;
use ddpm_core::{ModelVariance, NoiseSchedule, Prediction};

/// The schedule a network was trained on, what it predicts, whether it also outputs its variance, and
/// whether its x_0 estimate is clipped to [-1, 1] (diffusers' `prediction_type`, `variance_type` and
/// `clip_sample`). Every sampler reads model outputs through it.
#[derive(Debug, Clone, Copy)]
pub struct Estimator<'a> {
    schedule: &'a NoiseSchedule,
    prediction: Prediction,
    variance: ModelVariance,
    clip_x0: bool,
}

impl<'a> Estimator<'a> {
    /// Reads the output of a network trained on `schedule` to predict `prediction` (and no variance),
    /// without clipping.
    pub fn new(schedule: &'a NoiseSchedule, prediction: Prediction) -> Self {
        Self { schedule, prediction, variance: ModelVariance::Fixed, clip_x0: false }
    }

    /// Reads the variance values a network that learns its variance outputs after its prediction.
    pub fn with_variance(mut self, variance: ModelVariance) -> Self {
        self.variance = variance;
        self
    }

    /// Clamps the x_0 estimate to [-1, 1], the range the project's data is scaled to.
    pub fn with_clip_x0(mut self, clip: bool) -> Self {
        self.clip_x0 = clip;
        self
    }

    pub fn schedule(&self) -> &'a NoiseSchedule {
        self.schedule
    }

    pub fn variance(&self) -> ModelVariance {
        self.variance
    }

    /// The estimate of x_0 at x_t, clipped when asked.
    ///
    /// Shapes: `x_t`: `[B, ...]`; `output`: the network's, `[B, ...]` (twice the channels when it learns
    /// its variance); `timesteps`: `B` 0-based steps. Returns `[B, ...]`.
    pub fn x0<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<D> {
        let prediction = self.prediction_part(&x_t, output);
        let x0 = self.prediction.x0(self.schedule, x_t, timesteps, prediction);
        if self.clip_x0 { x0.clamp(-1.0, 1.0) } else { x0 }
    }

    /// The estimate of the noise at x_t, from the unclipped output (as diffusers' DDIM does).
    ///
    /// Shapes: as [`Estimator::x0`].
    pub fn eps<const D: usize>(&self, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<D> {
        let prediction = self.prediction_part(&x_t, output);
        self.prediction.eps(self.schedule, x_t, timesteps, prediction)
    }

    /// The variance values v of a network that learns its variance (improved DDPM's, between -1 for
    /// beta-tilde and 1 for beta); `None` when its variance is fixed.
    ///
    /// Shapes: as [`Estimator::x0`].
    pub fn variance_values<const D: usize>(&self, x_t: &Tensor<D>, output: Tensor<D>) -> Option<Tensor<D>> {
        self.variance.split(output, x_t.dims()[1]).1
    }

    /// The prediction's channels of a network output.
    fn prediction_part<const D: usize>(&self, x_t: &Tensor<D>, output: Tensor<D>) -> Tensor<D> {
        self.variance.split(output, x_t.dims()[1]).0
    }
}
