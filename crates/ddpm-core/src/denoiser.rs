use burn::tensor::Tensor;

/// A denoising network: given a noised batch and its timesteps, it returns its prediction, which is the
/// noise eps_theta(x_t, t) of the DDPM paper, or x_0 or the velocity v, whichever it was trained on
/// (`ddpm_core::Prediction` says which, and converts between them). Samplers and the trainer only see
/// this trait, so a trained network, an analytic oracle and a test double are interchangeable.
///
/// `D` is the rank of a batch (2 for vectors `[B, features]`, 4 for images `[B, C, H, W]`). A denoiser is
/// `Sync`: the slices of a batch (`ddpm_exec::Execution`) read it from several threads at once.
pub trait Denoiser<const D: usize>: Sync {
    /// The model output at `x_t`, given each example's class label when the network is class-conditional.
    ///
    /// `classes`: `None` asks for the unconditional output (a conditional network reads it as its null
    /// class, the label it was trained with when the class was dropped); an unconditional network
    /// ignores labels.
    ///
    /// # Shapes
    /// - `x_t`: `[B, ...]`
    /// - `timesteps`: `B` 0-based diffusion steps, one per example
    /// - `classes`: `B` labels, when given
    /// - output: `[B, ...]`, the same shape as `x_t`; for a network that learns its variance
    ///   (`ddpm_core::ModelVariance::LearnedRange`) twice its channels (dimension 1): the prediction,
    ///   then the variance values
    fn predict(&self, x_t: Tensor<D>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<D>;
}
