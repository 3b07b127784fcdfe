use burn::tensor::Tensor;

/// Anything that predicts the noise in a noised batch: eps_theta(x_t, t).
///
/// `D` is the rank of a batch (2 for vectors `[B, features]`, 4 for images `[B, C, H, W]`).
pub trait Denoiser<const D: usize> {
    /// Predicts the noise that was added to reach `x_t`.
    ///
    /// # Shapes
    /// - `x_t`: `[B, ...]`
    /// - `timesteps`: `B` 0-based diffusion steps, one per example
    /// - output: `[B, ...]`, the same shape as `x_t`
    fn predict_noise(&self, x_t: Tensor<D>, timesteps: &[usize]) -> Tensor<D>;
}
