//! UNet2DModel against diffusers' own outputs on the tiny pipelines in `fixtures/diffusers` (made by
//! `make_unet2d_fixtures.py` there, diffusers 0.42.1, float32).
//!
//! Tolerance: 1e-4 on outputs of size about 1-10. The two implementations sum in different orders
//! (GEMM convolutions, softmax), which in f32 moves each of the ~20 layers' outputs by a few ulp; the
//! measured gap is reported by the assertion message when it fails. A swapped gamma and beta, a missing
//! SiLU, a wrong head count or a flipped time projection each move the output by far more than 1e-2.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_nets::{NetError, UNet2DConfig, UNet2DModel, weights};
use safetensors::SafeTensors;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/diffusers")
}

fn read_config(pipeline: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join(pipeline).join("unet/config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load(pipeline: &str, device: &Device) -> UNet2DModel {
    let config = UNet2DConfig::from_diffusers(&read_config(pipeline)).unwrap();
    config.init(device).load_diffusers_weights(&fixtures().join(pipeline).join("unet/diffusion_pytorch_model.safetensors")).unwrap()
}

/// The tensors of `<pipeline>.outputs.safetensors`, as f32 (or i64 for `t`) with their shapes.
struct Outputs(Vec<u8>);

impl Outputs {
    fn of(pipeline: &str) -> Self {
        Self(std::fs::read(fixtures().join(format!("{pipeline}.outputs.safetensors"))).unwrap())
    }

    fn floats(&self, name: &str, device: &Device) -> Tensor<4> {
        let tensors = SafeTensors::deserialize(&self.0).unwrap();
        let view = tensors.tensor(name).unwrap();
        let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        let shape: [usize; 4] = view.shape().try_into().unwrap();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn steps(&self) -> Vec<usize> {
        let tensors = SafeTensors::deserialize(&self.0).unwrap();
        tensors.tensor("t").unwrap().data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize).collect()
    }
}

fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
    a.sub(b).abs().max().into_scalar::<f32>()
}

#[test]
fn the_model_matches_diffusers_on_every_fixture_pipeline() {
    let device = Device::flex();
    for pipeline in ["tiny-attn-eps", "tiny-vpred-cosine", "tiny-attn-eps-f16", "tiny-attn-eps-old-names"] {
        let model = load(pipeline, &device);
        let outputs = Outputs::of(pipeline);
        let expected = outputs.floats("out", &device);
        let scale = expected.clone().abs().max().into_scalar::<f32>();
        let got = model.forward(outputs.floats("x", &device), &outputs.steps(), None);
        let gap = max_difference(got, expected);
        eprintln!("{pipeline}: max |ours - diffusers| = {gap:e} on outputs up to {scale}");
        assert!(gap < 1e-4, "{pipeline}: max |ours - diffusers| = {gap:e} on outputs up to {scale}");
        assert!(scale > 0.5, "{pipeline}: the fixture's outputs are too small ({scale}) to test anything");
    }
}

#[test]
fn old_attention_names_and_f16_load_the_same_network() {
    let device = Device::flex();
    let x = Outputs::of("tiny-attn-eps").floats("x", &device);
    let current = load("tiny-attn-eps", &device).forward(x.clone(), &[3, 700, 3, 700], None);
    let old = load("tiny-attn-eps-old-names", &device).forward(x.clone(), &[3, 700, 3, 700], None);
    assert_eq!(current.clone().into_data(), old.into_data(), "renamed keys are the same weights");
    let half = load("tiny-attn-eps-f16", &device).forward(x, &[3, 700, 3, 700], None);
    let gap = max_difference(current, half);
    assert!(gap > 0.0 && gap < 0.05, "f16 rounds the weights a little: {gap}");
}

#[test]
fn the_parameters_are_diffusers_state_dict_keys_and_shapes() {
    let device = Device::flex();
    let folder = tempfile::tempdir().unwrap();
    let written = folder.path().join("model.safetensors");
    weights::save_safetensors(&load("tiny-attn-eps", &device), &written).unwrap();
    let shapes = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        let mut list: Vec<(String, Vec<usize>)> = tensors.tensors().into_iter().map(|(name, view)| (name, view.shape().to_vec())).collect();
        list.sort();
        list
    };
    let original = fixtures().join("tiny-attn-eps/unet/diffusion_pytorch_model.safetensors");
    assert_eq!(shapes(&written), shapes(&original));
    // And the bytes round-trip: what was saved loads back to the same outputs.
    let config = UNet2DConfig::from_diffusers(&read_config("tiny-attn-eps")).unwrap();
    let reloaded = config.init(&device).load_diffusers_weights(&written).unwrap();
    let x = Outputs::of("tiny-attn-eps").floats("x", &device);
    let steps = [0, 999, 500, 37];
    assert_eq!(reloaded.forward(x.clone(), &steps, None).into_data(), load("tiny-attn-eps", &device).forward(x, &steps, None).into_data());
    assert_eq!(reloaded.num_params(), 117_643, "diffusers' parameter count");
}

#[test]
fn the_config_round_trips_through_diffusers_json() {
    for pipeline in ["tiny-attn-eps", "tiny-vpred-cosine"] {
        let original = read_config(pipeline);
        let written = UNet2DConfig::from_diffusers(&original).unwrap().to_diffusers();
        let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&written), keys(&original), "{pipeline}: the same fields as diffusers writes");
        for key in keys(&original) {
            let (a, b) = (&written[&key], &original[&key]);
            let same = a == b || a.as_f64().zip(b.as_f64()).is_some_and(|(x, y)| (x - y).abs() < 1e-12);
            assert!(same, "{pipeline}: {key} is {a}, diffusers wrote {b}");
        }
    }
}

#[test]
fn unsupported_configs_and_bad_weights_are_refused_with_the_field_or_tensor() {
    let device = Device::flex();
    let refusals = [
        ("resnet_time_scale_shift", serde_json::json!("scale_shift")),
        ("act_fn", serde_json::json!("gelu")),
        ("time_embedding_type", serde_json::json!("fourier")),
        ("class_embed_type", serde_json::json!("timestep")),
        ("down_block_types", serde_json::json!(["DownBlock2D", "CrossAttnDownBlock2D"])),
        ("mid_block_type", serde_json::json!("UNetMidBlock2DCrossAttn")),
        ("norm_num_groups", serde_json::json!(7)),
        ("sample_size", serde_json::json!([16, 32])),
    ];
    for (field, value) in refusals {
        let mut config = read_config("tiny-attn-eps");
        config[field] = value.clone();
        let problem = UNet2DConfig::from_diffusers(&config).expect_err(field);
        assert!(matches!(&problem, NetError::InvalidConfig { field: named, .. } if named == field), "{field} = {value}: {problem:?}");
        assert!(problem.to_string().contains(field), "{field} = {value}: {problem} should name the field");
    }

    // Weights of another shape: the vpred pipeline's file in the attn-eps model, and a missing file.
    let config = UNet2DConfig::from_diffusers(&read_config("tiny-attn-eps")).unwrap();
    let other = fixtures().join("tiny-vpred-cosine/unet/diffusion_pytorch_model.safetensors");
    let problem = config.init(&device).load_diffusers_weights(&other).unwrap_err().to_string();
    assert!(problem.contains("does not fit") && problem.contains("conv_in.weight"), "{problem}");
    let problem = config.init(&device).load_diffusers_weights(Path::new("/nonexistent/model.safetensors")).unwrap_err().to_string();
    assert!(problem.contains("does not exist"), "{problem}");

    // A file with one tensor left out names it.
    let folder = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("tiny-attn-eps/unet/diffusion_pytorch_model.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> =
        tensors.tensors().into_iter().filter(|(name, _)| name != "conv_out.bias").collect();
    let partial = folder.path().join("partial.safetensors");
    safetensors::serialize_to_file(kept, None, &partial).unwrap();
    let problem = config.init(&device).load_diffusers_weights(&partial).unwrap_err().to_string();
    assert!(problem.contains("lacks") && problem.contains("conv_out.bias"), "{problem}");

    // One NaN in one tensor is refused, naming the tensor: such a model samples only NaN.
    let nan_bias: Vec<u8> = {
        let bias = tensors.tensor("conv_out.bias").unwrap();
        assert_eq!(bias.dtype(), safetensors::Dtype::F32);
        f32::NAN.to_le_bytes().into_iter().chain(bias.data()[4..].iter().copied()).collect()
    };
    let with_nan: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| match name.as_str() {
            "conv_out.bias" => (name, safetensors::tensor::TensorView::new(view.dtype(), view.shape().to_vec(), &nan_bias).unwrap()),
            _ => (name, view),
        })
        .collect();
    let poisoned = folder.path().join("nan.safetensors");
    safetensors::serialize_to_file(with_nan, None, &poisoned).unwrap();
    let problem = config.init(&device).load_diffusers_weights(&poisoned).unwrap_err();
    assert!(matches!(&problem, NetError::NonFiniteWeights { tensor, count: 1, .. } if tensor == "conv_out.bias"), "{problem:?}");
    assert!(problem.to_string().contains("nan.safetensors"), "{problem}");
}
