//! Feature matrices and their Gaussian summary.

/// `rows` feature vectors of `dim` values each, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub rows: usize,
    pub dim: usize,
    pub values: Vec<f32>,
}

impl Features {
    /// # Panics
    /// When `values.len()` is not `rows * dim`.
    pub fn new(values: Vec<f32>, rows: usize, dim: usize) -> Self {
        assert_eq!(values.len(), rows * dim, "{rows} feature rows of {dim} values need {} values, got {}", rows * dim, values.len());
        Self { rows, dim, values }
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self::new(indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect(), indices.len(), self.dim)
    }
}

/// Mean and (unbiased) covariance of a feature set: what FID compares.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianStats {
    pub mean: Vec<f64>,
    /// `dim x dim`, row-major.
    pub covariance: Vec<f64>,
}

impl GaussianStats {
    /// # Panics
    /// With fewer than two rows, where a covariance is undefined.
    pub fn of(features: &Features) -> Self {
        let (n, d) = (features.rows, features.dim);
        assert!(n >= 2, "a covariance needs at least two feature rows, got {n}");
        let mut mean = vec![0.0; d];
        for i in 0..n {
            mean.iter_mut().zip(features.row(i)).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut covariance = vec![0.0; d * d];
        let mut centred = vec![0.0; d];
        for i in 0..n {
            centred.iter_mut().zip(features.row(i)).zip(&mean).for_each(|((c, &v), m)| *c = v as f64 - m);
            for (a, &ca) in centred.iter().enumerate() {
                let row = &mut covariance[a * d..(a + 1) * d];
                row.iter_mut().zip(&centred).for_each(|(cov, &cb)| *cov += ca * cb);
            }
        }
        covariance.iter_mut().for_each(|c| *c /= (n - 1) as f64);
        Self { mean, covariance }
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}
