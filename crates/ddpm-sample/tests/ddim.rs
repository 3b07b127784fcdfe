//! DDIM against diffusers' DDIMScheduler (timesteps and single steps) and against the exact
//! Gaussian oracle (see `oracle.rs`).

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::Denoiser;
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule, Prediction, per_example};
use ddpm_sample::{DdimSampler, DdpmSampler, Estimator, Sampler, Spacing, VarianceType};
use serde_json::Value;

fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ddpm-core/tests/fixtures/diffusers_schedulers.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[test]
fn timesteps_match_diffusers_for_every_spacing() {
    let fixtures = fixtures();
    for (spacing, name) in [(Spacing::Leading, "leading"), (Spacing::Trailing, "trailing"), (Spacing::Linspace, "linspace")] {
        for steps in [10, 50, 100] {
            let expected: Vec<usize> = fixtures["ddim_timesteps"][format!("{name}/{steps}")]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(spacing.timesteps(1000, steps), expected, "{name}/{steps}");
        }
    }
    assert_eq!(Spacing::Linspace.timesteps(1000, 1000), (0..1000).rev().collect::<Vec<_>>());
}

#[test]
fn single_steps_match_diffusers() {
    let device = Device::flex();
    for case in fixtures()["ddim_step"].as_array().unwrap() {
        let schedule = match case["schedule"].as_str().unwrap() {
            "linear" => BetaSchedule::ddpm_linear(),
            "squaredcos_cap_v2" => BetaSchedule::cosine(),
            other => panic!("unknown schedule {other}"),
        };
        let schedule = NoiseSchedule::new(&schedule, 1000).unwrap();
        let sampler = DdimSampler::new(&schedule, case["num_inference_steps"].as_u64().unwrap() as usize, Spacing::Leading);
        let t = case["timestep"].as_u64().unwrap() as usize;
        let position = sampler.timesteps().iter().position(|&s| s == t).unwrap();
        let tensor = |key: &str| {
            let values = floats(&case[key]);
            let n = values.len();
            Tensor::<2>::from_data(TensorData::new(values, [1, n]), &device)
        };
        let (x0, prev) = sampler.step(position, tensor("sample"), tensor("model_output"));
        for (got, key) in [(x0, "pred_original_sample"), (prev, "prev_sample")] {
            let got: Vec<f32> = got.into_data().try_into_vec().unwrap();
            for (g, e) in got.iter().zip(floats(&case[key])) {
                // Float32 rounding of diffusers' tables (1.2e-6 relative) scaled by 1/sqrt(abar_t) <= 160.
                let tolerance = 1e-5 + 2e-4 * e.abs();
                assert!((g - e).abs() <= tolerance, "{} t={t} {key}: {g} vs {e}", case["schedule"]);
            }
        }
    }
}

/// The exact noise predictor for x_0 ~ N(mu, s^2) (derivation in `oracle.rs`).
struct GaussianOracle<'a> {
    schedule: &'a NoiseSchedule,
    mu: f64,
    s: f64,
}

impl GaussianOracle<'_> {
    /// eps*(x, t) = gain_t (x - shift_t).
    fn gain_shift(&self, t: usize) -> (f64, f64) {
        let abar = self.schedule.alphas_cumprod()[t];
        ((1.0 - abar).sqrt() / (abar * self.s * self.s + 1.0 - abar), abar.sqrt() * self.mu)
    }
}

impl Denoiser<2> for GaussianOracle<'_> {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], _: Option<&[usize]>) -> Tensor<2> {
        let (gain, shift): (Vec<f64>, Vec<f64>) = timesteps.iter().map(|&t| self.gain_shift(t)).unzip();
        let device = x_t.device();
        (x_t - per_example::<2>(&shift, &device)) * per_example::<2>(&gain, &device)
    }
}

/// The law DDIM must produce with the oracle: each step is affine in x plus independent noise,
/// x' = a x + b + sigma z, so mean and variance follow in closed form (no clipping).
fn exact_ddim_moments(oracle: &GaussianOracle, timesteps: &[usize], eta: f64) -> (f64, f64) {
    let abar = |i: usize| timesteps.get(i).map_or(1.0, |&t| oracle.schedule.alphas_cumprod()[t]);
    let (mut mean, mut var) = (0.0, 1.0);
    for (i, &t) in timesteps.iter().enumerate() {
        let (a_t, a_prev) = (abar(i), abar(i + 1));
        let (gain, shift) = oracle.gain_shift(t);
        let sigma2 = eta * eta * (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev);
        let direction = (1.0 - a_prev - sigma2).max(0.0).sqrt();
        // eps = gain (x - shift); x0 = (x - sqrt(1 - a_t) eps) / sqrt(a_t); x' = sqrt(a_prev) x0 + direction eps.
        let eps_coef = direction - a_prev.sqrt() * (1.0 - a_t).sqrt() / a_t.sqrt();
        let a = a_prev.sqrt() / a_t.sqrt() + eps_coef * gain;
        let b = -eps_coef * gain * shift;
        mean = a * mean + b;
        var = a * a * var + sigma2;
    }
    (mean, var.sqrt())
}

fn moments<P: Sampler>(sampler: &P, oracle: &GaussianOracle, n: usize, seed: u64) -> (f64, f64) {
    let out = sampler.sample(oracle, [n, 1], &mut NoiseRng::new(seed), &Device::flex(), None, |_, _| {});
    let values: Vec<f32> = out.samples.into_data().try_into_vec().unwrap();
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

#[test]
fn with_the_oracle_ddim_returns_the_exact_law_for_any_steps_and_eta() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
    let oracle = GaussianOracle { schedule: &schedule, mu: 0.3, s: 0.5 };
    let n = 20_000;
    for (steps, spacing, eta) in
        [(1000, Spacing::Leading, 0.0), (50, Spacing::Leading, 0.0), (50, Spacing::Trailing, 1.0), (10, Spacing::Linspace, 0.5)]
    {
        let sampler = DdimSampler::new(&schedule, steps, spacing).with_eta(eta);
        let (exact_mean, exact_std) = exact_ddim_moments(&oracle, sampler.timesteps(), eta);
        let (mean, std) = moments(&sampler, &oracle, n, 4);
        // Standard errors at n = 20 000: 0.0035 (mean) and 0.0025 (std).
        assert!((mean - exact_mean).abs() < 0.015, "{steps} {spacing:?} eta {eta}: mean {mean} vs exact {exact_mean}");
        assert!((std - exact_std).abs() < 0.012, "{steps} {spacing:?} eta {eta}: std {std} vs exact {exact_std}");
        if steps == 1000 {
            assert!((exact_mean - 0.3).abs() < 0.005 && (exact_std - 0.5).abs() < 0.005, "all steps: N(mu, s^2), {exact_mean} {exact_std}");
        }
    }
    // The PyTorch reference (sampler_oracle_check.py) finds DDIM-50 undershoots the std: 0.472.
    let (_, std50) = exact_ddim_moments(&oracle, &Spacing::Leading.timesteps(1000, 50), 0.0);
    assert!((std50 - 0.472).abs() < 0.005, "{std50}");
}

#[test]
fn ddim_with_eta_one_over_every_step_is_ddpm_with_the_posterior_variance() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100).unwrap();
    let oracle = GaussianOracle { schedule: &schedule, mu: 1.0, s: 2.0 };
    let run = |sampler: &dyn Fn(&mut NoiseRng) -> Vec<f32>| sampler(&mut NoiseRng::new(3));
    let ddim = run(&|rng| {
        DdimSampler::new(&schedule, 100, Spacing::Leading)
            .with_eta(1.0)
            .sample(&oracle, [64, 1], rng, &Device::flex(), None, |_, _| {})
            .samples
            .into_data()
            .try_into_vec()
            .unwrap()
    });
    let ddpm = run(&|rng| {
        DdpmSampler::new(&schedule, VarianceType::Posterior)
            .sample(&oracle, [64, 1], rng, &Device::flex(), None, |_, _| {})
            .samples
            .into_data()
            .try_into_vec()
            .unwrap()
    });
    for (a, b) in ddim.iter().zip(&ddpm) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn clipping_bounds_the_predicted_x0() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
    let device = Device::flex();
    let x = Tensor::<2>::from_data(TensorData::new(vec![5.0f32, -5.0], [2, 1]), &device);
    let estimator = Estimator::new(&schedule, Prediction::Epsilon).with_clip_x0(true);
    let (x0, _) = DdimSampler::with_estimator(estimator, 10, Spacing::Leading).step(3, x, Tensor::zeros([2, 1], &device));
    assert_eq!(x0.into_data().try_into_vec::<f32>().unwrap(), vec![1.0, -1.0]);
}
