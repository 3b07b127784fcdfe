//! The kernel distance of KID (Bińkowski et al. 2018): an unbiased MMD^2 with the cubic polynomial kernel.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::Features;

/// KID's estimate: the mean of the unbiased MMD^2 over random subsets, and its standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelDistance {
    pub mean: f64,
    pub std: f64,
}

/// Subsets averaged (the reference implementation uses 100 of 1000; 10 keep an evaluation quick).
const SUBSETS: usize = 10;
/// The largest subset drawn from each set.
const SUBSET_SIZE: usize = 1000;

/// MMD^2 between `a` and `b` with k(x, y) = (x . y / d + 1)^3, on `SUBSETS` seeded random subsets of
/// min(|a|, |b|, 1000) rows each.
///
/// # Panics
/// When the dimensions differ or either set has fewer than two rows.
pub fn kernel_distance(a: &Features, b: &Features, seed: u64) -> KernelDistance {
    assert_eq!(a.dim, b.dim, "feature dimensions differ");
    let m = a.rows.min(b.rows).min(SUBSET_SIZE);
    assert!(m >= 2, "KID needs at least two rows in each set");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let estimates: Vec<f64> = (0..SUBSETS)
        .map(|_| {
            let x = a.select(&sample(&mut rng, a.rows, m).into_vec());
            let y = b.select(&sample(&mut rng, b.rows, m).into_vec());
            unbiased_mmd2(&x, &y)
        })
        .collect();
    let mean = estimates.iter().sum::<f64>() / SUBSETS as f64;
    let std = (estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / SUBSETS as f64).sqrt();
    KernelDistance { mean, std }
}

/// mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j), for equal-size sets.
fn unbiased_mmd2(x: &Features, y: &Features) -> f64 {
    let (m, d) = (x.rows as f64, x.dim as f64);
    let kernel = |u: &[f32], v: &[f32]| (u.iter().zip(v).map(|(a, b)| a * b).sum::<f32>() as f64 / d + 1.0).powi(3);
    let within = |f: &Features| -> f64 {
        (0..f.rows)
            .flat_map(|i| (0..f.rows).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| kernel(f.row(i), f.row(j)))
            .sum::<f64>()
            / (m * (m - 1.0))
    };
    let across: f64 =
        (0..x.rows).flat_map(|i| (0..y.rows).map(move |j| (i, j))).map(|(i, j)| kernel(x.row(i), y.row(j))).sum::<f64>() / (m * m);
    within(x) + within(y) - 2.0 * across
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_near_zero_for_one_law_and_positive_for_two() {
        // Two independent draws of one law: unbiased, so about 0 (either sign); a shifted law: clearly positive.
        let draw = |seed: u64, shift: f32| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let values =
                (0..400 * 4).map(|_| rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, &mut rng) + shift).collect();
            Features::new(values, 400, 4)
        };
        let same = kernel_distance(&draw(1, 0.0), &draw(2, 0.0), 0);
        let shifted = kernel_distance(&draw(1, 0.0), &draw(3, 0.5), 0);
        assert!(shifted.mean > 0.2 && same.mean.abs() < shifted.mean / 20.0, "same law {same:?}, shifted {shifted:?}");
    }
}
