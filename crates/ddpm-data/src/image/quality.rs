//! How close a generated image is to its target: PSNR and SSIM, on pixels in [0, 1].

/// Side of SSIM's Gaussian window; images smaller than this have no SSIM.
const SSIM_WINDOW: usize = 11;
const SSIM_SIGMA: f64 = 1.5;
const SSIM_K1: f64 = 0.01;
const SSIM_K2: f64 = 0.03;

/// Peak signal-to-noise ratio of `test` against `reference`, in dB, for pixels in [0, 1]:
/// `10 log10(1 / MSE)`. Infinite when the two are equal.
///
/// # Panics
/// When the slices differ in length or are empty.
pub fn psnr(reference: &[f32], test: &[f32]) -> f64 {
    assert!(reference.len() == test.len() && !reference.is_empty(), "PSNR needs two images of the same, non-zero size");
    let squared_error: f64 = reference.iter().zip(test).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    -10.0 * (squared_error / reference.len() as f64).log10()
}

/// Structural similarity (Wang et al. 2004) of `test` against `reference`, both `[channels, height,
/// width]` with pixels in [0, 1]: local means, variances and covariance under an 11 x 11 Gaussian
/// window (sigma 1.5), K1 = 0.01, K2 = 0.03, averaged over every position where the window fits
/// and then over the channels. These are the paper's settings, and scikit-image's with
/// `gaussian_weights=True, use_sample_covariance=False, data_range=1`.
///
/// `None` when the image is smaller than the window.
///
/// # Panics
/// When a slice's length is not the shape's.
pub fn ssim(reference: &[f32], test: &[f32], shape: [usize; 3]) -> Option<f64> {
    let [channels, height, width] = shape;
    let plane = height * width;
    assert!(reference.len() == channels * plane && test.len() == channels * plane, "SSIM: slices do not match the shape {shape:?}");
    if height < SSIM_WINDOW || width < SSIM_WINDOW || channels == 0 {
        return None;
    }
    let kernel = gaussian_kernel();
    let (c1, c2) = ((SSIM_K1).powi(2), (SSIM_K2).powi(2));
    let mut total = 0.0;
    for c in 0..channels {
        let x: Vec<f64> = reference[c * plane..(c + 1) * plane].iter().map(|&v| f64::from(v)).collect();
        let y: Vec<f64> = test[c * plane..(c + 1) * plane].iter().map(|&v| f64::from(v)).collect();
        let local_mean = |values: &[f64]| filter_valid(values, height, width, &kernel);
        let product = |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(p, q)| p * q).collect() };
        let (mean_x, mean_y) = (local_mean(&x), local_mean(&y));
        let (mean_xx, mean_yy, mean_xy) = (local_mean(&product(&x, &x)), local_mean(&product(&y, &y)), local_mean(&product(&x, &y)));
        let map_sum: f64 = (0..mean_x.len())
            .map(|i| {
                let (mx, my) = (mean_x[i], mean_y[i]);
                let (var_x, var_y, cov) = (mean_xx[i] - mx * mx, mean_yy[i] - my * my, mean_xy[i] - mx * my);
                ((2.0 * mx * my + c1) * (2.0 * cov + c2)) / ((mx * mx + my * my + c1) * (var_x + var_y + c2))
            })
            .sum();
        total += map_sum / mean_x.len() as f64;
    }
    Some(total / channels as f64)
}

/// The normalised 1-D Gaussian of the window.
fn gaussian_kernel() -> Vec<f64> {
    let radius = (SSIM_WINDOW / 2) as f64;
    let weights: Vec<f64> = (0..SSIM_WINDOW).map(|i| (-(i as f64 - radius).powi(2) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp()).collect();
    let sum: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / sum).collect()
}

/// Separable 2-D filtering of a `height` x `width` plane, keeping only positions where the whole
/// window lies inside: `(height - k + 1) x (width - k + 1)` values.
fn filter_valid(values: &[f64], height: usize, width: usize, kernel: &[f64]) -> Vec<f64> {
    let k = kernel.len();
    let (out_h, out_w) = (height - k + 1, width - k + 1);
    let rows: Vec<f64> = (0..height)
        .flat_map(|r| (0..out_w).map(move |c| (r, c)))
        .map(|(r, c)| kernel.iter().enumerate().map(|(i, w)| w * values[r * width + c + i]).sum())
        .collect();
    (0..out_h)
        .flat_map(|r| (0..out_w).map(move |c| (r, c)))
        .map(|(r, c)| kernel.iter().enumerate().map(|(i, w)| w * rows[(r + i) * out_w + c]).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth two-channel 16 x 12 test pattern and a distorted copy (gain, offset, a ripple).
    fn pattern() -> (Vec<f32>, Vec<f32>) {
        let (h, w) = (16, 12);
        let reference: Vec<f32> = (0..2 * h * w)
            .map(|i| {
                let (c, r, x) = (i / (h * w), (i / w) % h, i % w);
                0.5 + 0.4 * ((r as f32 * 0.7 + c as f32).sin() * (x as f32 * 0.45).cos())
            })
            .collect();
        let test = reference.iter().enumerate().map(|(i, &v)| 0.9 * v + 0.03 + 0.05 * (i as f32 * 1.3).sin()).collect();
        (reference, test)
    }

    #[test]
    fn psnr_of_a_known_error() {
        // Every pixel off by 0.1: MSE 0.01, PSNR 20 dB.
        let a = vec![0.5f32; 64];
        let b = vec![0.6f32; 64];
        assert!((psnr(&a, &b) - 20.0).abs() < 1e-5);
        assert!(psnr(&a, &a).is_infinite());
    }

    #[test]
    fn ssim_matches_scikit_image() {
        // Reference values from scikit-image 0.26 (the pattern rebuilt in float32 numpy):
        //   structural_similarity(ref[c], test[c], gaussian_weights=True, sigma=1.5,
        //                         use_sample_covariance=False, data_range=1.0), averaged over c.
        let (reference, test) = pattern();
        let ours = ssim(&reference, &test, [2, 16, 12]).unwrap();
        assert!((ours - SKIMAGE_SSIM).abs() < 1e-6, "{ours} vs {SKIMAGE_SSIM}");
        assert!((psnr(&reference, &test) - SKIMAGE_PSNR).abs() < 1e-4);
        assert!((ssim(&reference, &reference, [2, 16, 12]).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(ssim(&reference[..2 * 10 * 12], &test[..2 * 10 * 12], [2, 10, 12]), None, "10 rows is less than the window");
    }

    const SKIMAGE_SSIM: f64 = 0.973_023_992_237_139_1;
    const SKIMAGE_PSNR: f64 = 26.899_857_575_277_203;
}
