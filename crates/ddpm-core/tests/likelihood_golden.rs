//! The bound's building blocks against golden values from an independent implementation (lucidrains'
//! denoising-diffusion-pytorch, the functions of improved DDPM): `fixtures/bound/make_golden.py` wrote them.

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{discretized_gaussian_log_likelihood, normal_kl};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/bound/golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures/bound/golden.json")).expect("valid JSON")
}

fn values(case: &Value, name: &str) -> Vec<f32> {
    case[name].as_array().unwrap_or_else(|| panic!("{name}")).iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

fn tensor(case: &Value, name: &str) -> Tensor<1> {
    let values = values(case, name);
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), &Device::flex())
}

/// Checks `got` against `want` to `tolerance` of each value's size (at least 1e-3 of it in absolute terms).
fn assert_close(what: &str, got: Tensor<1>, want: &[f32], tolerance: f32) {
    let got: Vec<f32> = got.into_data().try_into_vec::<f32>().unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tolerance * w.abs().max(1e-3), "{what}[{i}]: {g} vs golden {w}");
    }
}

#[test]
fn normal_kl_matches_the_reference() {
    let case = &golden()["normal_kl"];
    let kl = normal_kl(tensor(case, "mean1"), tensor(case, "logvar1"), tensor(case, "mean2"), tensor(case, "logvar2"));
    assert_close("normal_kl", kl, &values(case, "kl"), 1e-5);
}

#[test]
fn the_discretized_gaussian_likelihood_matches_the_reference_edges_included() {
    let case = &golden()["discretized_gaussian_log_likelihood"];
    let log_likelihood = discretized_gaussian_log_likelihood(tensor(case, "x"), tensor(case, "means"), tensor(case, "log_scales"));
    assert_close("log-likelihood", log_likelihood, &values(case, "log_likelihood"), 1e-4);
}
