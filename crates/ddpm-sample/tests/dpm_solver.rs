//! DPM-Solver++ against the exact probability-flow ODE for Gaussian data, and against diffusers'
//! `DPMSolverMultistepScheduler` step by step.
//!
//! For x_0 ~ N(mu, s^2) the marginal at t is N(sqrt(a_t) mu, d_t), d_t = a_t s^2 + 1 - a_t, and the
//! probability-flow ODE keeps each point's z-score: started from x at timestep t it ends at
//!   mu + s (x - sqrt(a_t) mu) / sqrt(d_t).
//! The solver is deterministic and (for this oracle) affine in x, so running it on x = 0 and x = 1 gives
//! its whole map, to compare with that endpoint without sampling error.

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::Denoiser;
use ddpm_core::{BetaSchedule, NoiseSchedule, Prediction};
use ddpm_sample::{DpmSolverPlusPlus, Estimator, Sampler, Spacing, StepMemory};
use serde_json::Value;

mod common;
use common::Oracle;

/// Runs every step of `solver` from the rows of `x_t` (its first timestep) with the model `oracle`.
fn solve(solver: &DpmSolverPlusPlus, oracle: &impl Denoiser<2>, x_t: &[f32]) -> Vec<f32> {
    let mut x = Tensor::<2>::from_data(TensorData::new(x_t.to_vec(), [x_t.len(), 1]), &Device::flex());
    let mut memory = StepMemory::new();
    for (position, &t) in solver.timesteps().iter().enumerate() {
        let output = oracle.predict(x.clone(), &vec![t; x_t.len()], None);
        x = solver.step_mean_at(position, x, output, &mut memory);
    }
    x.into_data().try_into_vec().unwrap()
}

/// The law the solver maps x_T ~ N(0, 1) to, N(mean, std^2), for data N(0.7, 0.4^2) and trailing spacing.
fn output_law(schedule: &NoiseSchedule, prediction: Prediction, order: usize, steps: usize) -> (f64, f64) {
    let oracle = Oracle { schedule, prediction, mu: 0.7, s: 0.4 };
    let solver = DpmSolverPlusPlus::new(Estimator::new(schedule, prediction), order, steps, Spacing::Trailing);
    let ends = solve(&solver, &oracle, &[0.0, 1.0]);
    (ends[0] as f64, (ends[1] - ends[0]) as f64)
}

#[test]
fn twenty_steps_land_near_the_1000_step_law_for_every_prediction() {
    // Measured (std of the output law at 20 steps; 1000 steps give 0.400 on both schedules, the data's 0.4):
    //   linear: DDIM 0.334, 2M 0.369, 3M 0.373; cosine: DDIM 0.365, 2M 0.396, 3M 0.392.
    // The gap is mostly the last step, which denoises from t = 49 straight to x_0 (diffusers' `final_sigmas_type
    // = "zero"`): E[x_0 | x_49] is narrower than the ODE's endpoint. The bounds hold the measured errors with
    // a margin of about 1.3 and require each higher order to at least halve DDIM's error.
    for (beta, std_bound) in [(BetaSchedule::ddpm_linear(), 0.04), (BetaSchedule::cosine(), 0.012)] {
        let schedule = NoiseSchedule::new(&beta, 1000).unwrap();
        for prediction in [Prediction::Epsilon, Prediction::Sample, Prediction::V] {
            let (reference_mean, reference_std) = output_law(&schedule, prediction, 2, 1000);
            assert!((reference_mean - 0.7).abs() < 2e-3 && (reference_std - 0.4).abs() < 1e-3, "{beta:?} {prediction:?} at 1000 steps");
            let ddim_error = (output_law(&schedule, prediction, 1, 20).1 - reference_std).abs();
            for order in [2, 3] {
                let (mean, std) = output_law(&schedule, prediction, order, 20);
                let error = (std - reference_std).abs();
                assert!((mean - reference_mean).abs() < 1e-3, "{beta:?} {prediction:?} order {order}: mean {mean}");
                assert!(
                    error < std_bound && error < ddim_error / 2.0,
                    "{beta:?} {prediction:?} order {order}: std {std}, DDIM's error {ddim_error}"
                );
            }
        }
    }
}

fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ddpm-core/tests/fixtures/diffusers_schedulers.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn row(values: Vec<f32>) -> Tensor<2> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [1, n]), &Device::flex())
}

#[test]
fn whole_chains_match_diffusers_step_by_step() {
    // Fixed random model outputs at every step, fed to diffusers' DPMSolverMultistepScheduler (trailing spacing,
    // lower_order_final, final sigma 0) and to ours: warm-up, full-order, lowered second-to-last and final steps.
    for chain in fixtures()["dpm_solver_chain"].as_array().unwrap() {
        let beta = match chain["schedule"].as_str().unwrap() {
            "linear" => BetaSchedule::ddpm_linear(),
            "squaredcos_cap_v2" => BetaSchedule::cosine(),
            other => panic!("unknown schedule {other}"),
        };
        let prediction = match chain["prediction"].as_str().unwrap() {
            "epsilon" => Prediction::Epsilon,
            "sample" => Prediction::Sample,
            "v_prediction" => Prediction::V,
            other => panic!("unknown prediction {other}"),
        };
        let schedule = NoiseSchedule::new(&beta, 1000).unwrap();
        let (order, steps) = (chain["order"].as_u64().unwrap() as usize, chain["num_inference_steps"].as_u64().unwrap() as usize);
        let solver = DpmSolverPlusPlus::new(Estimator::new(&schedule, prediction), order, steps, Spacing::Trailing);
        let expected_timesteps: Vec<usize> = chain["timesteps"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as usize).collect();
        assert_eq!(solver.timesteps(), expected_timesteps);
        let case = format!("{} order {order}, {steps} steps, {prediction:?}", chain["schedule"]);
        let mut x = row(floats(&chain["sample"]));
        let mut memory = StepMemory::new();
        let outputs = chain["model_outputs"].as_array().unwrap();
        for (position, (output, expected)) in outputs.iter().zip(chain["prev_samples"].as_array().unwrap()).enumerate() {
            x = solver.step_mean_at(position, x, row(floats(output)), &mut memory);
            let got: Vec<f32> = x.into_data().try_into_vec().unwrap();
            for (g, e) in got.iter().zip(floats(expected)) {
                // float32 arithmetic on both sides, on values that grow to a few hundred with random outputs.
                assert!((g - e).abs() <= 1e-4 + 2e-5 * e.abs(), "{case}, step {position}: {g} vs {e}");
            }
            // The next step starts from diffusers' value, so one step's rounding does not compound.
            x = row(floats(expected));
        }
    }
}
