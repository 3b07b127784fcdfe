//! The variational bound against closed forms, with the exact denoiser of Gaussian data N(mu, s^2).
//!
//! With x_t = sqrt(a) x_0 + sqrt(1 - a) eps (a = abar_t), d = a s^2 + 1 - a, the exact model's x_0
//! estimate is m(x_t) = E[x_0 | x_t] = mu + sqrt(a) s^2 (x_t - sqrt(a) mu) / d, and its step out of t has
//! the mean coef1_t m(x_t) + coef2_t x_t and a fixed variance sigma_t^2. The true posterior has the mean
//! coef1_t x_0 + coef2_t x_t and the variance beta-tilde_t, so, in nats,
//!
//!   KL_t = (ln(sigma_t^2 / beta-tilde_t) + beta-tilde_t / sigma_t^2 - 1) / 2 + coef1_t^2 (x_0 - m(x_t))^2 / (2 sigma_t^2),
//!
//! and over the data, E[(x_0 - m(x_t))^2] = Var(x_0 | x_t) = s^2 (1 - a) / d. The KL terms vanish only
//! for a point mass (s = 0) with sigma_t^2 = beta-tilde_t; for s > 0 the second part remains. The prior
//! term is KL(N(sqrt(a) x_0, 1 - a) || N(0, 1)) = (-1 - ln(1 - a) + (1 - a) + a x_0^2) / 2 at the last step.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule, Prediction};
use ddpm_sample::{BoundPlan, Estimator, VarianceType, VariationalBound};

use common::Oracle;

const LN_2: f64 = std::f64::consts::LN_2;
const T: usize = 100;
const MU: f64 = 0.3;
const S: f64 = 0.5;

fn schedule() -> NoiseSchedule {
    NoiseSchedule::new(&BetaSchedule::ddpm_linear(), T).unwrap()
}

fn column(values: &[f64], device: &Device) -> Tensor<2> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values.clone(), [values.len(), 1]), device)
}

fn host(values: Tensor<1>) -> Vec<f64> {
    values.into_data().convert::<f64>().try_into_vec::<f64>().unwrap()
}

/// sigma_t^2 of the model's step for `variance`.
fn model_variance(schedule: &NoiseSchedule, variance: VarianceType, t: usize) -> f64 {
    match variance {
        VarianceType::Beta => schedule.betas()[t],
        VarianceType::Posterior => schedule.posterior_variance()[t],
    }
}

/// The exact model's x_0 estimate m(x_t).
fn exact_x0(schedule: &NoiseSchedule, t: usize, x_t: f64) -> f64 {
    let a = schedule.alphas_cumprod()[t];
    MU + a.sqrt() * S * S * (x_t - a.sqrt() * MU) / (a * S * S + 1.0 - a)
}

/// KL_t in bits for one example, from the closed form above.
fn closed_form_kl(schedule: &NoiseSchedule, variance: VarianceType, t: usize, x0: f64, x_t: f64) -> f64 {
    let (sigma2, tilde) = (model_variance(schedule, variance, t), schedule.posterior_variance()[t]);
    let coef1 = schedule.posterior_mean_coef1()[t];
    let miss = x0 - exact_x0(schedule, t, x_t);
    ((sigma2 / tilde).ln() + tilde / sigma2 - 1.0) / 2.0 / LN_2 + coef1 * coef1 * miss * miss / (2.0 * sigma2) / LN_2
}

/// E[KL_t] in bits over the data and the noise.
fn expected_kl(schedule: &NoiseSchedule, variance: VarianceType, t: usize) -> f64 {
    let a = schedule.alphas_cumprod()[t];
    let (sigma2, tilde) = (model_variance(schedule, variance, t), schedule.posterior_variance()[t]);
    let coef1 = schedule.posterior_mean_coef1()[t];
    let posterior_var_x0 = S * S * (1.0 - a) / (a * S * S + 1.0 - a);
    ((sigma2 / tilde).ln() + tilde / sigma2 - 1.0) / 2.0 / LN_2 + coef1 * coef1 * posterior_var_x0 / (2.0 * sigma2) / LN_2
}

/// `n` draws of x_0 ~ N(MU, S^2) and of a standard normal, on the host.
fn gaussian_data(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = NoiseRng::new(seed);
    let x0 = rng.normal_vec(n).iter().map(|&z| MU + S * z as f64).collect();
    let noise = rng.normal_vec(n).iter().map(|&z| z as f64).collect();
    (x0, noise)
}

#[test]
fn each_kl_term_and_the_prior_match_their_closed_forms_example_by_example() {
    let (schedule, device) = (schedule(), Device::flex());
    let (x0, noise) = gaussian_data(64, 1);
    for prediction in [Prediction::Epsilon, Prediction::Sample, Prediction::V] {
        let oracle = Oracle { schedule: &schedule, prediction, mu: MU, s: S };
        for variance in [VarianceType::Beta, VarianceType::Posterior] {
            let bound = VariationalBound::new(Estimator::new(&schedule, prediction), variance);
            for t in [1, 2, 10, 50, T - 1] {
                let a = schedule.alphas_cumprod()[t];
                let x_t: Vec<f64> = x0.iter().zip(&noise).map(|(x, z)| a.sqrt() * x + (1.0 - a).sqrt() * z).collect();
                let timesteps = vec![t; x0.len()];
                let output = ddpm_core::Denoiser::predict(&oracle, column(&x_t, &device), &timesteps, None);
                let kl = host(bound.kl_bpd(column(&x0, &device), column(&x_t, &device), &timesteps, output));
                for (i, &got) in kl.iter().enumerate() {
                    let want = closed_form_kl(&schedule, variance, t, x0[i], x_t[i]);
                    assert!(
                        (got - want).abs() <= 2e-4 * want.abs().max(1e-2),
                        "{prediction:?} {variance:?} t={t} example {i}: {got} vs {want}"
                    );
                }
            }
            let a = schedule.alphas_cumprod()[T - 1];
            let prior = host(bound.prior_bpd(column(&x0, &device)));
            for (got, x) in prior.iter().zip(&x0) {
                let want = (-1.0 - (1.0 - a).ln() + (1.0 - a) + a * x * x) / 2.0 / LN_2;
                assert!((got - want).abs() <= 1e-5 * want.abs().max(1e-3), "prior of {x}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn with_the_true_posterior_variance_a_point_mass_leaves_only_the_prior_and_decoder() {
    // s = 0: the exact model knows x_0 = mu from any x_t, so with sigma_t^2 = beta-tilde_t every KL term is 0.
    let (schedule, device) = (schedule(), Device::flex());
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::Epsilon, mu: MU, s: 0.0 };
    let bound = VariationalBound::new(Estimator::new(&schedule, Prediction::Epsilon), VarianceType::Posterior);
    let parts = bound.evaluate(&oracle, column(&[MU; 8], &device), None, &BoundPlan::all(T, &mut NoiseRng::new(3)), 0, || {});
    assert!(parts.kl.iter().all(|kl| kl.abs() < 1e-4), "{:?}", parts.kl);
    for ((total, prior), decoder) in parts.total().iter().zip(&parts.prior).zip(&parts.decoder) {
        assert!((total - prior - decoder).abs() < 1e-4);
    }
}

/// The standard normal CDF in f64, through erfc (W. J. Cody's rational approximations as in Numerical
/// Recipes' erfcc, relative error below 1.2e-7): independent of the tanh form the bound uses.
fn normal_cdf(x: f64) -> f64 {
    let z = (x / std::f64::consts::SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - erfc / 2.0 } else { erfc / 2.0 }
}

#[test]
fn the_decoder_is_the_gaussian_mass_of_each_pixels_bin_at_the_models_mean() {
    // 8-bit values in [-1, 1], the edges among them; at step 0 the model's mean is its x_0 estimate
    // (coef1_0 = 1, coef2_0 = 0) and its scale sqrt(beta-tilde_1).
    let (schedule, device) = (schedule(), Device::flex());
    let levels = [0u8, 1, 17, 128, 200, 254, 255];
    let x0: Vec<f64> = levels.iter().map(|&p| p as f64 / 127.5 - 1.0).collect();
    let noise: Vec<f64> = [0.3, -1.2, 0.8, 0.0, 2.0, -0.5, 1.1].to_vec();
    let a = schedule.alphas_cumprod()[0];
    let x_1: Vec<f64> = x0.iter().zip(&noise).map(|(x, z)| a.sqrt() * x + (1.0 - a).sqrt() * z).collect();
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::Epsilon, mu: MU, s: S };
    let bound = VariationalBound::new(Estimator::new(&schedule, Prediction::Epsilon), VarianceType::Beta);
    let output = ddpm_core::Denoiser::predict(&oracle, column(&x_1, &device), &[0; 7], None);
    let decoder = host(bound.decoder_bpd(column(&x0, &device), column(&x_1, &device), output));
    let scale = schedule.posterior_variance()[1].sqrt();
    for i in 0..levels.len() {
        let mean = exact_x0(&schedule, 0, x_1[i]);
        let upper = if levels[i] == 255 { 1.0 } else { normal_cdf((x0[i] + 1.0 / 255.0 - mean) / scale) };
        let lower = if levels[i] == 0 { 0.0 } else { normal_cdf((x0[i] - 1.0 / 255.0 - mean) / scale) };
        let want = -(upper - lower).max(1e-12).ln() / LN_2;
        assert!((decoder[i] - want).abs() <= 2e-3 * want.max(1e-2), "level {}: {} vs {want}", levels[i], decoder[i]);
    }
}

#[test]
fn the_sum_over_all_steps_has_the_expected_value_and_sampled_steps_estimate_it_without_bias() {
    let (schedule, device) = (schedule(), Device::flex());
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::V, mu: MU, s: S };
    let bound = VariationalBound::new(Estimator::new(&schedule, Prediction::V), VarianceType::Beta);
    let n = 4000;
    let (x0, _) = gaussian_data(n, 7);
    let x0 = column(&x0, &device);
    let expected: f64 = (1..T).map(|t| expected_kl(&schedule, VarianceType::Beta, t)).sum();
    let mean_and_error = |values: &[f64]| {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
        (mean, (var / values.len() as f64).sqrt())
    };

    let all = bound.evaluate(&oracle, x0.clone(), None, &BoundPlan::all(T, &mut NoiseRng::new(11)), 0, || {});
    let (mean, error) = mean_and_error(&all.kl);
    assert!((mean - expected).abs() <= 4.0 * error, "all steps: {mean} +- {error}, expected {expected}");

    let mut rng = NoiseRng::new(12);
    let plan = BoundPlan::sampled(T, 4, n, &mut rng);
    let sampled = bound.evaluate(&oracle, x0.clone(), None, &plan, 0, || {});
    let (mean, error) = mean_and_error(&sampled.kl);
    assert!((mean - expected).abs() <= 4.0 * error, "4 sampled steps: {mean} +- {error}, expected {expected}");
    assert_eq!(sampled.prior, all.prior, "the prior term is exact either way");

    // Batching does not change any figure: the noise is drawn by image index.
    let halves = [(0, n / 2), (n / 2, n)]
        .map(|(start, end)| bound.evaluate(&oracle, x0.clone().narrow(0, start, end - start), None, &plan, start, || {}));
    let [mut first, second] = halves;
    first.extend(second);
    assert_eq!(first, sampled);
}
