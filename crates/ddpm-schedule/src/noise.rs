//! The project's own seeded randomness for diffusion: Gaussian noise and random timesteps.
//!
//! Counter-based: draw number `k` of a [`NoiseRng`] reads ChaCha8 stream `k` of the seed, and
//! normal value `i` of a draw comes from a fixed position in that stream (Box-Muller on words
//! `4 (i / 2) ..`). So any slice of a draw can be generated on its own, by any thread, and gives
//! the same numbers as the whole draw; the state is just `(seed, draws)`; and, drawn on the host
//! and uploaded, the noise is the same on every backend.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded source of N(0, I) noise tensors and uniform indices.
///
/// It serialises as its `(seed, draws)` state, so a checkpoint can restore it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoiseRng {
    seed: u64,
    draws: u64,
}

impl NoiseRng {
    pub fn new(seed: u64) -> Self {
        Self { seed, draws: 0 }
    }

    /// Starts a new draw and returns its number: every call to a sampling method makes one draw.
    pub fn next_draw(&mut self) -> u64 {
        self.draws += 1;
        self.draws - 1
    }

    /// Reserves `count` consecutive draws and returns the first one's number, for work that draws
    /// them in pieces (e.g. one slice of the batch per thread).
    pub fn reserve_draws(&mut self, count: u64) -> u64 {
        self.draws += count;
        self.draws - count
    }

    /// Rows `first_row .. first_row + shape[0]` of a normal draw whose rows hold
    /// `shape[1..].product()` values each, as a tensor of `shape`.
    pub fn normal_rows<const D: usize>(&self, draw: u64, first_row: usize, shape: [usize; D], device: &Device) -> Tensor<D> {
        let row_len: usize = shape[1..].iter().product();
        let mut values = vec![0.0; shape[0] * row_len];
        self.fill_normal(draw, first_row * row_len, &mut values);
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// The ChaCha8 stream of draw `draw`.
    fn stream(&self, draw: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(draw);
        rng
    }

    /// Values `start .. start + out.len()` of normal draw `draw`, written into `out`.
    pub fn fill_normal(&self, draw: u64, start: usize, out: &mut [f32]) {
        let mut rng = self.stream(draw);
        rng.set_word_pos((start / 2) as u128 * 4); // two u64 (four u32 words) per pair
        let mut pair = || box_muller(rng.next_u64(), rng.next_u64());
        // An odd start begins with the second value of its pair.
        let (head, body) = out.split_at_mut((start % 2).min(out.len()));
        if let [first] = head {
            *first = pair().1;
        }
        let mut pairs = body.chunks_exact_mut(2);
        for values in &mut pairs {
            (values[0], values[1]) = pair();
        }
        if let [last] = pairs.into_remainder() {
            *last = pair().0;
        }
    }

    /// `len` standard normal values on the host: one draw.
    pub fn normal_vec(&mut self, len: usize) -> Vec<f32> {
        let draw = self.next_draw();
        let mut values = vec![0.0; len];
        self.fill_normal(draw, 0, &mut values);
        values
    }

    /// A tensor of independent N(0, 1) values: one draw.
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let draw = self.next_draw();
        self.normal_rows(draw, 0, shape, device)
    }

    /// `len` values drawn uniformly from [0, 1), on the host: one draw.
    pub fn uniform_vec(&mut self, len: usize) -> Vec<f32> {
        let draw = self.next_draw();
        let mut rng = self.stream(draw);
        (0..len).map(|_| rng.random::<f32>()).collect()
    }

    /// `count` integers drawn uniformly from `0..upper`: training timesteps (`upper` = T) or
    /// minibatch rows (`upper` = dataset length). One draw.
    pub fn uniform_indices(&mut self, count: usize, upper: usize) -> Vec<usize> {
        let draw = self.next_draw();
        let mut rng = self.stream(draw);
        (0..count).map(|_| rng.random_range(0..upper)).collect()
    }
}

/// Two independent N(0, 1) values from two uniform 64-bit words (the Box-Muller transform).
fn box_muller(a: u64, b: u64) -> (f32, f32) {
    let unit = |w: u64| ((w >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64); // in (0, 1)
    let radius = (-2.0 * unit(a).ln()).sqrt();
    let (sin, cos) = (std::f64::consts::TAU * unit(b)).sin_cos();
    ((radius * cos) as f32, (radius * sin) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_standard_normal() {
        let values = NoiseRng::new(1).normal_vec(200_000);
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let kurtosis = values.iter().map(|&v| (v as f64 - mean).powi(4)).sum::<f64>() / n / (var * var);
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.01 && (kurtosis - 3.0).abs() < 0.05, "{mean} {var} {kurtosis}");
        let tail = values.iter().filter(|v| v.abs() > 1.96).count() as f64 / n;
        assert!((tail - 0.05).abs() < 0.003, "P(|z| > 1.96) = {tail}");
    }

    #[test]
    fn any_slice_of_a_draw_matches_the_whole_draw() {
        let rng = NoiseRng::new(7);
        let mut whole = vec![0.0; 101];
        rng.fill_normal(3, 0, &mut whole);
        for (start, len) in [(0, 1), (1, 1), (1, 50), (37, 64), (100, 1)] {
            let mut part = vec![0.0; len];
            rng.fill_normal(3, start, &mut part);
            assert_eq!(part, whole[start..start + len], "slice {start}..{}", start + len);
        }
    }

    #[test]
    fn draws_and_seeds_differ_and_replay() {
        let mut a = NoiseRng::new(5);
        let first = a.normal_vec(8);
        assert_ne!(first, a.normal_vec(8), "successive draws are independent");
        assert_eq!(first, NoiseRng::new(5).normal_vec(8), "a seed replays");
        assert_ne!(first, NoiseRng::new(6).normal_vec(8));
        let indices = NoiseRng::new(5).uniform_indices(1000, 10);
        assert!(indices.iter().all(|&i| i < 10) && (0..10).all(|i| indices.contains(&i)));
    }
}
