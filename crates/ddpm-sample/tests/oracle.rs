//! The analytic-oracle test: for x_0 ~ N(mu, s^2) the exact noise predictor is known,
//!   eps*(x_t, t) = sqrt(1 - abar_t) (x_t - sqrt(abar_t) mu) / (abar_t s^2 + 1 - abar_t),
//! so running the real sampler with it must return N(mu, s^2) without any training. Any wrong index
//! or coefficient in the sampler (abar_t vs abar_{t-1}, sigma_t, the last step) shows up here.

use burn::tensor::{Device, Tensor};
use ddpm_core::Denoiser;
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule, per_example};
use ddpm_sample::{DdpmSampler, Sampler, VarianceType};

struct GaussianOracle<'a> {
    schedule: &'a NoiseSchedule,
    mu: f64,
    s: f64,
}

impl Denoiser<2> for GaussianOracle<'_> {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], _: Option<&[usize]>) -> Tensor<2> {
        let abar = |t: usize| self.schedule.alphas_cumprod()[t];
        let gain: Vec<f64> = timesteps.iter().map(|&t| (1.0 - abar(t)).sqrt() / (abar(t) * self.s * self.s + 1.0 - abar(t))).collect();
        let shift: Vec<f64> = timesteps.iter().map(|&t| abar(t).sqrt() * self.mu).collect();
        let device = x_t.device();
        (x_t - per_example::<2>(&shift, &device)) * per_example::<2>(&gain, &device)
    }
}

/// Mean and standard deviation the sampler must produce, from the exact scalar recursion: with a
/// linear oracle each step is x <- g_t x + h_t + sigma_t z, so mean and variance propagate in closed form.
fn exact_moments(schedule: &NoiseSchedule, variance: VarianceType, mu: f64, s: f64) -> (f64, f64) {
    let (mut mean, mut var) = (0.0, 1.0);
    for t in (0..schedule.num_steps()).rev() {
        let (abar, beta, alpha) = (schedule.alphas_cumprod()[t], schedule.betas()[t], 1.0 - schedule.betas()[t]);
        let k = (1.0 - abar).sqrt() / (abar * s * s + 1.0 - abar);
        let c = beta / (1.0 - abar).sqrt();
        let g = (1.0 - c * k) / alpha.sqrt();
        mean = g * mean + c * k * abar.sqrt() * mu / alpha.sqrt();
        var *= g * g;
        if t > 0 {
            let abar_prev = schedule.alphas_cumprod()[t - 1];
            var += match variance {
                VarianceType::Beta => beta,
                VarianceType::Posterior => beta * (1.0 - abar_prev) / (1.0 - abar),
            };
        }
    }
    (mean, var.sqrt())
}

fn sample_moments(schedule: &NoiseSchedule, variance: VarianceType, mu: f64, s: f64, n: usize, seed: u64) -> (f64, f64) {
    let device = Device::flex();
    let oracle = GaussianOracle { schedule, mu, s };
    let out = DdpmSampler::new(schedule, variance).sample(&oracle, [n, 1], &mut NoiseRng::new(seed), &device, None, |_, _| {});
    let values: Vec<f32> = out.samples.into_data().try_into_vec::<f32>().unwrap();
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

#[test]
fn oracle_samples_recover_the_data_distribution() {
    let n = 40_000;
    let (mu, s) = (3.0, 2.0);
    for schedule in [BetaSchedule::ddpm_linear(), BetaSchedule::cosine()] {
        let schedule = NoiseSchedule::new(&schedule, 1000).unwrap();
        for variance in [VarianceType::Beta, VarianceType::Posterior] {
            let (mean, std) = sample_moments(&schedule, variance, mu, s, n, 11);
            let (exact_mean, exact_std) = exact_moments(&schedule, variance, mu, s);
            // The fixed-variance reverse process is itself almost exact for Gaussian data.
            assert!((exact_mean - mu).abs() < 0.01 && (exact_std - s).abs() < 0.01, "{variance:?}: {exact_mean} {exact_std}");
            // Standard errors at n = 40 000: s / sqrt(n) = 0.010 for the mean, s / sqrt(2n) = 0.007 for the std.
            assert!((mean - exact_mean).abs() < 0.04, "{variance:?}: sample mean {mean}, exact {exact_mean}");
            assert!((std - exact_std).abs() < 0.03, "{variance:?}: sample std {std}, exact {exact_std}");
        }
    }
}

#[test]
fn coarse_schedule_matches_the_exact_recursion() {
    // With T = 10 and betas up to 0.5, neighbouring steps differ a lot, so an off-by-one anywhere
    // (sigma_{t-1} for sigma_t, abar_{t-1} for abar_t) moves the mean by ~0.9 or the std by ~0.15,
    // while the standard errors here are ~0.01. The fixed-variance reverse process is not exact at
    // this coarseness (std 1.85 or 1.70, not 2): the recursion says what a correct sampler returns.
    let schedule = NoiseSchedule::new(&BetaSchedule::Linear { start: 0.05, end: 0.5 }, 10).unwrap();
    for variance in [VarianceType::Beta, VarianceType::Posterior] {
        let (mean, std) = sample_moments(&schedule, variance, 3.0, 2.0, 40_000, 3);
        let (exact_mean, exact_std) = exact_moments(&schedule, variance, 3.0, 2.0);
        assert!((mean - exact_mean).abs() < 0.04, "{variance:?}: sample mean {mean}, exact {exact_mean}");
        assert!((std - exact_std).abs() < 0.03, "{variance:?}: sample std {std}, exact {exact_std}");
    }
}

#[test]
fn oracle_for_a_different_law_gives_that_law() {
    // Guards against a sampler that ignores the model: N(-1, 0.5^2) must come back, not N(3, 4).
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
    let (mean, std) = sample_moments(&schedule, VarianceType::Posterior, -1.0, 0.5, 20_000, 5);
    assert!((mean + 1.0).abs() < 0.02 && (std - 0.5).abs() < 0.02, "{mean} {std}");
}
