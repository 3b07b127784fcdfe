//! A network that learns its variance (improved DDPM's learned range): at v = 1 and v = -1 its DDPM step
//! and its terms of the bound are those of the fixed variances beta_t and beta-tilde_t, in between the
//! interpolated one; DDIM ignores it. The network is the exact denoiser of N(mu, s^2) data with a
//! constant variance output appended.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{BetaSchedule, Denoiser, ModelVariance, NoiseRng, NoiseSchedule, Prediction};
use ddpm_sample::{BoundPlan, DdimSampler, DdpmSampler, Estimator, Sampler, Spacing, VarianceType, VariationalBound};

use common::Oracle;

const T: usize = 100;
const MU: f64 = 0.3;
const S: f64 = 0.5;

/// `model`'s output followed by one column of variance values, all `v`.
struct WithVariance<'a, M> {
    model: &'a M,
    v: f32,
}

impl<M: Denoiser<2>> Denoiser<2> for WithVariance<'_, M> {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<2> {
        let output = self.model.predict(x_t, timesteps, classes);
        let v = output.ones_like().mul_scalar(self.v);
        Tensor::cat(vec![output, v], 1)
    }
}

fn schedule() -> NoiseSchedule {
    NoiseSchedule::new(&BetaSchedule::ddpm_linear(), T).unwrap()
}

fn host<const D: usize>(values: Tensor<D>) -> Vec<f64> {
    values.into_data().convert::<f64>().try_into_vec::<f64>().unwrap()
}

fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// 64 DDPM samples of `model` from seed 5.
fn draw<M: Denoiser<2>>(sampler: &DdpmSampler, model: &M) -> Vec<f64> {
    host(sampler.sample(model, [64, 1], &mut NoiseRng::new(5), &Device::flex(), None, |_, _| {}).samples)
}

#[test]
fn ddpm_with_a_learned_variance_at_its_ends_samples_as_each_fixed_variance() {
    let schedule = schedule();
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::V, mu: MU, s: S };
    let estimator = Estimator::new(&schedule, Prediction::V);
    let learned = DdpmSampler::with_estimator(estimator.with_variance(ModelVariance::LearnedRange), VarianceType::Beta);
    for (v, fixed) in [(1.0, VarianceType::Beta), (-1.0, VarianceType::Posterior)] {
        let got = draw(&learned, &WithVariance { model: &oracle, v });
        let want = draw(&DdpmSampler::with_estimator(estimator, fixed), &oracle);
        let worst = max_difference(&got, &want);
        assert!(worst < 1e-4, "v = {v} against {fixed:?}: samples differ by {worst}");
    }
    // In between, another chain: it adds less noise than beta_t.
    let between = draw(&learned, &WithVariance { model: &oracle, v: 0.0 });
    let large = draw(&DdpmSampler::with_estimator(estimator, VarianceType::Beta), &oracle);
    assert!(max_difference(&between, &large) > 1e-3, "v = 0 must not sample as v = 1");
}

#[test]
fn ddim_ignores_the_learned_variance() {
    let (schedule, device) = (schedule(), Device::flex());
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::Epsilon, mu: MU, s: S };
    let estimator = Estimator::new(&schedule, Prediction::Epsilon);
    let fixed = DdimSampler::with_estimator(estimator, 10, Spacing::Trailing).with_eta(1.0);
    let learned = DdimSampler::with_estimator(estimator.with_variance(ModelVariance::LearnedRange), 10, Spacing::Trailing).with_eta(1.0);
    let want = host(fixed.sample(&oracle, [32, 1], &mut NoiseRng::new(2), &device, None, |_, _| {}).samples);
    let got =
        host(learned.sample(&WithVariance { model: &oracle, v: 0.3 }, [32, 1], &mut NoiseRng::new(2), &device, None, |_, _| {}).samples);
    assert_eq!(got, want);
}

#[test]
fn the_bound_of_a_learned_variance_at_its_ends_is_that_of_each_fixed_variance() {
    let (schedule, device) = (schedule(), Device::flex());
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::Sample, mu: MU, s: S };
    let estimator = Estimator::new(&schedule, Prediction::Sample);
    let learned = VariationalBound::new(estimator.with_variance(ModelVariance::LearnedRange), VarianceType::Beta);
    let x0: Vec<f32> = NoiseRng::new(1).normal_vec(16).iter().map(|z| (MU + S * f64::from(*z)) as f32).collect();
    let x0 = Tensor::<2>::from_data(TensorData::new(x0, [16, 1]), &device);
    let plan = BoundPlan::all(T, &mut NoiseRng::new(3));
    for (v, fixed) in [(1.0, VarianceType::Beta), (-1.0, VarianceType::Posterior)] {
        let got = learned.evaluate(&WithVariance { model: &oracle, v }, x0.clone(), None, &plan, 0, || {});
        let want = VariationalBound::new(estimator, fixed).evaluate(&oracle, x0.clone(), None, &plan, 0, || {});
        let worst = max_difference(&got.kl, &want.kl);
        assert!(worst < 1e-4 * want.kl.iter().fold(1.0, |m, k| f64::max(m, k.abs())), "v = {v}: KL sums differ by {worst}");
        if fixed == VarianceType::Posterior {
            // At step 0 both take beta-tilde of step 1 (improved DDPM's clipping); v = 1 takes ln beta_0 there.
            assert!(max_difference(&got.decoder, &want.decoder) < 1e-4, "v = -1: decoders differ");
        }
    }
    // s = 0: with the exact x_0 and v = -1 (the true posterior's variance) every KL term vanishes.
    let point = Oracle { schedule: &schedule, prediction: Prediction::Sample, mu: MU, s: 0.0 };
    let mass = x0.zeros_like().add_scalar(MU);
    let parts = learned.evaluate(&WithVariance { model: &point, v: -1.0 }, mass, None, &plan, 0, || {});
    assert!(parts.kl.iter().all(|kl| kl.abs() < 1e-4), "{:?}", parts.kl);
}

/// diffusers' `DDPMScheduler` steps (`fixtures/learned_range/make_golden.py`): with a learned range over
/// all T, and respaced to 50 leading steps with each variance (every step the posterior between the two
/// levels it joins; no noise onto the data).
#[test]
fn ddpm_steps_are_diffusers_steps_learned_and_respaced() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/learned_range/golden.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures/learned_range/golden.json")).unwrap();
    let device = Device::flex();
    let mut respaced_cases = 0;
    for case in golden["cases"].as_array().unwrap() {
        let schedule = match case["schedule"].as_str().unwrap() {
            "linear" => BetaSchedule::ddpm_linear(),
            "squaredcos_cap_v2" => BetaSchedule::cosine(),
            other => panic!("unexpected schedule {other}"),
        };
        let schedule = NoiseSchedule::new(&schedule, 1000).unwrap();
        let (model_variance, variance) = match case["variance_type"].as_str().unwrap() {
            "learned_range" => (ModelVariance::LearnedRange, VarianceType::Posterior),
            "fixed_small" => (ModelVariance::Fixed, VarianceType::Posterior),
            "fixed_large" => (ModelVariance::Fixed, VarianceType::Beta),
            other => panic!("unexpected variance type {other}"),
        };
        let steps = case["inference_steps"].as_u64().unwrap() as usize;
        respaced_cases += usize::from(steps < 1000);
        let t = case["timestep"].as_u64().unwrap() as usize;
        let shape: Vec<usize> = case["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let [b, c, h, w] = shape[..] else { panic!("a [B, C, H, W] shape") };
        let tensor = |key: &str, channels: usize| {
            let values: Vec<f32> = case[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            Tensor::<4>::from_data(TensorData::new(values, [b, channels, h, w]), &device)
        };
        let output_channels = if model_variance == ModelVariance::LearnedRange { 2 * c } else { c };
        let (sample, output, noise) = (tensor("sample", c), tensor("model_output", output_channels), tensor("noise", c));
        let estimator = Estimator::new(&schedule, Prediction::Epsilon).with_variance(model_variance);
        let sampler = DdpmSampler::respaced(estimator, variance, steps, Spacing::Leading);
        let position = sampler.timesteps().iter().position(|&s| s == t).unwrap();
        let added = match sampler.learned_noise_std_at(position, &sample, &output) {
            Some(std) => noise * std,
            None => noise.mul_scalar(sampler.noise_std_at(position)),
        };
        let previous = host(sampler.step_mean(sample, t, output) + added);
        let want: Vec<f64> = case["prev_sample"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        for (i, (got, want)) in previous.iter().zip(&want).enumerate() {
            assert!(
                (got - want).abs() <= 2e-5 * want.abs().max(1.0),
                "{} {} {steps} steps, t = {t} value {i}: {got} vs {want}",
                case["schedule"],
                case["variance_type"]
            );
        }
    }
    assert_eq!(respaced_cases, 24, "every respaced case was read");
}
