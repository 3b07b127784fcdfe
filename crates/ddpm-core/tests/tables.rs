//! Closed-form checks of the schedule tables and of q(x_t | x_0).

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule, ScheduleError, StepPosterior};

fn linear() -> NoiseSchedule {
    NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap()
}

#[test]
fn index_convention_is_zero_based() {
    let s = linear();
    assert_eq!(s.num_steps(), 1000);
    assert!((s.betas()[0] - 1e-4).abs() < 1e-15 && (s.betas()[999] - 0.02).abs() < 1e-15);
    assert_eq!(s.alphas_cumprod_prev()[0], 1.0, "before the first step nothing is noised");
    assert!((s.alphas_cumprod()[0] - (1.0 - 1e-4)).abs() < 1e-15);
    assert_eq!(s.alphas_cumprod_prev()[500], s.alphas_cumprod()[499]);
    assert_eq!(s.posterior_variance()[0], 0.0, "x_0 is known exactly given x_1 and x_0");
    assert_eq!(s.posterior_log_variance_clipped()[0], s.posterior_variance()[1].ln());
}

#[test]
fn posterior_matches_bayes_rule() {
    // q(x_{t-1} | x_t, x_0) ∝ N(x_t; sqrt(a_t) x_{t-1}, b_t) N(x_{t-1}; sqrt(abar_{t-1}) x_0, 1 - abar_{t-1}):
    // precision = a_t / b_t + 1 / (1 - abar_{t-1}),
    // mean = (sqrt(a_t) / b_t x_t + sqrt(abar_{t-1}) / (1 - abar_{t-1}) x_0) / precision.
    for schedule in [BetaSchedule::ddpm_linear(), BetaSchedule::cosine(), BetaSchedule::Sigmoid { start: 1e-4, end: 0.02 }] {
        let s = NoiseSchedule::new(&schedule, 1000).unwrap();
        let mut abar_prev = 1.0;
        for t in 0..1000 {
            let (a, b) = (1.0 - s.betas()[t], s.betas()[t]);
            if t > 0 {
                let precision = a / b + 1.0 / (1.0 - abar_prev);
                let rel = |x: f64, y: f64| (x - y).abs() / y.abs();
                assert!(rel(s.posterior_variance()[t], 1.0 / precision) < 1e-9, "variance at {t}");
                assert!(rel(s.posterior_mean_coef1()[t], abar_prev.sqrt() / (1.0 - abar_prev) / precision) < 1e-9, "coef1 at {t}");
                assert!(rel(s.posterior_mean_coef2()[t], a.sqrt() / b / precision) < 1e-9, "coef2 at {t}");
            } else {
                assert!((s.posterior_mean_coef1()[0] - 1.0).abs() < 1e-12, "the posterior at t = 0 is x_0");
                assert_eq!(s.posterior_mean_coef2()[0], 0.0, "the posterior at t = 0 ignores x_1");
            }
            let snr = s.alphas_cumprod()[t] / (1.0 - s.alphas_cumprod()[t]);
            assert!((s.snr()[t] - snr).abs() <= 1e-12 * snr);
            assert!((s.sqrt_recip_alphas_cumprod()[t] * s.sqrt_alphas_cumprod()[t] - 1.0).abs() < 1e-12);
            assert!(
                (s.sqrt_recipm1_alphas_cumprod()[t].powi(2) - (1.0 / s.alphas_cumprod()[t] - 1.0)).abs() < 1e-9 / s.alphas_cumprod()[t]
            );
            abar_prev *= a;
        }
    }
}

#[test]
fn a_step_over_several_timesteps_is_bayes_rule_between_its_two_levels() {
    // From abar_t straight to abar_s > abar_t: x_t = sqrt(a) x_s + sqrt(1 - a) z with a = abar_t / abar_s,
    // so the same rule as for one step with a_t = a, b_t = 1 - a and abar_{t-1} = abar_s.
    let s = linear();
    let rel = |x: f64, y: f64| (x - y).abs() / y.abs();
    for (t, skip) in [(999, 20), (500, 1), (40, 40), (1, 1)] {
        let (abar_t, abar_s) = (s.alphas_cumprod()[t], s.alphas_cumprod_prev()[t + 1 - skip]);
        let (a, b) = (abar_t / abar_s, 1.0 - abar_t / abar_s);
        let step = StepPosterior::between(abar_t, abar_s);
        let precision = a / b + 1.0 / (1.0 - abar_s);
        assert!(rel(step.beta, b) < 1e-12, "beta of {t} -> {}", t - skip);
        assert!(rel(step.variance, 1.0 / precision) < 1e-9, "variance of {t} -> {}", t - skip);
        assert!(rel(step.coef1, abar_s.sqrt() / (1.0 - abar_s) / precision) < 1e-9, "coef1 of {t} -> {}", t - skip);
        assert!(rel(step.coef2, a.sqrt() / b / precision) < 1e-9, "coef2 of {t} -> {}", t - skip);
        if skip == 1 {
            assert!(rel(step.coef1, s.posterior_mean_coef1()[t]) < 1e-9 && rel(step.variance, s.posterior_variance()[t]) < 1e-9);
        }
    }
    let last = StepPosterior::between(s.alphas_cumprod()[19], 1.0);
    assert_eq!((last.variance, last.coef2), (0.0, 0.0), "onto the clean data the posterior is x_0 itself");
    assert!((last.coef1 - 1.0).abs() < 1e-12);
}

#[test]
fn q_sample_has_the_closed_form_mean_and_variance() {
    // Many noised copies of x_0 = 1.5 at four different t in one batch: each row must have mean
    // sqrt(abar_t) x_0 and variance 1 - abar_t.
    let s = linear();
    let device = Device::flex();
    let timesteps = [0, 100, 500, 999];
    let n = 50_000;
    let x0 = Tensor::<2>::full([4, n], 1.5, &device);
    let noise = NoiseRng::new(3).normal([4, n], &device);
    let x_t: Vec<f32> = s.q_sample(x0, &timesteps, noise).into_data().try_into_vec::<f32>().unwrap();
    for (row, &t) in timesteps.iter().enumerate() {
        let values = &x_t[row * n..(row + 1) * n];
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let (want_mean, want_var) = (s.alphas_cumprod()[t].sqrt() * 1.5, 1.0 - s.alphas_cumprod()[t]);
        // Standard errors: sqrt(var / n) for the mean, var sqrt(2 / n) for the variance; allow 5 of each.
        assert!((mean - want_mean).abs() < 5.0 * (want_var / n as f64).sqrt(), "t = {t}: mean {mean} vs {want_mean}");
        assert!((var - want_var).abs() < 5.0 * want_var * (2.0 / n as f64).sqrt(), "t = {t}: var {var} vs {want_var}");
    }
}

#[test]
fn q_sample_uses_each_examples_own_timestep() {
    let s = linear();
    let device = Device::flex();
    let x0 = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0], [2, 1]), &device);
    let noise = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0], [2, 1]), &device);
    let out: Vec<f32> = s.q_sample(x0, &[10, 700], noise).into_data().try_into_vec::<f32>().unwrap();
    assert!((out[0] as f64 - s.sqrt_alphas_cumprod()[10]).abs() < 1e-6);
    assert!((out[1] as f64 - (s.sqrt_alphas_cumprod()[700] + s.sqrt_one_minus_alphas_cumprod()[700])).abs() < 1e-6);
}

#[test]
fn a_batch_at_one_step_gives_the_values_of_a_mixed_batch() {
    // A batch whose examples share a step is scaled by a scalar, a mixed one by a per-example factor:
    // the rows at that step must come out the same, bit for bit.
    let s = linear();
    let device = Device::flex();
    let rows = |values: Vec<f32>| Tensor::<2>::from_data(TensorData::new(values, [4, 3]), &device);
    let values = |t: Tensor<2>| t.slice(0..3).into_data().try_into_vec::<f32>().unwrap();
    let x0 = rows((0..12).map(|i| (i as f32 * 0.37).sin()).collect());
    let x_t = rows((0..12).map(|i| (i as f32 * 0.91).cos() * 1.7).collect());
    let (shared, mixed) = ([412, 412, 412, 412], [412, 412, 412, 3]);
    let mean = |steps: &[usize]| values(s.q_posterior_mean(x0.clone(), x_t.clone(), steps));
    assert_eq!(mean(&shared), mean(&mixed));
    let x0_hat = |steps: &[usize]| values(s.predict_x0_from_eps(x_t.clone(), steps, x0.clone()));
    assert_eq!(x0_hat(&shared), x0_hat(&mixed));
    let noised = |steps: &[usize]| values(s.q_sample(x0.clone(), steps, x_t.clone()));
    assert_eq!(noised(&shared), noised(&mixed));
}

#[test]
fn invalid_schedules_are_clear_errors() {
    let err = |schedule: BetaSchedule, steps| NoiseSchedule::new(&schedule, steps).unwrap_err();
    assert_eq!(err(BetaSchedule::ddpm_linear(), 0), ScheduleError::NoSteps);
    assert_eq!(err(BetaSchedule::ddpm_linear(), 1_000_000_000_000), ScheduleError::TooManySteps(1_000_000_000_000));
    assert!(err(BetaSchedule::ddpm_linear(), 0).to_string().contains("at least 1"));
    assert_eq!(err(BetaSchedule::Linear { start: 0.0, end: 0.02 }, 10), ScheduleError::BetaOutOfRange { index: 0, value: 0.0 });
    assert!(matches!(err(BetaSchedule::Linear { start: 0.1, end: 1.5 }, 10), ScheduleError::BetaOutOfRange { index: 6, .. }));
    assert!(err(BetaSchedule::Linear { start: -0.1, end: 0.5 }, 10).to_string().contains("0 < beta < 1"));
    assert!(matches!(err(BetaSchedule::Custom(vec![0.1, f64::NAN]), 2), ScheduleError::NonFiniteBeta { index: 1, .. }));
    assert!(matches!(err(BetaSchedule::Linear { start: 1e-4, end: f64::INFINITY }, 5), ScheduleError::NonFiniteBeta { .. }));
    assert!(err(BetaSchedule::Custom(vec![0.1]), 2).to_string().contains("1 custom betas were given for T = 2"));
    // alpha-bar = 1e-6^t underflows f64 to zero after about 54 steps.
    assert!(matches!(err(BetaSchedule::Custom(vec![0.999_999; 200]), 200), ScheduleError::AlphaBarNotDecreasing { .. }));
    assert!(err(BetaSchedule::Cosine { s: 0.008, min_beta: 0.5, max_beta: 0.1 }, 10).to_string().contains("min_beta <= max_beta"));
}

#[test]
fn a_single_step_schedule_is_valid() {
    let s = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1).unwrap();
    assert_eq!(s.betas(), vec![1e-4]);
}

#[test]
fn the_single_image_references_clamped_cosine() {
    // numpy, float64: betas = clip(1 - f(t + 1) / f(t), 1e-4, 0.02) with f(t) = cos((t / T + s) / (1 + s) pi / 2)^2,
    // s = 0.008, T = 1000; alpha-bar is their running product of (1 - beta).
    let schedule = NoiseSchedule::new(&BetaSchedule::cosine_clamped(), 1000).unwrap();
    assert_eq!((schedule.betas()[0], schedule.betas()[999]), (1e-4, 0.02), "both clamps bind");
    assert!(schedule.betas().iter().all(|&b| (1e-4..=0.02).contains(&b)));
    assert!((schedule.betas()[300] - 0.001_624_197_873_741_24).abs() < 1e-15, "inside the clamps it is the plain cosine");
    assert!((schedule.alphas_cumprod()[499] - 0.493_653_806_149_996_9).abs() < 1e-12);
    // The clamp at 0.02 stops short of pure noise: sqrt(abar_T) = 0.057 of the image survives at t = T.
    assert!((schedule.alphas_cumprod()[999] - 0.003_194_831_463_374_303_3).abs() < 1e-12);
    assert_eq!(ddpm_core::NamedSchedule::CosineClamped.betas(), BetaSchedule::cosine_clamped());
}
