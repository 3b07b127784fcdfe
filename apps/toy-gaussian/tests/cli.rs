//! The binary as users run it: outputs, and clear errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

use ddpm_data::read_npy_f32;

fn toy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toy-gaussian")).args(args).output().expect("the binary runs")
}

/// A small, fast job: the point is the plumbing, not the fit.
const TINY: [&str; 10] = ["--steps", "30", "--timesteps", "50", "--samples", "200", "--data-points", "200", "--batch-size", "64"];

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_run_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = TINY.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    let output = toy(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("KS") && stdout.contains("wrote"), "{stdout}");

    for file in ["samples.npy", "histogram.png", "loss.png", "loss.csv", "config.json", "summary.json"] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
    let (samples, shape) = read_npy_f32(&out.join("samples.npy")).unwrap();
    assert_eq!(shape, vec![200, 1]);
    assert!(samples.iter().all(|v| v.is_finite()));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in ["sample_mean", "sample_std", "ks_statistic", "wasserstein1", "final_loss"] {
        assert!(summary[key].as_f64().is_some_and(f64::is_finite), "summary.json lacks {key}");
    }
    assert!(summary["train"]["seconds"].as_f64().unwrap() > 0.0);
    let csv = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), 31, "a header and one row per step");
    assert!(png_size(&out.join("histogram.png")) > (0, 0));
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

#[test]
fn unwritable_output_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = file.join("run");
    let output = toy(&["--steps", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("cannot create the output folder"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_settings_are_clear_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 12] = [
        (&["--timesteps", "0"], "'--timesteps <TIMESTEPS>': 0 is not in 1..=100000"),
        (&["--timesteps", "1000000000000"], "1000000000000 is not in 1..=100000"),
        (&["--beta-end", "1.5"], "1.5 is not a number in [0, 1)"),
        (&["--beta-start", "NaN"], "NaN is not a number in [0, 1)"),
        (&["--beta-start", "0"], "outside (0, 1)"),
        (&["--data-std", "0"], "0 is not a number in (0, 1000000]"),
        (&["--data-points", "0"], "0 is not in 1..=10000000"),
        (&["--lr", "-1"], "-1 is not a number in (0, 1]"),
        (&["--hidden", "64,0"], "'--hidden <HIDDEN>': 0 is not in 1..=65536"),
        (&["--time-dim", "0"], "'--time-dim <TIME_DIM>': 0 is not in 1..=65536"),
        (&["--samples", "0"], "'--samples <SAMPLES>': 0 is not in 1..=10000000"),
        (&["--device", "tpu"], "unknown device 'tpu'"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["--steps", "2", "--out", out];
        args.extend_from_slice(flags);
        let output = toy(&args);
        let err = stderr(&output);
        assert!(!output.status.success(), "{flags:?} should fail");
        assert!(err.contains(message), "{flags:?}: expected '{message}' in: {err}");
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
    }
}

#[test]
fn a_folder_holding_another_run_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = TINY.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    assert!(toy(&args).status.success());
    let summary = std::fs::read(out.join("summary.json")).unwrap();
    let output = toy(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("already holds a run (samples.npy): pick another --out"), "{}", stderr(&output));
    assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), summary, "the first run's outputs are untouched");
}

#[test]
fn a_backend_that_is_not_compiled_in_names_its_feature() {
    // Test builds enable flex (the default); cuda is never compiled in CI.
    let output = toy(&["--device", "cuda", "--steps", "1"]);
    let err = stderr(&output);
    assert!(err.contains("--features cuda"), "{err}");
}

#[test]
fn help_documents_the_presets_and_defaults() {
    let output = toy(&["--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for text in ["--preset", "reference", "quality", "--out", "--device", "[1000 | 800]", "--data-mean"] {
        assert!(help.contains(text), "--help lacks '{text}':\n{help}");
    }
}

#[test]
fn the_ndarray_backend_runs_the_same_job() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = TINY.to_vec();
    args.extend(["--device", "ndarray", "--out", dir.path().to_str().unwrap()]);
    let output = toy(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("on ndarray"));
}

/// The run `fixtures/before-redesign/make.sh` made with the code before the architecture redesign
/// (issue 26) gives the same samples: the same data, weights, training noise and sampling noise.
#[test]
fn the_samples_are_those_of_the_code_before_the_redesign() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = toy(&["--steps", "200", "--samples", "200", "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (samples, _) = read_npy_f32(&out.join("samples.npy")).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/before-redesign/toy-samples.npy");
    let (before, _) = read_npy_f32(&fixture).unwrap();
    assert_eq!(samples.len(), before.len());
    // Training sums the batch slices' gradients, whose rounding depends on the core count.
    let difference = samples.iter().zip(&before).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(difference < 1e-3, "samples differ by up to {difference}");
}
