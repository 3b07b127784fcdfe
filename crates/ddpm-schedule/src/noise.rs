//! The project's own seeded randomness for diffusion: Gaussian noise and random timesteps.
//!
//! Drawn on the host from ChaCha8 (a portable, reproducible stream) and uploaded, so one seed gives
//! the same noise on every backend, and a run can be replayed exactly.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A seeded source of N(0, I) noise tensors and uniform timesteps.
#[derive(Debug, Clone)]
pub struct NoiseRng {
    rng: ChaCha8Rng,
}

impl NoiseRng {
    pub fn new(seed: u64) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Standard normal values on the host.
    pub fn normal_vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.rng.sample::<f32, _>(StandardNormal)).collect()
    }

    /// A tensor of independent N(0, 1) values.
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let values = self.normal_vec(shape.iter().product());
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// `count` integers drawn uniformly from `0..upper`: training timesteps (`upper` = T) or
    /// minibatch rows (`upper` = dataset length).
    pub fn uniform_indices(&mut self, count: usize, upper: usize) -> Vec<usize> {
        (0..count).map(|_| self.rng.random_range(0..upper)).collect()
    }
}
