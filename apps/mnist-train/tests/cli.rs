//! `mnist-train` end to end on the real MNIST files, with tiny runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist").canonicalize().unwrap()
}

/// Runs the binary in `cwd` (so nothing lands in the repository), never downloading.
fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-train")).current_dir(cwd).env("DDPM_OFFLINE", "1").args(args).output().unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "should have failed");
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn tiny_train(cwd: &Path, extra: &[&str]) -> Output {
    let data = mnist_dir();
    let mut args = vec![
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        "run",
        "--batch-size",
        "8",
        "--checkpoint-every",
        "2",
        "--sample-every",
        "2",
        "--log-every",
        "1",
        "--conditional",
        "false",
    ];
    args.extend_from_slice(extra);
    run(cwd, &args)
}

#[test]
fn train_resume_and_sample_a_tiny_run() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = ok(&tiny_train(cwd, &["--steps", "4", "--ema-decay", "0.9"]));
    assert!(out.contains("finished at step 4 of 4"), "{out}");
    let run_dir = cwd.join("run");
    for file in [
        "checkpoint/model.bpk",
        "checkpoint/ema.bpk",
        "checkpoint/optimizer.bpk",
        "checkpoint/state.json",
        "metrics.jsonl",
        "loss.png",
        "samples/step-2.png",
        "samples/step-4.png",
        "run.json",
    ] {
        assert!(run_dir.join(file).is_file(), "missing {file}");
    }
    let err = failure(&tiny_train(cwd, &["--steps", "4"]));
    assert!(err.contains("--resume"), "a second run into the same folder is refused: {err}");

    let out = ok(&run(
        cwd,
        &["train", "--resume", "--out", "run", "--steps", "6", "--data-dir", mnist_dir().to_str().unwrap(), "--sample-every", "0"],
    ));
    assert!(out.contains("finished at step 6 of 6"), "{out}");
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> =
        metrics.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (0..6).collect::<Vec<_>>());

    let out = ok(&run(cwd, &["sample", "--checkpoint", "run", "--steps", "5", "--n", "3", "--out", "samples"]));
    assert!(out.contains("DPM-Solver++(2M)-5 (Trailing spacing, x_0 clipped)"), "the run's default sampler: {out}");
    let (values, shape) = ddpm_data::read_npy_f32(&cwd.join("samples/samples.npy")).unwrap();
    assert_eq!(shape, vec![3, 1, 28, 28]);
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(cwd.join("samples/grid.png").is_file());

    // The likelihood of 3 test digits, the KL terms from 2 steps each.
    let data = mnist_dir();
    let bpd = ["eval", "--bpd", "--checkpoint", "run", "--n", "3", "--bpd-timesteps", "2", "--data-dir", data.to_str().unwrap()];
    let out = ok(&run(cwd, &bpd));
    assert!(out.contains("bits/dim over 3 images") && out.contains("KL terms from 2 steps per image"), "{out}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("bpd.json")).unwrap()).unwrap();
    let part = |name: &str| report[name].as_f64().unwrap();
    assert_eq!((report["n"].as_u64(), report["dimensions"].as_u64()), (Some(3), Some(784)));
    assert!(part("bits_per_dim") > 0.0 && part("stderr") >= 0.0, "{report}");
    assert!((part("prior_bpd") + part("kl_bpd") + part("decoder_bpd") - part("bits_per_dim")).abs() < 1e-9, "{report}");
    let err = failure(&run(cwd, &["eval", "--bpd"]));
    assert!(err.contains("--checkpoint"), "{err}");
    let err = failure(&run(cwd, &["eval", "--bpd", "--checkpoint", "run", "--samples", "samples"]));
    assert!(err.contains("cannot be used with"), "{err}");

    let err = failure(&run(cwd, &["sample", "--checkpoint", "run", "--timesteps", "500"]));
    assert!(err.contains("does not match") && err.contains("T = 1000"), "{err}");
    let err = failure(&run(cwd, &["sample", "--checkpoint", "run", "--schedule", "cosine"]));
    assert!(err.contains("does not match"), "{err}");
    let err = failure(&run(cwd, &["sample", "--checkpoint", "nowhere"]));
    assert!(err.contains("no checkpoint here"), "{err}");
}

#[test]
fn every_prediction_target_trains_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for (prediction, recorded) in [("sample", "sample"), ("epsilon", "epsilon"), ("v", "v")] {
        let data = mnist_dir();
        let out = format!("run-{prediction}");
        let args = ["train", "--data-dir", data.to_str().unwrap(), "--out", &out, "--steps", "2", "--batch-size", "8"];
        let stdout = ok(&run(cwd, &[&args[..], &["--sample-every", "0", "--conditional", "false", "--prediction", prediction]].concat()));
        assert!(stdout.contains("finished at step 2 of 2"), "{stdout}");
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(cwd.join(&out).join("checkpoint/state.json")).unwrap()).unwrap();
        assert_eq!((state["run"]["prediction"].as_str(), state["train"]["prediction"].as_str()), (Some(recorded), Some(recorded)));
        // DDPM takes all 1000 steps: once is enough to read the target through the posterior.
        let samplers: &[&str] = if prediction == "v" { &["ddim", "ddpm"] } else { &["ddim"] };
        for &sampler in samplers {
            let samples = format!("{out}/{sampler}");
            let steps = ["--steps", "3"];
            let args = ["sample", "--checkpoint", &out, "--sampler", sampler, "--n", "2", "--out", &samples];
            ok(&run(cwd, &[&args[..], if sampler == "ddim" { &steps[..] } else { &[] }].concat()));
            let (values, shape) = ddpm_data::read_npy_f32(&cwd.join(&samples).join("samples.npy")).unwrap();
            assert_eq!(shape, vec![2, 1, 28, 28]);
            assert!(values.iter().all(|v| v.is_finite()), "{prediction} {sampler}");
        }
    }
}

#[test]
fn forward_and_baseline_draw_their_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = mnist_dir();
    let data = data.to_str().unwrap();
    ok(&run(dir.path(), &["forward", "--data-dir", data, "--out", "forward.png", "--columns", "6"]));
    assert!(dir.path().join("forward.png").is_file());
    let out = ok(&run(dir.path(), &["baseline", "--data-dir", data, "--steps", "2", "--batch-size", "4", "--out", "base"]));
    assert!(out.contains("final loss"), "{out}");
    assert!(dir.path().join("base/baseline.png").is_file());
}

#[test]
fn print_model_shows_layers_and_parameter_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&run(dir.path(), &["train", "--print-model"]));
    assert!(out.contains("parameters: 6"), "{out}"); // 0.62 M
    assert!(out.contains("Conv2d"), "{out}");
}

#[test]
fn missing_data_names_the_files_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = failure(&run(dir.path(), &["train", "--data-dir", "nowhere", "--steps", "1"]));
    assert!(err.contains("train-images-idx3-ubyte.gz") && err.contains("--data-dir") && err.contains("DDPM_OFFLINE"), "{err}");
}

#[test]
fn a_conditional_run_samples_one_digit_or_all_and_eval_reads_the_classes() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let data = mnist_dir();
    // Conditional is the default.
    let args = ["train", "--data-dir", data.to_str().unwrap(), "--out", "cond", "--steps", "2", "--batch-size", "8", "--sample-every", "0"];
    ok(&run(cwd, &[&args[..], &["--cond-drop", "0.2"]].concat()));
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cwd.join("cond/checkpoint/state.json")).unwrap()).unwrap();
    assert_eq!(state["train"]["conditioning"]["classes"], 10);
    assert_eq!(state["train"]["conditioning"]["drop_probability"], 0.2);

    let sample = ["sample", "--checkpoint", "cond", "--sampler", "dpm++2m", "--steps", "3"];
    // Without --class a conditional run draws every digit, as --class all does.
    let out = ok(&run(cwd, &[&sample[..], &["--n", "12", "--out", "all"]].concat()));
    assert!(out.contains("20 images") && out.contains("guidance 1.5"), "--n rounds up to two per digit: {out}");
    let classes: Vec<usize> = serde_json::from_str(&std::fs::read_to_string(cwd.join("all/classes.json")).unwrap()).unwrap();
    assert_eq!(classes, (0..20).map(|i| i / 2).collect::<Vec<_>>());
    let out = ok(&run(cwd, &[&sample[..], &["--class", "none", "--n", "3", "--out", "all"]].concat()));
    assert!(out.contains("3 images") && !out.contains("guidance"), "{out}");
    assert!(!cwd.join("all/classes.json").exists(), "unconditional samples have no classes to score against");
    ok(&run(cwd, &[&sample[..], &["--class", "7", "--n", "10", "--guidance", "1", "--out", "seven"]].concat()));
    let classifier = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist-classifier");
    let out =
        ok(&run(cwd, &["eval", "--samples", "seven", "--data-dir", data.to_str().unwrap(), "--classifier", classifier.to_str().unwrap()]));
    assert!(out.contains("classified as the class they were sampled for"), "{out}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cwd.join("seven/eval.json")).unwrap()).unwrap();
    assert!(report["class_agreement"].is_f64(), "{report}");

    let err = failure(&run(cwd, &[&sample[..], &["--class", "ten"]].concat()));
    assert!(err.contains("expected a digit 0-9, `all` or `none`"), "{err}");
    ok(&tiny_train(cwd, &["--steps", "1"]));
    let err = failure(&run(cwd, &["sample", "--checkpoint", "run", "--class", "3"]));
    assert!(err.contains("trained unconditionally") && err.contains("--conditional"), "{err}");
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `sample --shard K/N` and `merge`: shards sampled apart and merged are the single run's samples and
/// classes, bit for bit, and `merge` refuses an incomplete or mixed set of shards.
#[test]
fn shards_sampled_apart_and_merged_are_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let data = mnist_dir();
    ok(&run(
        cwd,
        &["train", "--data-dir", data.to_str().unwrap(), "--out", "run", "--steps", "2", "--batch-size", "8", "--sample-every", "0"],
    ));
    // Respaced DDPM adds fresh noise at every step: each shard must read its own rows of every draw.
    let sample = ["sample", "--checkpoint", "run", "--sampler", "ddpm", "--steps", "4", "--n", "10"];
    let seed_5 = [&sample[..], &["--seed", "5"]].concat();
    ok(&run(cwd, &[&seed_5[..], &["--out", "whole"]].concat()));
    assert!(!cwd.join("whole/shard.json").exists(), "a whole run is no shard");
    for k in 0..3 {
        let out = ok(&run(cwd, &[&seed_5[..], &["--shard", &format!("{k}/3"), "--out", &format!("shard{k}")]].concat()));
        assert!(out.contains(&format!("(shard {k}/3)")), "{out}");
    }
    let merged = ok(&run(cwd, &["merge", "shard2", "shard0", "shard1", "--out", "merged"]));
    assert!(merged.contains("10 samples from 3 shards"), "{merged}");
    assert_eq!(bytes(&cwd.join("merged/samples.npy")), bytes(&cwd.join("whole/samples.npy")), "the merged samples are the single run's");
    assert_eq!(bytes(&cwd.join("merged/classes.json")), bytes(&cwd.join("whole/classes.json")));
    assert!(cwd.join("merged/grid.png").is_file());

    let missing = failure(&run(cwd, &["merge", "shard0", "shard2", "--out", "bad"]));
    assert!(missing.contains("shards [0, 2]") && missing.contains("3 shards"), "{missing}");
    ok(&run(cwd, &[&sample[..], &["--seed", "6", "--shard", "1/3", "--out", "other"]].concat()));
    let mixed = failure(&run(cwd, &["merge", "shard0", "other", "shard2", "--out", "bad"]));
    assert!(mixed.contains("another job") && mixed.contains("seed 6"), "{mixed}");
    let not_a_shard = failure(&run(cwd, &["merge", "whole", "--out", "bad"]));
    assert!(not_a_shard.contains("not a shard's folder"), "{not_a_shard}");
    let past_the_end = failure(&run(cwd, &[&seed_5[..], &["--shard", "3/3"]].concat()));
    assert!(past_the_end.contains("count from 0"), "{past_the_end}");
}
