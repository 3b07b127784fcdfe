//! SDEdit (Meng et al. 2022), diffusers' img2img: diffuse a given image part way with q(x_t | x_0), then
//! run the last part of a sampler's chain from there. The strength S in [0, 1] is the share of the
//! chain that is run: 0 returns the image, 1 samples from fresh noise; in between, the larger S, the
//! more of the image the model redraws.

use burn::tensor::Tensor;
use ddpm_core::NoiseSchedule;

use crate::{ChainStart, Sampler, StepMemory};

/// The last steps of a sampler's chain, as a sampler of its own: the part img2img runs. A multistep
/// solver warms up again from its first step here (it has no earlier estimates).
#[derive(Debug, Clone, Copy)]
pub struct SamplerTail<'s, S> {
    sampler: &'s S,
    /// Steps of the whole chain left out at its start.
    skip: usize,
}

impl<'s, S: Sampler> SamplerTail<'s, S> {
    /// The part of `sampler`'s n steps that img2img runs at `strength`: the last floor(S n), as
    /// diffusers counts them (`int(num_inference_steps * strength)`).
    ///
    /// # Panics
    /// When `strength` is outside [0, 1].
    pub fn at_strength(sampler: &'s S, strength: f64) -> Self {
        assert!((0.0..=1.0).contains(&strength), "strength must be in [0, 1], got {strength}");
        let steps = sampler.timesteps().len();
        // The tolerance keeps 0.3 x 10 (= 3.0000000000000004 or 2.9999999999999996) at 3 steps.
        let kept = ((strength * steps as f64 + 1e-9).floor() as usize).min(steps);
        Self { sampler, skip: steps - kept }
    }

    /// Where the tail starts from `clean` data, `[B, ...]`: the data itself when no step is left, fresh
    /// noise when the whole chain is run (exactly what sampling does), and otherwise the data diffused
    /// to the tail's first timestep with the chain's draw for x_T.
    pub fn start<const D: usize>(&self, clean: Tensor<D>, schedule: &NoiseSchedule) -> ChainStart<D> {
        match self.timesteps().first() {
            None => ChainStart::Given(Box::new(clean)),
            Some(_) if self.skip == 0 => ChainStart::Noise(clean.dims()),
            Some(&t) => ChainStart::Diffused { clean: Box::new(clean), alpha_bar: schedule.alphas_cumprod()[t] },
        }
    }
}

impl<S: Sampler> Sampler for SamplerTail<'_, S> {
    fn timesteps(&self) -> &[usize] {
        &self.sampler.timesteps()[self.skip..]
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, memory: &mut StepMemory<D>) -> Tensor<D> {
        self.sampler.step_mean_at(position + self.skip, x_t, output, memory)
    }

    fn noise_std_at(&self, position: usize) -> f64 {
        self.sampler.noise_std_at(position + self.skip)
    }

    fn learned_noise_std_at<const D: usize>(&self, position: usize, x_t: &Tensor<D>, output: &Tensor<D>) -> Option<Tensor<D>> {
        self.sampler.learned_noise_std_at(position + self.skip, x_t, output)
    }
}
