//! The Gaussian log-likelihoods of the variational bound (Ho et al. 2020, eq. 5): the KL between two
//! diagonal Gaussians, and the likelihood of 8-bit data under a Gaussian integrated over each pixel's
//! bin, as improved DDPM computes them (Nichol & Dhariwal 2021, `losses.py`). The bound's evaluation
//! (`ddpm_sample::VariationalBound`) and the learned-variance training loss share them.

use burn::tensor::Tensor;

/// The half-width of one of the 256 pixel bins of data scaled to [-1, 1].
const HALF_BIN: f32 = 1.0 / 255.0;
/// The floor of the probabilities whose log is taken, as in improved DDPM.
const MIN_PROBABILITY: f32 = 1e-12;

/// KL(N(mean1, exp(log_var1)) || N(mean2, exp(log_var2))), element by element, in nats:
/// `(-1 + log_var2 - log_var1 + exp(log_var1 - log_var2) + (mean1 - mean2)^2 exp(-log_var2)) / 2`.
/// Shapes broadcast (a `[B, 1, ..., 1]` variance against `[B, ...]` means).
pub fn normal_kl<const D: usize>(mean1: Tensor<D>, log_var1: Tensor<D>, mean2: Tensor<D>, log_var2: Tensor<D>) -> Tensor<D> {
    let squared = (mean1 - mean2).powi_scalar(2) * log_var2.clone().neg().exp();
    (log_var2.clone() - log_var1.clone() + (log_var1 - log_var2).exp() + squared).sub_scalar(1.0).mul_scalar(0.5)
}

/// The standard normal CDF by the tanh approximation of improved DDPM (and GPT-2's GELU):
/// `(1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2`, accurate to about 1e-4.
pub fn approx_standard_normal_cdf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let cubic = x.clone().powi_scalar(3).mul_scalar(0.044715);
    (x + cubic).mul_scalar((2.0 / std::f64::consts::PI).sqrt()).tanh().add_scalar(1.0).mul_scalar(0.5)
}

/// The log-probability of 8-bit data `x` (in [-1, 1]) under N(means, exp(log_scales)^2) integrated over
/// each value's bin (`x +- 1/255`; the bins of -1 and 1 extend to -inf and +inf), element by element,
/// in nats: improved DDPM's `discretized_gaussian_log_likelihood`. `log_scales` broadcasts.
pub fn discretized_gaussian_log_likelihood<const D: usize>(x: Tensor<D>, means: Tensor<D>, log_scales: Tensor<D>) -> Tensor<D> {
    let centered = x.clone() - means;
    let inv_std = log_scales.neg().exp();
    let cdf_plus = approx_standard_normal_cdf(centered.clone().add_scalar(HALF_BIN) * inv_std.clone());
    let cdf_min = approx_standard_normal_cdf(centered.sub_scalar(HALF_BIN) * inv_std);
    let log_cdf_plus = cdf_plus.clone().clamp_min(MIN_PROBABILITY).log();
    let log_one_minus_cdf_min = cdf_min.clone().neg().add_scalar(1.0).clamp_min(MIN_PROBABILITY).log();
    let log_cdf_delta = (cdf_plus - cdf_min).clamp_min(MIN_PROBABILITY).log();
    log_cdf_delta.mask_where(x.clone().greater_elem(0.999), log_one_minus_cdf_min).mask_where(x.lower_elem(-0.999), log_cdf_plus)
}

/// The mean over every dimension but the first, per example, in bits (`nats / ln 2`).
///
/// Shapes: `[B, ...]` -> `[B]`.
pub fn bits_per_dim<const D: usize>(nats: Tensor<D>) -> Tensor<1> {
    let batch = nats.dims()[0];
    nats.reshape([batch as i64, -1]).mean_dim(1).reshape([batch]).div_scalar(std::f64::consts::LN_2)
}
