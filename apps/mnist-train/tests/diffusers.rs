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
