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
        // Whole pairs from the one holding value `start` (an odd start is the second of its pair).
        let first_pair = start / 2;
        let pairs = (start + out.len()).div_ceil(2) - first_pair;
        let mut rng = self.stream(draw);
        rng.set_word_pos(first_pair as u128 * 4); // two u64 (four u32 words) per pair
        let mut values = vec![0.0; 2 * pairs];
        box_muller(&mut rng, &mut values);
        out.copy_from_slice(&values[start % 2..][..out.len()]);
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

/// How many Box-Muller pairs [`box_muller`] computes side by side: enough lanes for the compiler to
/// vectorise `ln_unit` and `sin_cos_turns`, whose polynomials replaced libm's scalar calls (3x faster
/// per pair, the same f32 values).
const PAIRS_AT_ONCE: usize = 8;

/// Fills `out` (an even length) with pairs of independent N(0, 1) values, two uniform 64-bit words
/// `(a, b)` from `rng` per pair: `sqrt(-2 ln u_a) (cos 2 pi u_b, sin 2 pi u_b)` (the Box-Muller
/// transform), computed in f64.
fn box_muller(rng: &mut ChaCha8Rng, out: &mut [f32]) {
    for chunk in out.chunks_mut(2 * PAIRS_AT_ONCE) {
        // Lanes past the chunk's pairs stay at 0.5, a harmless input.
        let (mut radius_unit, mut angle_unit) = ([0.5; PAIRS_AT_ONCE], [0.5; PAIRS_AT_ONCE]);
        for (a, b) in radius_unit.iter_mut().zip(&mut angle_unit).take(chunk.len() / 2) {
            (*a, *b) = (unit(rng.next_u64()), unit(rng.next_u64()));
        }
        let (mut radius, mut sin, mut cos) = ([0.0; PAIRS_AT_ONCE], [0.0; PAIRS_AT_ONCE], [0.0; PAIRS_AT_ONCE]);
        for lane in 0..PAIRS_AT_ONCE {
            radius[lane] = (-2.0 * ln_unit(radius_unit[lane])).sqrt();
            (sin[lane], cos[lane]) = sin_cos_turns(angle_unit[lane]);
        }
        for (lane, pair) in chunk.chunks_exact_mut(2).enumerate() {
            (pair[0], pair[1]) = ((radius[lane] * cos[lane]) as f32, (radius[lane] * sin[lane]) as f32);
        }
    }
}

/// A uniform 64-bit word as a number in (0, 1): its top 53 bits, centred in their interval.
fn unit(word: u64) -> f64 {
    ((word >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// `ln u` for `u` in (0, 1), to within 1e-15 relative: `u = m 2^e` with `m` in [sqrt(1/2), sqrt(2)),
/// and `ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...)` with `s = (m - 1) / (m + 1)`, `|s| <= 0.172`:
/// the series through `s^21` (the next term is below 1e-18).
#[inline(always)]
fn ln_unit(u: f64) -> f64 {
    const SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;
    // Shifting the bits by 1.0 - sqrt(1/2) moves the exponent's step from m = 1 to m = sqrt(1/2).
    let shifted = u.to_bits().wrapping_add(1f64.to_bits() - SQRT_HALF_BITS);
    let exponent = ((shifted >> 52) as i32 - 0x3ff) as f64;
    let m = f64::from_bits((shifted & ((1 << 52) - 1)) + SQRT_HALF_BITS);
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let series = ATANH_SERIES.iter().rev().fold(0.0, |sum, c| sum * z + c);
    exponent * std::f64::consts::LN_2 + 2.0 * s * series
}

/// `(sin 2 pi u, cos 2 pi u)` for `u` in [0, 1), to within 1e-15: `u` is cut to the nearest quarter
/// turn `q / 4` (exactly), the rest `x = 2 pi (u - q / 4)` in [-pi/4, pi/4] goes through the Taylor
/// series through `x^17` and `x^16` (the next terms are below 1e-17), and the quarter turn rotates
/// the result.
#[inline(always)]
fn sin_cos_turns(u: f64) -> (f64, f64) {
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: adding it rounds [0, 4] to integers.
    let quarter = (4.0 * u + ROUND) - ROUND;
    let x = std::f64::consts::TAU * (u - 0.25 * quarter);
    let z = x * x;
    // sin x = x (1 - z/3! + z^2/5! - ...), cos x = 1 - z/2! + z^2/4! - ...
    let sin = x * SIN_SERIES.iter().rev().fold(0.0, |sum, c| sum * z + c);
    let cos = COS_SERIES.iter().rev().fold(0.0, |sum, c| sum * z + c);
    // Quarter turn q maps (sin, cos) to (cos, -sin), (-sin, -cos), (-cos, sin) for q = 1, 2, 3.
    let (sin, cos) = if quarter == 1.0 || quarter == 3.0 { (cos, sin) } else { (sin, cos) };
    let sin = if quarter == 2.0 || quarter == 3.0 { -sin } else { sin };
    let cos = if quarter == 1.0 || quarter == 2.0 { -cos } else { cos };
    (sin, cos)
}

/// `1 / (2k + 1)`, k = 0..11: the series of `atanh(s) / s` in `s^2`.
const ATANH_SERIES: [f64; 11] = {
    let mut series = [0.0; 11];
    let mut k = 0;
    while k < series.len() {
        series[k] = 1.0 / (2 * k + 1) as f64;
        k += 1;
    }
    series
};

/// The series of `sin x / x` in `x^2`: `(-1)^k / (2k + 1)!`, k = 0..9.
const SIN_SERIES: [f64; 9] = alternating_inverse_factorials(1);

/// The series of `cos x` in `x^2`: `(-1)^k / (2k)!`, k = 0..9.
const COS_SERIES: [f64; 9] = alternating_inverse_factorials(0);

/// `(-1)^k / (2k + first)!` for k = 0..N (exact factorials: 17! < 2^53).
const fn alternating_inverse_factorials<const N: usize>(first: usize) -> [f64; N] {
    let mut series = [0.0; N];
    let mut k = 0;
    while k < N {
        let mut factorial = 1.0;
        let mut i = 2;
        while i <= 2 * k + first {
            factorial *= i as f64;
            i += 1;
        }
        series[k] = if k % 2 == 0 { 1.0 / factorial } else { -1.0 / factorial };
        k += 1;
    }
    series
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

    /// The polynomials against libm on a million inputs, and the f32 normal values they give against
    /// the transform computed by libm's `ln` and `sin_cos` (the noise before they replaced them).
    #[test]
    fn the_transform_matches_libm() {
        let mut rng = NoiseRng::new(11).stream(0);
        let pairs = 500_000;
        let words: Vec<u64> = (0..2 * pairs).map(|_| rng.next_u64()).collect();
        for &word in &words {
            let u = unit(word);
            assert!((ln_unit(u) - u.ln()).abs() <= 1e-15 * u.ln().abs(), "ln {u}");
            let (sin, cos) = sin_cos_turns(u);
            let (libm_sin, libm_cos) = (std::f64::consts::TAU * u).sin_cos();
            assert!((sin - libm_sin).abs() < 1e-15 && (cos - libm_cos).abs() < 1e-15, "sin_cos {u}");
        }
        let libm: Vec<f32> = words
            .chunks_exact(2)
            .flat_map(|pair| {
                let radius = (-2.0 * unit(pair[0]).ln()).sqrt();
                let (sin, cos) = (std::f64::consts::TAU * unit(pair[1])).sin_cos();
                [(radius * cos) as f32, (radius * sin) as f32]
            })
            .collect();
        let mut values = vec![0.0; 2 * pairs];
        box_muller(&mut NoiseRng::new(11).stream(0), &mut values);
        assert_eq!(values, libm);
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
