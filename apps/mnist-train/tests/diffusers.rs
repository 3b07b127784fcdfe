//! `mnist-train sample` on a diffusers pipeline folder (`fixtures/diffusers/tiny-mnist`, a random-weight
//! 28x28 UNet2DModel with a DDPMScheduler): from diffusers' own x_T, DDIM-10 draws diffusers' images.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ddpm_data::read_npy_f32;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/diffusers").canonicalize().unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-train")).env("DDPM_OFFLINE", "1").args(args).output().unwrap()
}

#[test]
fn sampling_a_diffusers_pipeline_from_its_x_t_gives_diffusers_images() {
    let out = tempfile::tempdir().unwrap();
    let (pipeline, noise) = (fixtures().join("tiny-mnist"), fixtures().join("tiny-mnist.init_noise.npy"));
    let args = ["sample", "--checkpoint", pipeline.to_str().unwrap(), "--out", out.path().to_str().unwrap()];
    let output = run(&[&args[..], &["--sampler", "ddim", "--steps", "10", "--init-noise", noise.to_str().unwrap()]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.contains("2 images, DDIM-10 (eta 0, Leading spacing, x_0 clipped)") && stdout.contains("the pipeline's weights"),
        "{stdout}"
    );
    let (ours, shape) = read_npy_f32(&out.path().join("samples.npy")).unwrap();
    let (theirs, their_shape) = read_npy_f32(&fixtures().join("tiny-mnist.ddim_samples.npy")).unwrap();
    assert_eq!(shape, their_shape);
    let gap = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(gap < 5e-4, "max |ours - diffusers| = {gap:e} in [0, 1]");

    // Noise of another shape is refused before sampling, naming both shapes.
    let wrong = fixtures().join("tiny-attn-eps.init_noise.npy");
    let output = run(&[&args[..], &["--init-noise", wrong.to_str().unwrap()]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("[2, 3, 16, 16]") && stderr.contains("[2, 1, 28, 28]"), "{stderr}");

    // A pipeline of another image shape is not an MNIST model.
    let other = fixtures().join("tiny-attn-eps");
    let output = run(&["sample", "--checkpoint", other.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("not a model mnist-train can sample") && stderr.contains("MNIST digits"),
        "{stderr}"
    );
}

/// Every file under `folder`, relative, sorted.
fn files(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(folder).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

fn json_keys(path: &Path) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn an_exported_unet2d_run_samples_as_the_run_does_and_has_diffusers_layout() {
    let work = tempfile::tempdir().unwrap();
    let (run_dir, export) = (work.path().join("run"), work.path().join("export"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let train = ["train", "--network", "unet2d", "--steps", "2", "--batch-size", "4", "--sample-every", "0"];
    let output = run(&[&train[..], &["--out", run_dir.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = run(&["export", "--checkpoint", run_dir.to_str().unwrap(), "--out", export.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // The layout and config fields diffusers writes (the fixture folders were written by diffusers).
    let reference = fixtures().join("tiny-mnist");
    assert_eq!(files(&export), files(&reference));
    for file in ["model_index.json", "unet/config.json", "scheduler/scheduler_config.json"] {
        assert_eq!(json_keys(&export.join(file)), json_keys(&reference.join(file)), "{file}");
    }

    // The export samples exactly as the run does, from the same x_T.
    let noise = fixtures().join("tiny-mnist.init_noise.npy");
    let sample = |checkpoint: &Path, out: &Path| {
        let args = ["sample", "--checkpoint", checkpoint.to_str().unwrap(), "--out", out.to_str().unwrap(), "--class", "none"];
        let output = run(&[&args[..], &["--sampler", "ddim", "--steps", "5", "--init-noise", noise.to_str().unwrap()]].concat());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        read_npy_f32(&out.join("samples.npy")).unwrap().0
    };
    assert_eq!(sample(&run_dir, &work.path().join("a")), sample(&export, &work.path().join("b")));

    // An existing folder is never overwritten; safetensors exports any network.
    let output = run(&["export", "--checkpoint", run_dir.to_str().unwrap(), "--out", export.to_str().unwrap()]);
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("already exists"));
    let plain = work.path().join("plain");
    let output = run(&["export", "--checkpoint", run_dir.to_str().unwrap(), "--out", plain.to_str().unwrap(), "--format", "safetensors"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(files(&plain), ["config.json", "model.safetensors"]);
    assert!(files(work.path()).iter().all(|f| !f.contains(".partial")), "no partial folder is left behind");
}

#[test]
fn a_learned_variance_run_exports_as_learned_range_and_samples_and_bounds_as_the_run_does() {
    let work = tempfile::tempdir().unwrap();
    let (run_dir, export) = (work.path().join("run"), work.path().join("export"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let train = ["train", "--network", "unet2d", "--variance", "learned-range", "--timesteps", "20", "--steps", "2"];
    let more = ["--batch-size", "4", "--sample-every", "0", "--out", run_dir.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];
    let output = run(&[&train[..], &more[..]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = run(&["export", "--checkpoint", run_dir.to_str().unwrap(), "--out", export.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json = |file: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(export.join(file)).unwrap()).unwrap() };
    assert_eq!(json("scheduler/scheduler_config.json")["variance_type"], "learned_range");
    assert_eq!((json("unet/config.json")["in_channels"].as_u64(), json("unet/config.json")["out_channels"].as_u64()), (Some(1), Some(2)));

    // DDPM adds the learned noise: the export draws the run's samples, and its bound is the run's.
    let sample = |checkpoint: &Path, out: &Path| {
        let args = ["sample", "--checkpoint", checkpoint.to_str().unwrap(), "--out", out.to_str().unwrap(), "--class", "none"];
        let output = run(&[&args[..], &["--sampler", "ddpm", "--n", "2", "--seed", "3"]].concat());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        read_npy_f32(&out.join("samples.npy")).unwrap().0
    };
    assert_eq!(sample(&run_dir, &work.path().join("a")), sample(&export, &work.path().join("b")));
    let bound = |checkpoint: &Path, json: &Path| {
        let args = ["eval", "--bpd", "--checkpoint", checkpoint.to_str().unwrap(), "--n", "2", "--bpd-timesteps", "3"];
        let output = run(&[&args[..], &["--data-dir", data.to_str().unwrap(), "--json", json.to_str().unwrap()]].concat());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        report["bits_per_dim"].as_f64().unwrap()
    };
    assert_eq!(bound(&run_dir, &work.path().join("run.json")), bound(&export, &work.path().join("export.json")));
}

#[test]
fn a_run_of_another_network_is_refused_by_the_diffusers_export() {
    let work = tempfile::tempdir().unwrap();
    let run_dir = work.path().join("run");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let train = ["train", "--steps", "1", "--batch-size", "2", "--sample-every", "0", "--ema-decay", "0"];
    let output = run(&[&train[..], &["--out", run_dir.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let export = work.path().join("export");
    let output = run(&["export", "--checkpoint", run_dir.to_str().unwrap(), "--out", export.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("the unet, which diffusers does not have") && stderr.contains("--format safetensors"),
        "{stderr}"
    );
    assert!(!export.exists());
}

#[test]
fn a_pipeline_this_toolkit_cannot_run_is_refused_through_the_binary_naming_the_field() {
    let cases = [
        ("unet/config.json", "resnet_time_scale_shift", serde_json::json!("scale_shift")),
        ("unet/config.json", "down_block_types", serde_json::json!(["CrossAttnDownBlock2D", "AttnDownBlock2D"])),
        ("unet/config.json", "class_embed_type", serde_json::json!("timestep")),
        ("scheduler/scheduler_config.json", "prediction_type", serde_json::json!("flow_prediction")),
        ("scheduler/scheduler_config.json", "beta_schedule", serde_json::json!("exp")),
        ("scheduler/scheduler_config.json", "thresholding", serde_json::json!(true)),
        // A learned variance needs twice the U-Net's output channels.
        ("scheduler/scheduler_config.json", "variance_type", serde_json::json!("learned_range")),
        ("model_index.json", "_class_name", serde_json::json!("StableDiffusionPipeline")),
    ];
    for (file, field, value) in cases {
        let folder = tempfile::tempdir().unwrap();
        for part in ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"]
        {
            std::fs::create_dir_all(folder.path().join(part).parent().unwrap()).unwrap();
            std::fs::copy(fixtures().join("tiny-mnist").join(part), folder.path().join(part)).unwrap();
        }
        let path = folder.path().join(file);
        let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json[field] = value;
        std::fs::write(&path, json.to_string()).unwrap();
        let out = folder.path().join("samples");
        let output = run(&["sample", "--checkpoint", folder.path().to_str().unwrap(), "--out", out.to_str().unwrap(), "--steps", "2"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{file} {field}: {stderr}");
        assert!(stderr.contains(field) && stderr.contains(file) && !stderr.contains("panicked"), "{file} {field}: {stderr}");
        assert!(!out.exists(), "{file} {field}: nothing is sampled");
    }

    // A pipeline folder that lost its index is told so, not that it holds no checkpoint.
    let folder = tempfile::tempdir().unwrap();
    for part in ["unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"] {
        std::fs::create_dir_all(folder.path().join(part).parent().unwrap()).unwrap();
        std::fs::copy(fixtures().join("tiny-mnist").join(part), folder.path().join(part)).unwrap();
    }
    let output = run(&["sample", "--checkpoint", folder.path().to_str().unwrap(), "--out", "unused", "--steps", "2"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model_index.json") && !stderr.contains("no checkpoint"), "{stderr}");
}
