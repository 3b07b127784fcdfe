//! The schedule tables against diffusers' (an independent implementation), from
//! `fixtures/diffusers_schedulers.json`, made by `fixtures/make_diffusers_fixtures.py` (see `fixtures/README.md`).
//!
//! diffusers computes in float32, our tables in float64: they agree to about 1.2e-6 relative, so
//! tables are compared at 1e-5 relative, plus the float32 rounding the fixture itself carries where
//! a formula amplifies it (each place says why).

use ddpm_core::{BetaSchedule, NoiseSchedule};
use serde_json::Value;

const REL: f64 = 1e-5;
/// Half an ulp of float32 at 1: the rounding error of a float32 value near 1.
const F32_HALF_ULP: f64 = 1.0 / (1u64 << 24) as f64;

fn fixtures() -> Value {
    serde_json::from_str(include_str!("fixtures/diffusers_schedulers.json")).expect("fixture is valid JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

/// Our schedule for each diffusers `beta_schedule` name in the fixture.
fn ours(name: &str) -> NoiseSchedule {
    let schedule = match name {
        "linear" => BetaSchedule::Linear { start: 1e-4, end: 0.02 },
        "scaled_linear" => BetaSchedule::ScaledLinear { start: 0.00085, end: 0.012 },
        "squaredcos_cap_v2" => BetaSchedule::cosine(),
        "sigmoid" => BetaSchedule::Sigmoid { start: 1e-4, end: 0.02 },
        other => panic!("no schedule for {other}"),
    };
    NoiseSchedule::new(&schedule, 1000).unwrap()
}

fn assert_close(what: &str, actual: &[f64], expected: &[f64], rel: f64, abs: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (t, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!((a - e).abs() <= rel * e.abs() + abs, "{what}[{t}]: ours {a:e}, diffusers {e:e}");
    }
}

const NAMES: [&str; 4] = ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"];

#[test]
fn betas_and_alpha_bar_match_diffusers() {
    let f = fixtures();
    for name in NAMES {
        let s = ours(name);
        let golden = &f["schedules"][name];
        assert_close(&format!("{name} betas"), s.betas(), &floats(&golden["betas"]), REL, 0.0);
        // diffusers multiplies float32 alphas 1 - beta_s; rounding beta_s to float32 moves 1 - beta_s
        // by up to F32_HALF_ULP * beta_s / (1 - beta_s) relative, which adds up along the product.
        // It matters only for cosine's last beta, 0.999 (float32 0.99900001: 1.3e-5 off at t = 999).
        let expected = floats(&golden["alphas_cumprod"]);
        let mut propagated = 0.0;
        for (t, (a, e)) in s.alphas_cumprod().iter().zip(&expected).enumerate() {
            propagated += F32_HALF_ULP * s.betas()[t] / (1.0 - s.betas()[t]);
            assert!((a - e).abs() <= (REL + propagated) * e, "{name} alphas_cumprod[{t}]: ours {a:e}, diffusers {e:e}");
        }
    }
}

#[test]
fn cosine_betas_are_not_zero() {
    // The integer-division bug (t / T == 0) gives 999 zero betas; the real schedule starts near 4e-5.
    let s = ours("squaredcos_cap_v2");
    assert!(s.betas().iter().all(|&b| b > 1e-5), "min beta {:e}", s.betas().iter().cloned().fold(1.0, f64::min));
    assert!((s.betas()[999] - 0.999).abs() < 1e-12, "the last beta hits the 0.999 cap");
}

#[test]
fn sampling_variances_match_diffusers() {
    // diffusers derives both variances from float32 alpha-bars via beta_t = 1 - abar_t / abar_{t-1}:
    // the quotient is near 1, so its float32 rounding (F32_HALF_ULP) becomes an absolute error of a
    // few F32_HALF_ULP in beta_t, which is 4e-4 relative for beta ~ 1e-4. Hence the absolute term.
    // fixed_small is also clamped at 1e-20 (ours is exactly 0 at t = 0).
    let abs = 4.0 * F32_HALF_ULP;
    let f = fixtures();
    for name in NAMES {
        let s = ours(name);
        let small: Vec<f64> = s.posterior_variance().iter().map(|v| v.max(1e-20)).collect();
        assert_close(&format!("{name} fixed_small"), &small, &floats(&f["ddpm_variance"][format!("{name}/fixed_small")]), REL, abs);
        assert_close(&format!("{name} fixed_large"), s.betas(), &floats(&f["ddpm_variance"][format!("{name}/fixed_large")]), REL, abs);
    }
}

#[test]
fn x0_prediction_and_posterior_mean_match_diffusers_step() {
    use burn::tensor::{Device, Tensor, TensorData};
    let device = Device::flex();
    let to_tensor = |v: &Value| {
        let values: Vec<f32> = floats(v).into_iter().map(|x| x as f32).collect();
        Tensor::<2>::from_data(TensorData::new(values, [1, 8]), &device)
    };
    let cases = fixtures()["ddpm_step_mean"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 8, "t = 999, 500, 1, 0 for two schedules");
    for case in &cases {
        let s = ours(case["schedule"].as_str().unwrap());
        let t = case["timestep"].as_u64().unwrap() as usize;
        let x_t = to_tensor(&case["sample"]);
        let x0 = s.predict_x0_from_eps(x_t.clone(), &[t], to_tensor(&case["model_output"]));
        let mean = s.q_posterior(x0.clone(), x_t, &[t]).mean;
        let check = |what: &str, actual: Tensor<2>, key: &str| {
            let actual: Vec<f32> = actual.into_data().try_into_vec::<f32>().unwrap();
            for (a, e) in actual.iter().zip(floats(&case[key])) {
                // float32 throughout; x0 at t = 999 is amplified by 1 / sqrt(abar) ~ 200 (linear)
                assert!(((*a as f64) - e).abs() <= 1e-5 * e.abs().max(1.0), "{what} at t = {t}: {a} vs {e}");
            }
        };
        check("predicted x0", x0, "pred_original_sample");
        check("posterior mean", mean, "posterior_mean");
    }
}
