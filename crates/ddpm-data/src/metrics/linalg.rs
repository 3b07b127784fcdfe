//! The one piece of dense linear algebra the metrics need: eigen-decomposition of a symmetric matrix.

/// Eigenvalues and eigenvectors of the symmetric `n x n` matrix `a` (row-major), by cyclic Jacobi
/// rotations: slow (O(n^3) per sweep) but simple and accurate to rounding, plenty for n of a few hundred.
/// Returns `(values, vectors)` with eigenvector `k` in column `k` of `vectors` (row-major `n x n`).
pub fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "a {n} x {n} matrix needs {} values", n * n);
    let mut v: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q))).map(|(p, q)| a[p * n + q].powi(2)).sum();
        if off.sqrt() <= 1e-15 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.4.1).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The square root of a symmetric positive semi-definite matrix (negative rounding noise in its
/// eigenvalues is treated as 0).
pub fn sqrt_psd(a: &[f64], n: usize) -> Vec<f64> {
    let (values, vectors) = symmetric_eigen(a.to_vec(), n);
    let roots: Vec<f64> = values.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n).map(|k| vectors[i * n + k] * roots[k] * vectors[j * n + k]).sum();
        }
    }
    out
}

/// `a b` for `n x n` row-major matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            out[i * n..(i + 1) * n].iter_mut().zip(&b[k * n..(k + 1) * n]).for_each(|(o, &bkj)| *o += aik * bkj);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_decomposition_reconstructs_the_matrix() {
        // A random symmetric 6 x 6 matrix: V diag(values) V^T must give it back, and V must be orthogonal.
        let n = 6;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let x = ((i * 7 + j * 13) % 11) as f64 - 5.0 + 0.1 * i as f64;
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let (values, v) = symmetric_eigen(a.clone(), n);
        for i in 0..n {
            for j in 0..n {
                let rebuilt: f64 = (0..n).map(|k| v[i * n + k] * values[k] * v[j * n + k]).sum();
                let identity: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
                assert!((rebuilt - a[i * n + j]).abs() < 1e-10, "({i}, {j}): {rebuilt} vs {}", a[i * n + j]);
                assert!((identity - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn square_root_of_a_2x2_matches_the_closed_form() {
        // For a 2x2 SPD matrix M, sqrt(M) = (M + sqrt(det M) I) / sqrt(tr M + 2 sqrt(det M)).
        let m = [5.0, 2.0, 2.0, 3.0];
        let det: f64 = 5.0 * 3.0 - 4.0;
        let denominator = (8.0 + 2.0 * det.sqrt()).sqrt();
        let expected = [(5.0 + det.sqrt()) / denominator, 2.0 / denominator, 2.0 / denominator, (3.0 + det.sqrt()) / denominator];
        let root = sqrt_psd(&m, 2);
        root.iter().zip(expected).for_each(|(r, e)| assert!((r - e).abs() < 1e-12, "{r} vs {e}"));
        let squared = matmul(&root, &root, 2);
        squared.iter().zip(m).for_each(|(s, e)| assert!((s - e).abs() < 1e-12));
    }
}
