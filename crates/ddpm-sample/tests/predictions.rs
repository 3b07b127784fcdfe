//! Every sampler reads every prediction target: with the exact Gaussian oracle written in eps, x_0 and v
//! form, DDPM and DDIM return the same chains, and N(mu, s^2) (see `oracle.rs` for the eps form); and
//! clipping the x_0 estimate changes DDPM's samples as it does DDIM's.

use burn::tensor::{Device, Tensor};
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule, Prediction};
use ddpm_sample::{DdimSampler, DdpmSampler, Estimator, Sampler, Spacing, VarianceType};

mod common;
use common::Oracle;

fn values(x: Tensor<2>) -> Vec<f32> {
    x.into_data().try_into_vec::<f32>().unwrap()
}

fn moments(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    (mean, (values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt())
}

/// The samples `sampler(estimator)` draws from the oracle in `prediction` form, seed 6.
fn chain<'a, P: Sampler>(schedule: &'a NoiseSchedule, prediction: Prediction, n: usize, sampler: impl Fn(Estimator<'a>) -> P) -> Vec<f32> {
    let oracle = Oracle { schedule, prediction, mu: 0.7, s: 0.4 };
    let process = sampler(Estimator::new(schedule, prediction));
    values(process.sample(&oracle, [n, 1], &mut NoiseRng::new(6), &Device::flex(), None, |_, _| {}).samples)
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn x0_and_v_oracles_drive_every_sampler_exactly_as_the_eps_oracle_does() {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
    let n = 4000;
    for variance in [VarianceType::Beta, VarianceType::Posterior] {
        let ddpm = |estimator| DdpmSampler::with_estimator(estimator, variance);
        let eps = chain(&schedule, Prediction::Epsilon, n, ddpm);
        let (mean, std) = moments(&eps);
        // Standard errors at n = 4000: 0.006 (mean), 0.0045 (std).
        assert!((mean - 0.7).abs() < 0.025 && (std - 0.4).abs() < 0.02, "DDPM {variance:?}: N({mean}, {std}^2)");
        for prediction in [Prediction::Sample, Prediction::V] {
            let other = chain(&schedule, prediction, n, ddpm);
            let worst = max_difference(&eps, &other);
            assert!(worst < 2e-3, "DDPM {variance:?} with the {prediction:?} oracle differs by {worst}");
        }
    }
    for (steps, spacing, eta) in [(50, Spacing::Leading, 0.0), (20, Spacing::Trailing, 1.0)] {
        let ddim = |estimator| DdimSampler::with_estimator(estimator, steps, spacing).with_eta(eta);
        let eps = chain(&schedule, Prediction::Epsilon, n, ddim);
        for prediction in [Prediction::Sample, Prediction::V] {
            let worst = max_difference(&eps, &chain(&schedule, prediction, n, ddim));
            assert!(worst < 2e-3, "DDIM-{steps} eta {eta} with the {prediction:?} oracle differs by {worst}");
        }
    }
}

#[test]
fn clipping_the_x0_estimate_changes_ddpm_samples() {
    // Data N(3, 0.5^2) lies outside [-1, 1], so every x_0 estimate near the end is clipped; DDPM's last step
    // returns its x_0 estimate (the posterior at t = 0 is x_0 itself), so clipped samples lie in [-1, 1].
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 200).unwrap();
    let oracle = Oracle { schedule: &schedule, prediction: Prediction::Epsilon, mu: 3.0, s: 0.5 };
    let run = |clip: bool| {
        let estimator = Estimator::new(&schedule, Prediction::Epsilon).with_clip_x0(clip);
        let sampler = DdpmSampler::with_estimator(estimator, VarianceType::Posterior);
        values(sampler.sample(&oracle, [500, 1], &mut NoiseRng::new(2), &Device::flex(), None, |_, _| {}).samples)
    };
    let (plain, clipped) = (run(false), run(true));
    let (mean, _) = moments(&plain);
    assert!((mean - 3.0).abs() < 0.1, "without clipping the law is N(3, 0.5^2): mean {mean}");
    assert!(clipped.iter().all(|v| (-1.0..=1.0).contains(v)), "clipped samples leave [-1, 1]");
    assert!(max_difference(&plain, &clipped) > 1.0, "clipping must change the samples");
}
