//! Sampling a diffusers pipeline folder from a given x_T gives diffusers' own samples: DDIM, eta 0, 10
//! steps with each pipeline's scheduler settings (`fixtures/diffusers`, made by diffusers 0.42.1).
//!
//! Tolerance 5e-4 in [0, 1]: diffusers computes the schedule in f32 (alpha-bar off by up to 1.2e-6
//! relative from the f64 tables here) and the network sums in another order (2e-6 per call, see
//! ddpm-nets' `unet2d_diffusers` test); over 10 steps with x_0 clipping these stay well below 5e-4
//! (the measured gap is in the assertion message). A wrong spacing, alpha-bar index or prediction
//! conversion moves samples by more than 1e-2.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{NoiseRng, Prediction};
use ddpm_data::read_npy_f32;
use ddpm_run::DiffusersPipeline;
use ddpm_sample::{Sampler, SamplerKind, Spacing};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/diffusers")
}

fn npy(name: &str, device: &Device) -> Tensor<4> {
    let (values, shape) = read_npy_f32(&fixtures().join(name)).unwrap();
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[test]
fn ddim_from_a_given_x_t_matches_diffusers_samples() {
    let device = Device::flex();
    for pipeline in ["tiny-attn-eps", "tiny-vpred-cosine", "tiny-attn-eps-f16"] {
        let opened = DiffusersPipeline::open(&fixtures().join(pipeline)).unwrap();
        let model = opened.load_unet(&device).unwrap();
        let schedule = opened.noise_schedule().unwrap();
        let config = opened.scheduler.sampler.clone().with_kind(SamplerKind::Ddim).with_steps(10);
        let sampler = config.init(&schedule, opened.scheduler.prediction).unwrap();
        let x_t = npy(&format!("{pipeline}.init_noise.npy"), &device);
        let sampled = sampler.sample(&model, x_t, &mut NoiseRng::new(0), &device, None, |_, _| {});
        let images = sampled.samples.add_scalar(1.0).div_scalar(2.0).clamp(0.0, 1.0);
        let expected = npy(&format!("{pipeline}.ddim_samples.npy"), &device);
        let gap = images.sub(expected.clone()).abs().max().into_scalar::<f32>();
        eprintln!("{pipeline}: max |ours - diffusers| = {gap:e} in [0, 1]");
        assert!(gap < 5e-4, "{pipeline}: DDIM-10 samples differ from diffusers' by {gap:e}");
        let spread = expected.clone().max().into_scalar::<f32>() - expected.min().into_scalar::<f32>();
        assert!(spread > 0.05, "{pipeline}: the reference samples are too flat ({spread}) to test anything");
    }
}

#[test]
fn the_scheduler_settings_become_the_sampler_defaults() {
    let eps = DiffusersPipeline::open(&fixtures().join("tiny-attn-eps")).unwrap().scheduler;
    assert_eq!((eps.sampler.kind, eps.sampler.clip_x0, eps.sampler.spacing), (SamplerKind::Ddpm, true, Spacing::Leading));
    assert_eq!((eps.prediction, eps.num_train_timesteps), (Prediction::Epsilon, 1000));
    let v = DiffusersPipeline::open(&fixtures().join("tiny-vpred-cosine")).unwrap().scheduler;
    assert_eq!((v.sampler.kind, v.sampler.steps, v.sampler.clip_x0, v.sampler.spacing), (SamplerKind::Ddim, 50, false, Spacing::Trailing));
    assert_eq!(v.prediction, Prediction::V);
}

#[test]
fn bad_pipeline_folders_are_refused_naming_the_file_and_field() {
    let copy = |pipeline: &str| {
        let folder = tempfile::tempdir().unwrap();
        for file in ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"]
        {
            let to = folder.path().join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(fixtures().join(pipeline).join(file), to).unwrap();
        }
        folder
    };
    let edit = |folder: &Path, file: &str, field: &str, value: serde_json::Value| {
        let path = folder.join(file);
        let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json[field] = value;
        std::fs::write(path, json.to_string()).unwrap();
    };
    let refused = |folder: &Path| format!("{:#}", DiffusersPipeline::open(folder).unwrap_err());

    let cases = [
        ("scheduler/scheduler_config.json", "prediction_type", serde_json::json!("flow"), "prediction_type"),
        ("scheduler/scheduler_config.json", "beta_schedule", serde_json::json!("exp"), "beta_schedule"),
        ("scheduler/scheduler_config.json", "variance_type", serde_json::json!("learned_range"), "variance_type"),
        ("scheduler/scheduler_config.json", "steps_offset", serde_json::json!(1), "steps_offset"),
        ("scheduler/scheduler_config.json", "_class_name", serde_json::json!("EulerDiscreteScheduler"), "_class_name"),
        ("unet/config.json", "resnet_time_scale_shift", serde_json::json!("scale_shift"), "resnet_time_scale_shift"),
        ("model_index.json", "_class_name", serde_json::json!("StableDiffusionPipeline"), "_class_name"),
    ];
    for (file, field, value, expected) in cases {
        let folder = copy("tiny-attn-eps");
        edit(folder.path(), file, field, value);
        let problem = refused(folder.path());
        assert!(problem.contains(expected) && problem.contains(file), "{file} {field}: {problem}");
    }

    let folder = copy("tiny-attn-eps");
    std::fs::remove_file(folder.path().join("unet/diffusion_pytorch_model.safetensors")).unwrap();
    let problem = refused(folder.path());
    assert!(problem.contains("diffusion_pytorch_model.safetensors is missing") && problem.contains("safe_serialization"), "{problem}");

    let folder = copy("tiny-attn-eps");
    std::fs::remove_file(folder.path().join("scheduler/scheduler_config.json")).unwrap();
    let problem = refused(folder.path());
    assert!(problem.contains("cannot read") && problem.contains("scheduler_config.json"), "{problem}");
}
