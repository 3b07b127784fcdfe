//! The Fréchet distance between two Gaussians, the formula of FID (Heusel et al. 2017).

use super::GaussianStats;
use super::linalg::{matmul, sqrt_psd, symmetric_eigen};

/// d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^{1/2} S_b S_a^{1/2})^{1/2}).
///
/// The cross term is computed on the symmetric matrix S_a^{1/2} S_b S_a^{1/2}, which has the same
/// eigenvalues as S_a S_b but no complex rounding (scipy's `sqrtm(S_a S_b)` route can give them).
///
/// # Panics
/// When the two have different dimensions.
pub fn frechet_distance(a: &GaussianStats, b: &GaussianStats) -> f64 {
    let d = a.dim();
    assert_eq!(d, b.dim(), "feature dimensions differ: {d} vs {}", b.dim());
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
    let trace = |m: &[f64]| (0..d).map(|i| m[i * d + i]).sum::<f64>();
    let root_a = sqrt_psd(&a.covariance, d);
    let middle = matmul(&matmul(&root_a, &b.covariance, d), &root_a, d);
    let symmetric: Vec<f64> = (0..d * d).map(|k| 0.5 * (middle[k] + middle[(k % d) * d + k / d])).collect();
    let (values, _) = symmetric_eigen(symmetric, d);
    let cross: f64 = values.iter().map(|&l| l.max(0.0).sqrt()).sum();
    (mean_term + trace(&a.covariance) + trace(&b.covariance) - 2.0 * cross).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(mean: Vec<f64>, covariance: Vec<f64>) -> GaussianStats {
        GaussianStats { mean, covariance }
    }

    #[test]
    fn matches_closed_forms() {
        // Identical Gaussians: 0.
        let a = stats(vec![1.0, -2.0], vec![2.0, 0.5, 0.5, 1.0]);
        assert!(frechet_distance(&a, &a).abs() < 1e-10);
        // Diagonal covariances: sum over axes of (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2.
        let a = stats(vec![0.0, 1.0, 2.0], vec![4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 9.0]);
        let b = stats(vec![1.0, 1.0, 0.0], vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.25]);
        let expected = 1.0 + (2.0f64 - 1.0).powi(2) + 0.0 + 4.0 + (3.0f64 - 0.5).powi(2);
        assert!((frechet_distance(&a, &b) - expected).abs() < 1e-9, "{} vs {expected}", frechet_distance(&a, &b));
        // Non-commuting 2x2 covariances: M = S_a^{1/2} S_b S_a^{1/2} has tr M = tr(S_a S_b) and
        // det M = det S_a det S_b, and tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
        let (sa, sb) = ([4.0, 1.5, 1.5, 1.0], [1.0, -0.3, -0.3, 2.0]);
        let a = stats(vec![0.5, 0.0], sa.to_vec());
        let b = stats(vec![0.0, 1.0], sb.to_vec());
        let tr_ab = sa[0] * sb[0] + sa[1] * sb[2] + sa[2] * sb[1] + sa[3] * sb[3];
        let det = |m: [f64; 4]| m[0] * m[3] - m[1] * m[2];
        let cross = (tr_ab + 2.0 * (det(sa) * det(sb)).sqrt()).sqrt();
        let expected = 0.25 + 1.0 + 5.0 + 3.0 - 2.0 * cross;
        for d in [frechet_distance(&a, &b), frechet_distance(&b, &a)] {
            assert!((d - expected).abs() < 1e-9, "{d} vs {expected}");
        }
    }
}
