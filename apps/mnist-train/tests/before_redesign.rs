//! Behaviour kept across the architecture redesign (issue 26), against files the code before it wrote
//! (`fixtures/before-redesign`, made by its `make.sh` at commit 0da15a4): a checkpoint of that code
//! still loads and samples to the same values, and the same tiny run trains to the same samples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ddpm_data::read_npy_f32;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/before-redesign").canonicalize().unwrap()
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_mnist-train")).current_dir(cwd).env("DDPM_OFFLINE", "1").args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}:\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The largest difference between two arrays of the same shape.
fn max_difference(a: &Path, b: &Path) -> f32 {
    let ((a, shape_a), (b, shape_b)) = (read_npy_f32(a).unwrap(), read_npy_f32(b).unwrap());
    assert_eq!(shape_a, shape_b);
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The sampling command of `make.sh`, from the checkpoint `run`, into `out`.
fn sample(cwd: &Path, run_dir: &str, out: &str) {
    let _ = self::run(cwd, &["sample", "--checkpoint", run_dir, "--steps", "5", "--n", "4", "--class", "all", "--out", out]);
}

#[test]
fn a_checkpoint_written_before_the_redesign_samples_to_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path(), fixtures().join("mnist-run").to_str().unwrap(), "samples");
    let difference = max_difference(&dir.path().join("samples/samples.npy"), &fixtures().join("mnist-samples.npy"));
    // The same weights, noise and sampler: only the order of float sums may differ (another core count).
    assert!(difference < 1e-4, "samples differ by up to {difference}");
}

#[test]
fn the_same_tiny_run_trains_to_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let data = data.to_str().unwrap();
    let _ = run(dir.path(), &["train", "--data-dir", data, "--out", "run", "--steps", "4", "--batch-size", "8", "--sample-every", "0"]);
    sample(dir.path(), "run", "samples");
    let difference = max_difference(&dir.path().join("samples/samples.npy"), &fixtures().join("mnist-samples.npy"));
    // Training sums the batch slices' gradients, whose rounding depends on the core count.
    assert!(difference < 1e-3, "samples differ by up to {difference}");
}
