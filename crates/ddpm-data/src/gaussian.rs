//! The 1-D Gaussian toy problem: data from N(mean, std^2), and how far samples are from it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::DataError;

/// The normal distribution N(mean, std^2) on the real line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normal1d {
    pub mean: f64,
    pub std: f64,
}

impl Normal1d {
    pub fn new(mean: f64, std: f64) -> Result<Self, DataError> {
        if !mean.is_finite() {
            return Err(DataError::InvalidParameter(format!("the mean must be a finite number (got {mean})")));
        }
        if !(std > 0.0 && std.is_finite()) {
            return Err(DataError::InvalidParameter(format!("the standard deviation must be > 0 and finite (got {std})")));
        }
        Ok(Self { mean, std })
    }

    pub fn pdf(&self, x: f64) -> f64 {
        let z = (x - self.mean) / self.std;
        (-0.5 * z * z).exp() / (self.std * (2.0 * std::f64::consts::PI).sqrt())
    }

    pub fn cdf(&self, x: f64) -> f64 {
        standard_cdf((x - self.mean) / self.std)
    }

    /// The Kolmogorov-Smirnov statistic sup_x |F_n(x) - F(x)| of `samples` against this law.
    /// Under the null it is about 1.36 / sqrt(n) at the 95% level (0.043 for n = 1000).
    pub fn ks_statistic(&self, samples: &[f32]) -> f64 {
        let sorted = sorted(samples);
        let n = sorted.len() as f64;
        sorted
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = self.cdf(x);
                (f - i as f64 / n).max((i + 1) as f64 / n - f)
            })
            .fold(0.0, f64::max)
    }

    /// The 1-Wasserstein distance between the empirical law of `samples` and this one, computed exactly
    /// as the integral of |F_n(x) - F(x)| with the closed form of the integral of the normal CDF.
    pub fn wasserstein1(&self, samples: &[f32]) -> f64 {
        let sorted = sorted(samples);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let n = sorted.len();
        let z: Vec<f64> = sorted.iter().map(|&x| (x - self.mean) / self.std).collect();
        // Left tail: F_n = 0, integral of Phi up to z_1. Right tail: F_n = 1, integral of 1 - Phi.
        let mut total = phi_integral(z[0]) + (phi_integral(z[n - 1]) - z[n - 1]);
        for i in 0..n - 1 {
            total += abs_gap_integral(z[i], z[i + 1], (i + 1) as f64 / n as f64);
        }
        total * self.std
    }
}

/// The 1-D Gaussian training set: `len` draws from N(mean, std^2), seeded.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianDataset {
    pub target: Normal1d,
    pub samples: Vec<f32>,
}

impl GaussianDataset {
    pub fn new(target: Normal1d, len: usize, seed: u64) -> Result<Self, DataError> {
        if len == 0 {
            return Err(DataError::InvalidParameter("the dataset needs at least one point (got 0)".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let samples = (0..len).map(|_| (target.mean + target.std * rng.sample::<f64, _>(StandardNormal)) as f32).collect();
        Ok(Self { target, samples })
    }
}

/// Sample mean and (population) standard deviation.
pub fn mean_std(samples: &[f32]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = samples.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn sorted(samples: &[f32]) -> Vec<f64> {
    let mut v: Vec<f64> = samples.iter().map(|&x| x as f64).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn standard_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// An antiderivative of the standard normal CDF: G(z) = z Phi(z) + phi(z), with G(-inf) = 0.
fn phi_integral(z: f64) -> f64 {
    z * standard_cdf(z) + (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The integral over [a, b] of |c - Phi(z)| dz, splitting where Phi crosses the level c.
fn abs_gap_integral(a: f64, b: f64, c: f64) -> f64 {
    let below = |lo: f64, hi: f64| c * (hi - lo) - (phi_integral(hi) - phi_integral(lo)); // Phi <= c
    if b <= a {
        return 0.0;
    }
    if standard_cdf(b) <= c {
        return below(a, b);
    }
    if standard_cdf(a) >= c {
        return -below(a, b);
    }
    let (mut lo, mut hi) = (a, b);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if standard_cdf(mid) < c { lo = mid } else { hi = mid }
    }
    let cross = 0.5 * (lo + hi);
    below(a, cross) - below(cross, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_matches_known_values() {
        let n = Normal1d::new(3.0, 2.0).unwrap();
        assert!((n.cdf(3.0) - 0.5).abs() < 1e-15);
        // Phi(1) = 0.8413447460685429
        assert!((n.cdf(5.0) - 0.841_344_746_068_542_9).abs() < 1e-12);
    }

    #[test]
    fn ks_of_a_single_point_at_the_median_is_one_half() {
        let n = Normal1d::new(0.0, 1.0).unwrap();
        assert!((n.ks_statistic(&[0.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn wasserstein_of_a_point_mass_at_the_mean_is_the_mean_absolute_deviation() {
        // W1(delta_mu, N(mu, s^2)) = E|X - mu| = s sqrt(2 / pi).
        let n = Normal1d::new(3.0, 2.0).unwrap();
        let expected = 2.0 * (2.0 / std::f64::consts::PI).sqrt();
        assert!((n.wasserstein1(&[3.0]) - expected).abs() < 1e-9, "{}", n.wasserstein1(&[3.0]));
    }

    #[test]
    fn wasserstein_of_a_shifted_sample_grows_with_the_shift() {
        let target = Normal1d::new(0.0, 1.0).unwrap();
        let data = GaussianDataset::new(target, 20_000, 1).unwrap().samples;
        let shifted: Vec<f32> = data.iter().map(|x| x + 0.5).collect();
        let (w0, w1) = (target.wasserstein1(&data), target.wasserstein1(&shifted));
        assert!(w0 < 0.02, "a true sample is close: {w0}");
        assert!((w1 - 0.5).abs() < 0.02, "a shift by 0.5 costs 0.5: {w1}");
    }

    #[test]
    fn dataset_is_seeded_and_has_the_requested_moments() {
        let target = Normal1d::new(3.0, 2.0).unwrap();
        let a = GaussianDataset::new(target, 50_000, 7).unwrap();
        assert_eq!(a, GaussianDataset::new(target, 50_000, 7).unwrap());
        let (mean, std) = mean_std(&a.samples);
        assert!((mean - 3.0).abs() < 0.03 && (std - 2.0).abs() < 0.03, "{mean} {std}");
        assert!(target.ks_statistic(&a.samples) < 0.01);
    }

    #[test]
    fn bad_parameters_are_rejected_with_a_reason() {
        assert!(Normal1d::new(0.0, 0.0).unwrap_err().to_string().contains("standard deviation"));
        assert!(Normal1d::new(f64::NAN, 1.0).unwrap_err().to_string().contains("mean"));
        let target = Normal1d::new(0.0, 1.0).unwrap();
        assert!(GaussianDataset::new(target, 0, 0).unwrap_err().to_string().contains("at least one"));
    }
}
