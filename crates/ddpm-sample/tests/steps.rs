//! One reverse step against diffusers' DDPMScheduler, and the sampler's bookkeeping.

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::Denoiser;
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule};
use ddpm_exec::Execution;
use ddpm_sample::{DdpmSampler, Sampler, SamplingChain, VarianceType};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[test]
fn step_mean_matches_diffusers_posterior_mean() {
    let fixture: Value = serde_json::from_str(include_str!("../../ddpm-core/tests/fixtures/diffusers_schedulers.json")).unwrap();
    let device = Device::flex();
    for case in fixture["ddpm_step_mean"].as_array().unwrap() {
        let schedule = match case["schedule"].as_str().unwrap() {
            "linear" => BetaSchedule::ddpm_linear(),
            "squaredcos_cap_v2" => BetaSchedule::cosine(),
            other => panic!("unexpected schedule {other}"),
        };
        let schedule = NoiseSchedule::new(&schedule, 1000).unwrap();
        let t = case["timestep"].as_u64().unwrap() as usize;
        let tensor = |key: &str| Tensor::<2>::from_data(TensorData::new(floats(&case[key]), [1, 8]), &device);
        let mean: Vec<f32> = DdpmSampler::new(&schedule, VarianceType::Posterior)
            .step_mean(tensor("sample"), t, tensor("model_output"))
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        for (a, e) in mean.iter().zip(floats(&case["posterior_mean"])) {
            assert!((a - e).abs() <= 1e-5 * e.abs().max(1.0), "t = {t}: {a} vs {e}");
        }
    }
}

#[test]
fn sigma_follows_the_variance_choice() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
    let large = DdpmSampler::new(&schedule, VarianceType::Beta);
    let small = DdpmSampler::new(&schedule, VarianceType::Posterior);
    // The step's beta is 1 - abar_t / abar_{t-1}: beta_t up to f64 rounding.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b;
    assert!(close(large.sigma(500), schedule.betas()[500].sqrt()));
    assert!(close(small.sigma(500), schedule.posterior_variance()[500].sqrt()));
    assert_eq!((small.sigma(0), large.sigma(0)), (0.0, 0.0), "nothing is added onto the data");
}

/// Predicts zero noise, so each step is a pure rescaling plus the added noise.
struct Zero;
impl Denoiser<2> for Zero {
    fn predict(&self, x_t: Tensor<2>, _: &[usize], _: Option<&[usize]>) -> Tensor<2> {
        x_t.zeros_like()
    }
}

/// Predicts zero noise and records the timesteps it is asked about.
struct Recorder(std::sync::Mutex<Vec<Vec<usize>>>);
impl Denoiser<2> for Recorder {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], _: Option<&[usize]>) -> Tensor<2> {
        self.0.lock().unwrap().push(timesteps.to_vec());
        x_t.zeros_like()
    }
}

#[test]
fn sampler_visits_every_step_from_t_minus_one_down_to_zero() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 7).unwrap();
    let recorder = Recorder(Default::default());
    let mut progress = Vec::new();
    DdpmSampler::new(&schedule, VarianceType::Beta).sample(
        &recorder,
        [3, 2],
        &mut NoiseRng::new(0),
        &Device::flex(),
        None,
        |done, total| progress.push((done, total)),
    );
    let visited = recorder.0.into_inner().unwrap();
    assert_eq!(visited, (0..7).rev().map(|t| vec![t; 3]).collect::<Vec<_>>());
    assert_eq!(progress.last(), Some(&(7, 7)));
}

#[test]
fn last_step_adds_no_noise_and_trajectory_is_labelled() {
    // With one step (T = 1) the sample is x_T / sqrt(alpha_0) exactly: no noise is added at t = 0.
    let schedule = NoiseSchedule::new(&BetaSchedule::Custom(vec![0.36]), 1).unwrap();
    let device = Device::flex();
    let out = DdpmSampler::new(&schedule, VarianceType::Beta).sample(&Zero, [4, 1], &mut NoiseRng::new(9), &device, Some(1), |_, _| {});
    let start: Vec<f32> = NoiseRng::new(9).normal::<2>([4, 1], &device).into_data().try_into_vec::<f32>().unwrap();
    let end: Vec<f32> = out.samples.into_data().try_into_vec::<f32>().unwrap();
    for (s, e) in start.iter().zip(&end) {
        assert!((e - s / 0.8).abs() < 1e-6, "{e} vs {}", s / 0.8);
    }
    let labels: Vec<Option<usize>> = out.trajectory.iter().map(|(t, _)| *t).collect();
    assert_eq!(labels, vec![Some(0), None], "x_T is the input at t = 0; the sample is no step's input");
}

#[test]
fn sampling_is_seeded() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 50).unwrap();
    let sampler = DdpmSampler::new(&schedule, VarianceType::Posterior);
    let run = |seed| -> Vec<f32> {
        sampler
            .sample(&Zero, [5, 1], &mut NoiseRng::new(seed), &Device::flex(), None, |_, _| {})
            .samples
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

/// A denoiser that depends on x_t and t, so a wrong row or step in any slice shows.
struct Affine;
impl Denoiser<2> for Affine {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], _: Option<&[usize]>) -> Tensor<2> {
        x_t.mul_scalar(0.1 + timesteps[0] as f64 / 100.0)
    }
}

#[test]
fn splitting_the_batch_across_threads_changes_nothing() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 40).unwrap();
    let device = Device::flex();
    let run = |slices| {
        let chain = SamplingChain::new(Execution::default().with_slices(slices)).with_trajectory_every(Some(10));
        let sampler = DdpmSampler::new(&schedule, VarianceType::Posterior);
        let out = chain.run(&sampler, &Affine, [7, 3], None, &mut NoiseRng::new(2), &device, |_, _| {});
        let trajectory: Vec<(Option<usize>, Vec<f32>)> =
            out.trajectory.into_iter().map(|(t, x)| (t, x.into_data().try_into_vec::<f32>().unwrap())).collect();
        (out.samples.into_data().try_into_vec::<f32>().unwrap(), trajectory)
    };
    let single = run(1);
    assert_eq!(single.1.iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![Some(39), Some(29), Some(19), Some(9), None]);
    // On a 2-core machine, 2 slices run as rayon tasks, and more as the calling thread and the slice threads.
    for slices in [2, 3, 7, 50] {
        assert_eq!(run(slices), single, "{slices} slices");
    }
}

#[test]
fn chunks_of_a_large_batch_change_nothing() {
    // Rows of 1024 values run in chunks of 64 rows: 130 rows are 3 chunks on one thread and 4 on two
    // (65 + 65), and the first 64 rows alone are one chunk; every row must come out the same.
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 10).unwrap();
    let device = Device::flex();
    let run = |rows: usize, slices: usize| -> Vec<f32> {
        let sampler = DdpmSampler::new(&schedule, VarianceType::Posterior);
        let chain = SamplingChain::new(Execution::default().with_slices(slices));
        let mut steps = Vec::new();
        let out = chain.run(&sampler, &Affine, [rows, 1024], None, &mut NoiseRng::new(4), &device, |done, total| steps.push((done, total)));
        if slices == 1 && rows == 130 {
            assert_eq!(steps.last(), Some(&(30, 30)), "progress counts every chunk's steps");
        }
        out.samples.into_data().try_into_vec::<f32>().unwrap()
    };
    let whole = run(130, 1);
    assert_eq!(run(130, 2), whole);
    assert_eq!(run(64, 1), whole[..64 * 1024]);
}

#[test]
fn shards_of_a_batch_run_apart_give_the_whole_batch() {
    // Rows 0..3 and 3..7 of a batch of 7, each run as its own chain from the same seed with its first
    // row given, are the whole batch's rows: noise at x_T and at every DDPM step included.
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 20).unwrap();
    let device = Device::flex();
    let sampler = DdpmSampler::new(&schedule, VarianceType::Beta);
    let run = |rows: std::ops::Range<usize>| -> Vec<f32> {
        let chain = SamplingChain::default().with_first_row(rows.start);
        let out = chain.run(&sampler, &Affine, [rows.len(), 5], None, &mut NoiseRng::new(9), &device, |_, _| {});
        out.samples.into_data().try_into_vec::<f32>().unwrap()
    };
    let whole = run(0..7);
    assert_eq!([run(0..3), run(3..7)].concat(), whole);
    assert_ne!(run(3..7), whole[..4 * 5], "a shard's rows are not the first rows");
}
