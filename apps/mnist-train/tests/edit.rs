//! The editing commands end to end on a tiny conditional run and a diffusers pipeline folder: what
//! they keep exactly, their ends (strength 0 and 1), the regeneration command `invert` prints, and
//! their errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ddpm_data::read_npy_f32;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path).canonicalize().unwrap()
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-train")).current_dir(cwd).env("DDPM_OFFLINE", "1").args(args).output().unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "should have failed: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn npy(path: &Path) -> (Vec<f32>, Vec<usize>) {
    read_npy_f32(path).unwrap()
}

/// A conditional run of two steps and four test digits, in `cwd`.
fn tiny_run_and_digits(cwd: &Path) {
    let data = repo("datasets/mnist");
    let data = data.to_str().unwrap();
    ok(&run(cwd, &["train", "--data-dir", data, "--out", "run", "--steps", "2", "--batch-size", "8", "--sample-every", "0"]));
    ok(&run(cwd, &["digits", "--data-dir", data, "--n", "4", "--out", "digits"]));
}

#[test]
fn inpaint_keeps_the_kept_pixels_and_img2img_spans_image_to_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    tiny_run_and_digits(cwd);
    let (digits, shape) = npy(&cwd.join("digits/samples.npy"));
    assert_eq!(shape, [4, 1, 28, 28]);

    let inpaint = ["inpaint", "--checkpoint", "run", "--image", "digits/samples.npy", "--steps", "6", "--jump-length", "2"];
    let out = ok(&run(cwd, &[&inpaint[..], &["--mask", "centre:10", "--resamples", "2", "--out", "filled"]].concat()));
    assert!(out.contains("4 images") && out.contains("classes read from the images"), "{out}");
    let (filled, _) = npy(&cwd.join("filled/samples.npy"));
    let in_hole = |i: usize| (9..19).contains(&(i % 784 / 28)) && (9..19).contains(&(i % 28));
    let kept_error = (0..filled.len()).filter(|&i| !in_hole(i)).map(|i| (filled[i] - digits[i]).abs()).fold(0.0, f32::max);
    assert!(kept_error <= 1e-6, "kept pixels moved by {kept_error}");
    assert!((0..filled.len()).any(|i| in_hole(i) && filled[i] != digits[i]), "the hole is redrawn");
    let inferred: Vec<usize> = serde_json::from_str(&std::fs::read_to_string(cwd.join("filled/classes.json")).unwrap()).unwrap();
    assert_eq!(inferred.len(), 4);
    assert!(cwd.join("filled/inpaint.png").is_file() && cwd.join("filled/grid.png").is_file());

    // A mask file: one PNG for every image (white keeps), here the bottom half missing.
    ok(&run(cwd, &[&inpaint[..], &["--mask", "bottom", "--class", "3", "--out", "bottom"]].concat()));
    let err = failure(&run(cwd, &[&inpaint[..], &["--mask", "digits/samples.npy"]].concat()));
    assert!(err.contains("--mask") && err.contains("kept"), "a digit is not a mask of 0 and 1: {err}");

    let img2img = ["img2img", "--checkpoint", "run", "--image", "digits/samples.npy", "--class", "5", "--seed", "3"];
    ok(&run(cwd, &[&img2img[..], &["--strength", "0", "--out", "same"]].concat()));
    let (same, _) = npy(&cwd.join("same/samples.npy"));
    let identity_error = same.iter().zip(&digits).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(identity_error <= 1e-5, "strength 0 returns the input: {identity_error}");
    ok(&run(cwd, &[&img2img[..], &["--strength", "1", "--out", "fresh"]].concat()));
    // Edits guide at 1 by default, `sample` at 1.5.
    ok(&run(cwd, &["sample", "--checkpoint", "run", "--class", "5", "--seed", "3", "--n", "4", "--guidance", "1", "--out", "sampled"]));
    let same_as_sampling = npy(&cwd.join("fresh/samples.npy")) == npy(&cwd.join("sampled/samples.npy"));
    assert!(same_as_sampling, "strength 1 is sampling from the same noise");
    let err = failure(&run(cwd, &[&img2img[..], &["--strength", "1.5"]].concat()));
    assert!(err.contains("--strength"), "{err}");
    let err = failure(&run(cwd, &[&img2img[..], &["--init-noise", "digits/samples.npy"]].concat()));
    assert!(err.contains("--init-noise has no meaning for img2img"), "{err}");
}

#[test]
fn invert_prints_the_command_that_draws_the_images_back_and_interpolate_draws_a_strip() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    tiny_run_and_digits(cwd);
    let out = ok(&run(cwd, &["invert", "--checkpoint", "run", "--image", "digits/samples.npy", "--steps", "5", "--out", "inv"]));
    let (noise, shape) = npy(&cwd.join("inv/x_T.npy"));
    assert_eq!(shape, [4, 1, 28, 28]);
    assert!(noise.iter().all(|v| v.is_finite()));
    // The printed command, run as printed (minus the program name), regenerates the images.
    let command = out.lines().find_map(|l| l.trim().strip_prefix("regenerate with: mnist-train ")).expect("a regeneration command");
    assert!(command.contains("--steps 5") && command.contains("--class none"), "{command}");
    let args: Vec<&str> = command.split_whitespace().chain(["--out", "back"]).collect();
    ok(&run(cwd, &args));
    assert_eq!(npy(&cwd.join("back/samples.npy")).1, [4, 1, 28, 28]);
    let err = failure(&run(cwd, &["invert", "--checkpoint", "run", "--image", "digits/samples.npy", "--sampler", "ddpm"]));
    assert!(err.contains("only --sampler ddim"), "{err}");

    let interpolate = ["interpolate", "--checkpoint", "run", "--steps", "4", "--frames", "5"];
    ok(&run(cwd, &[&interpolate[..], &["--out", "noises"]].concat()));
    assert_eq!(npy(&cwd.join("noises/samples.npy")).1, [5, 1, 28, 28]);
    assert!(cwd.join("noises/strip.png").is_file());
    let err = failure(&run(cwd, &[&interpolate[..], &["--image", "digits/samples.npy"]].concat()));
    assert!(err.contains("between two images; got 4"), "{err}");
}

#[test]
fn edits_run_on_a_diffusers_pipeline_and_refuse_images_of_another_shape() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let pipeline = repo("fixtures/diffusers/tiny-mnist");
    let pipeline = pipeline.to_str().unwrap();
    ok(&run(cwd, &["digits", "--data-dir", repo("datasets/mnist").to_str().unwrap(), "--n", "2", "--out", "digits"]));
    let out = ok(&run(
        cwd,
        &["inpaint", "--checkpoint", pipeline, "--image", "digits/samples.npy", "--mask", "left", "--steps", "4", "--out", "filled"],
    ));
    assert!(out.contains("2 images"), "{out}");
    ddpm_data::write_npy_f32(&cwd.join("wide.npy"), &[0.5; 2 * 30 * 30], &[2, 1, 30, 30]).unwrap();
    let err = failure(&run(cwd, &["img2img", "--checkpoint", pipeline, "--image", "wide.npy"]));
    assert!(err.contains("[2, 1, 30, 30]") && err.contains("[N, 1, 28, 28]"), "{err}");
    ddpm_data::write_npy_f32(&cwd.join("nan.npy"), &[f32::NAN; 784], &[1, 1, 28, 28]).unwrap();
    let err = failure(&run(cwd, &["img2img", "--checkpoint", pipeline, "--image", "nan.npy"]));
    assert!(err.contains("NaN"), "{err}");
}
