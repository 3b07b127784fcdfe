//! Editing: img2img's strength at its ends, DDIM inversion against its closed form on the Gaussian
//! oracle, and RePaint's jump schedule against diffusers' and its known pixels.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::Oracle;
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule, Prediction};
use ddpm_exec::Execution;
use ddpm_sample::{
    DdimInversion, DdimSampler, Estimator, JumpMove, Repaint, RepaintConfig, Sampler, SamplerConfig, SamplerKind, SamplerTail,
    SamplingChain, Spacing, jump_plan,
};

fn schedule() -> NoiseSchedule {
    NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap()
}

fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().try_into_vec().unwrap()
}

fn column(values: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len(), 1]), device)
}

#[test]
fn img2img_at_strength_0_is_the_image_and_at_1_is_sampling_from_the_same_noise() {
    let (schedule, device) = (schedule(), Device::flex());
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::V, mu: 0.3, s: 0.5 };
    let image = column(&[-0.7, 0.1, 0.9, 0.4], &device);
    let chain = SamplingChain::new(Execution::default());
    for kind in [SamplerKind::Ddim, SamplerKind::DpmSolver2m, SamplerKind::Ddpm] {
        let sampler = SamplerConfig::new().with_kind(kind).with_steps(10).with_eta(0.5).init(&schedule, Prediction::V).unwrap();
        let run = |strength: f64| {
            let tail = SamplerTail::at_strength(&sampler, strength);
            let start = tail.start(image.clone(), &schedule);
            host(chain.run(&tail, &oracle, start, None, &mut NoiseRng::new(7), &device, |_, _| {}).samples)
        };
        assert_eq!(run(0.0), host(image.clone()), "{kind:?}: strength 0 returns the image");
        let sampled = host(chain.run(&sampler, &oracle, [4, 1], None, &mut NoiseRng::new(7), &device, |_, _| {}).samples);
        assert_eq!(run(1.0), sampled, "{kind:?}: strength 1 is sampling from the same noise");
        let half = run(0.5);
        assert!(half != sampled && half != host(image.clone()), "{kind:?}: strength 0.5 is neither");
    }
    let ddim = DdimSampler::new(&schedule, 10, Spacing::Trailing);
    assert_eq!(SamplerTail::at_strength(&ddim, 0.3).timesteps(), &ddim.timesteps()[7..], "the last floor(0.3 x 10) = 3 steps");
    assert_eq!(SamplerTail::at_strength(&ddim, 0.55).timesteps().len(), 5);
}

/// One deterministic DDIM move of the oracle from abar `from` to `to`, with the noise estimate taken at
/// timestep `t` on the current state: x' = p x + q. With eps(x, t) = g (x - c):
/// x' = sqrt(to / from) x + (sqrt(1 - to) - sqrt(to (1 - from) / from)) g (x - c).
fn oracle_move(oracle: &Oracle, from: f64, to: f64, t: usize) -> (f64, f64) {
    let a = oracle.schedule.alphas_cumprod()[t];
    let (g, c) = ((1.0 - a).sqrt() / (a * oracle.s * oracle.s + 1.0 - a), a.sqrt() * oracle.mu);
    let eps_coef = (1.0 - to).sqrt() - (to * (1.0 - from) / from).sqrt();
    ((to / from).sqrt() + eps_coef * g, -eps_coef * g * c)
}

/// The affine map x -> p x + q of inverting with `steps` DDIM steps and regenerating with the same,
/// derived step by step: inversion evaluates eps at the next timestep on the current state, the
/// regeneration at the current timestep. Where eps is the same along the path (data at one point), the
/// two are exact inverses; otherwise p and q show how far the round trip lands from the image.
fn round_trip_map(oracle: &Oracle, timesteps_down: &[usize]) -> (f64, f64) {
    let abar = |t: usize| oracle.schedule.alphas_cumprod()[t];
    let up: Vec<usize> = timesteps_down.iter().rev().copied().collect();
    let (mut p, mut q) = (1.0, 0.0);
    let mut compose = |(a, b): (f64, f64)| {
        (p, q) = (a * p, a * q + b);
    };
    for (i, &t) in up.iter().enumerate() {
        let from = if i == 0 { 1.0 } else { abar(up[i - 1]) };
        compose(oracle_move(oracle, from, abar(t), t));
    }
    for (i, &t) in timesteps_down.iter().enumerate() {
        let to = timesteps_down.get(i + 1).map_or(1.0, |&next| abar(next));
        compose(oracle_move(oracle, abar(t), to, t));
    }
    (p, q)
}

#[test]
fn inversion_then_ddim_returns_the_image_as_the_oracles_closed_form_says() {
    let (schedule, device) = (schedule(), Device::flex());
    let images = [-0.9f32, -0.2, 0.35, 0.8];
    let chain = SamplingChain::new(Execution::default());
    for (s, prediction) in [(0.5, Prediction::Epsilon), (0.5, Prediction::V), (1.0, Prediction::Sample)] {
        let oracle = Oracle { schedule: &schedule, prediction, mu: 0.3, s };
        let estimator = Estimator::new(&schedule, prediction);
        let inversion = DdimInversion::new(estimator, 50, Spacing::Trailing);
        let ddim = DdimSampler::with_estimator(estimator, 50, Spacing::Trailing);
        assert_eq!(inversion.timesteps().iter().rev().copied().collect::<Vec<_>>(), ddim.timesteps());
        let noise = chain.run(&inversion, &oracle, column(&images, &device), None, &mut NoiseRng::new(0), &device, |_, _| {}).samples;
        let back = host(chain.run(&ddim, &oracle, noise, None, &mut NoiseRng::new(0), &device, |_, _| {}).samples);
        let (p, q) = round_trip_map(&oracle, ddim.timesteps());
        for (&x, &y) in images.iter().zip(&back) {
            let expected = p * x as f64 + q;
            assert!((y as f64 - expected).abs() < 2e-4, "s {s}, {prediction:?}: {x} -> {y}, the closed form says {expected}");
        }
        // The round trip's error, (p - 1) x + q, is the discretisation's: small at 50 steps, and
        // shrinking towards the exact ODE's identity as the steps grow.
        let error = |steps: usize| {
            let (p, q) = round_trip_map(&oracle, DdimSampler::new(&schedule, steps, Spacing::Trailing).timesteps());
            (p - 1.0).abs() + q.abs()
        };
        assert!(error(50) < 0.1 && error(50) > 1e-6, "s {s}: p = {p}, q = {q}");
        assert!(error(1000) < error(200) && error(200) < error(50) && error(50) < error(10), "s {s}");
    }
}

#[test]
fn the_jump_schedule_is_diffusers_repaint_schedule() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/repaint/golden.json")).unwrap())
            .unwrap();
    for case in golden["cases"].as_array().unwrap() {
        let get = |k: &str| case[k].as_u64().unwrap() as usize;
        let stride = get("num_train_timesteps") / get("steps");
        let ours: Vec<usize> = jump_plan(get("steps"), get("jump_length"), get("resamples"))
            .into_iter()
            .map(|m| match m {
                JumpMove::Denoise(level) => level * stride,
                // diffusers names a jump up to level k by the step whose input it becomes, k + 1.
                JumpMove::Renoise(level) => (level + 1) * stride,
            })
            .collect();
        let theirs: Vec<usize> = case["timesteps"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as usize).collect();
        assert_eq!(ours, theirs, "{case}");
    }
}

#[test]
fn repaint_keeps_the_known_pixels_exactly_and_fills_the_rest_from_the_data_law() {
    let (schedule, device) = (schedule(), Device::flex());
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::Epsilon, mu: 0.3, s: 0.5 };
    let n = 2000;
    // Two pixels per image: the first kept, the second filled.
    let known: Vec<f32> = (0..n).flat_map(|i| [0.123 + i as f32 * 1e-4, 9.0]).collect();
    let mask: Vec<f32> = (0..n).flat_map(|_| [1.0, 0.0]).collect();
    let tensor = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [n, 2]), &device);
    // Every one of the T levels with eta 1: each step down is the exact posterior, each jump up q itself.
    let config = RepaintConfig::new().with_steps(1000).with_jump_length(10).with_resamples(3).with_eta(1.0);
    let repaint = Repaint::new(Estimator::new(&schedule, Prediction::Epsilon), &config, Spacing::Trailing);
    assert_eq!(repaint.model_evaluations(), 1000 + 99 * 2 * 10, "1000 levels, and 2 more passes over 99 stretches of 10");
    let run = |execution: Execution| {
        host(repaint.run(&oracle, tensor(known.clone()), tensor(mask.clone()), None, &mut NoiseRng::new(3), execution, |_, _| {}))
    };
    let out = run(Execution::default());
    for i in 0..n {
        assert_eq!(out[2 * i], known[2 * i], "a kept pixel is the given one, bit for bit");
    }
    // The pixels are independent under the data law, so a filled one is N(0.3, 0.5^2), whatever was kept.
    let filled: Vec<f64> = (0..n).map(|i| out[2 * i + 1] as f64).collect();
    let mean = filled.iter().sum::<f64>() / n as f64;
    let std = (filled.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    assert!((mean - 0.3).abs() < 0.04 && (std - 0.5).abs() < 0.04, "filled pixels: mean {mean}, std {std}");
    assert_eq!(out, run(Execution::default().with_slices(2).with_chunk_values(300)), "the same images however the batch is cut");
}

/// Predicts, as x_0, one of three patterns by class: a level of 0.5 c on the first pixel, -0.5 c on the
/// second; without a class, zeros.
struct Patterns;

impl ddpm_core::Denoiser<2> for Patterns {
    fn predict(&self, x_t: Tensor<2>, _: &[usize], classes: Option<&[usize]>) -> Tensor<2> {
        let classes = classes.expect("asked with a class");
        let values: Vec<f32> = classes.iter().flat_map(|&c| [0.5 * c as f32, -0.5 * c as f32, 0.0]).collect();
        Tensor::from_data(TensorData::new(values, [classes.len(), 3]), &x_t.device())
    }
}

#[test]
fn the_inferred_class_is_the_one_whose_estimate_fits_the_kept_pixels() {
    let (schedule, device) = (schedule(), Device::flex());
    // Image i shows class i's pattern on its kept pixel; the hidden pixel says otherwise and is ignored.
    let images = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 9.0, 0.0, 0.5, 9.0, 0.0, 1.0, -9.0, 0.0], [3, 3]), &device);
    let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0], [3, 3]), &device);
    let estimator = Estimator::new(&schedule, Prediction::Sample);
    let classes = ddpm_sample::infer_classes(&Patterns, &estimator, images, mask, 3, &[300, 500], &mut NoiseRng::new(0));
    assert_eq!(classes, [0, 1, 2]);
}
