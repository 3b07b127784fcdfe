//! Reliability through the binary, as a careless user, an edited file or a crash would test it (issue
//! 15's cases): each case asserts the exit code, the message, and that nothing else changed on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist").canonicalize().unwrap()
}

/// Runs the binary in `cwd`, never downloading.
fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-train")).current_dir(cwd).env("DDPM_OFFLINE", "1").args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file under `dir` with its contents, but the run lock's (it names whichever `train` held it last).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|name| name != ".lock") {
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A finished 3-step run in `cwd/run` (EMA kept, checkpoint every step).
fn tiny_run(cwd: &Path) -> PathBuf {
    let data = mnist_dir();
    let output = run(cwd, &tiny_run_args(&data, "3"));
    assert!(output.status.success(), "{}", stderr(&output));
    cwd.join("run")
}

/// The command [`tiny_run`] trains with (for `steps` steps), reading MNIST from `data`.
fn tiny_run_args<'a>(data: &'a Path, steps: &'a str) -> Vec<&'a str> {
    let data = data.to_str().unwrap();
    let args = ["--data-dir", data, "--out", "run", "--steps", steps, "--batch-size", "8", "--checkpoint-every", "1"];
    [&["train"][..], &args, &["--sample-every", "0", "--conditional", "false"]].concat()
}

/// Runs `args` in `cwd` expecting exit code `code`, a message containing `message`, no panic, and
/// `watched` left exactly as it was.
fn refused(cwd: &Path, watched: &Path, args: &[&str], code: i32, message: &str) {
    let before = snapshot(watched);
    let output = run(cwd, args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(message), "{args:?}: expected '{message}' in:\n{err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(snapshot(watched) == before, "{args:?} changed {}", watched.display());
}

#[test]
fn a_run_whose_only_complete_checkpoint_is_the_temporary_one_is_found_and_not_overwritten() {
    // Two crashes at the wrong moments of the swap used to leave only .checkpoint.tmp/ and lose the run.
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let run_dir = tiny_run(cwd);
    std::fs::rename(run_dir.join("checkpoint"), run_dir.join(".checkpoint.tmp")).unwrap();
    let data = mnist_dir();
    let new_run = ["train", "--data-dir", data.to_str().unwrap(), "--out", "run", "--steps", "2", "--sample-every", "0"];
    refused(cwd, &run_dir, &new_run, 1, "already holds a training run (add --resume");
    let sampled = run(cwd, &["sample", "--checkpoint", "run", "--n", "2", "--steps", "2", "--out", "samples"]);
    assert!(sampled.status.success(), "{}", stderr(&sampled));
    let resumed = run(cwd, &["train", "--resume", "--out", "run", "--data-dir", data.to_str().unwrap(), "--steps", "4"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resuming run at step 3 of 4"));
    let left: Vec<_> =
        snapshot(&run_dir).into_keys().filter(|p| p.starts_with(".checkpoint.tmp") || p.starts_with(".checkpoint.old")).collect();
    assert!(left.is_empty(), "the swap was finished: {left:?}");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("checkpoint/state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 4);
}

#[test]
fn an_edited_state_json_is_refused_naming_the_field_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let run_dir = tiny_run(cwd);
    let state_file = run_dir.join("checkpoint/state.json");
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let data = mnist_dir();
    let cases = [
        ("/run/network/UNet/groups", serde_json::json!(7), "GroupNorm with 7 groups cannot split 32 channels"),
        ("/run/network/UNet/groups", serde_json::json!(0), "groups must be at least 1"),
        ("/run/network/UNet/time_mlp_layers", serde_json::json!(3), "time_mlp_layers must be 1 or 2"),
        ("/run/data/image_size", serde_json::json!(16), "the data has 1 channels of 16 pixels"),
        ("/run/data/channels", serde_json::json!(3), "the data has 3 channels of 28 pixels"),
        ("/train/batch_size", serde_json::json!(0), "batch_size = 0: must be at least 1"),
    ];
    for (pointer, value, message) in cases {
        let mut edited = original.clone();
        *edited.pointer_mut(pointer).unwrap() = value;
        std::fs::write(&state_file, edited.to_string()).unwrap();
        for command in [
            &["sample", "--checkpoint", "run", "--n", "2", "--out", "samples"][..],
            &["train", "--resume", "--out", "run", "--steps", "5", "--data-dir", data.to_str().unwrap()],
            &["baseline", "--compare", "run", "--steps", "1", "--data-dir", data.to_str().unwrap(), "--out", "base"],
        ] {
            refused(cwd, &run_dir, command, 1, message);
            assert!(stderr(&run(cwd, command)).contains("state.json: "), "{command:?} names the file");
        }
    }
    assert!(!cwd.join("samples").exists() && !cwd.join("base").exists(), "nothing was written");
}

#[test]
fn numeric_flags_out_of_range_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let data = mnist_dir();
    let data = data.to_str().unwrap();
    let train = |flag: &'static str, value: &'static str| vec!["train", "--data-dir", data, "--out", "new", flag, value];
    for (flag, value, message) in [
        ("--batch-size", "0", "0 is not in 1..=2048"),
        ("--batch-size", "70000", "70000 is not in 1..=2048"),
        ("--minutes", "nan", "NaN is not a number in (0, 10000000]"),
        ("--minutes", "-1", "-1 is not a number in (0, 10000000]"),
        ("--minutes", "1e300", "is not a number in (0, 10000000]"),
        ("--timesteps", "1000000000000", "1000000000000 is not in 1..=100000"),
        ("--ema-decay", "nan", "NaN is not a number in [0, 1)"),
        ("--clip", "nan", "NaN is not a number in [0, 1000000]"),
        ("--steps", "0", "0 is not in 1..=100000000"),
        ("--lr", "0", "0 is not a number in (0, 1]"),
    ] {
        refused(cwd, cwd, &train(flag, value), 2, &format!("invalid value '{value}' for '{flag}"));
        refused(cwd, cwd, &train(flag, value), 2, message);
    }
    refused(cwd, cwd, &["--threads", "100000", "forward", "--out", "f.png"], 2, "100000 is not in 0..=1024");
    refused(cwd, cwd, &["sample", "--checkpoint", "run", "--n", "100000000"], 2, "100000000 is not in 1..=10000");
}

#[test]
fn resume_takes_the_same_command_refuses_changed_flags_and_missing_ema_weights_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let run_dir = tiny_run(cwd);
    // The very command that started the run, with --resume added and more steps, continues it.
    let data = mnist_dir();
    let again = [tiny_run_args(&data, "4"), vec!["--resume", "--lr", "1e-3"]].concat();
    let resumed = run(cwd, &again);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resuming run at step 3 of 4"));
    for (flag, value, own) in [
        ("--lr", "0.01", "0.001"),
        ("--batch-size", "16", "8"),
        ("--network", "ddpm", "small"),
        ("--timesteps", "500", "1000"),
        ("--seed", "3", "0"),
        ("--ema-decay", "0.5", "0.999"),
        ("--conditional", "true", "false"),
    ] {
        let args = ["train", "--resume", "--out", "run", "--steps", "5", flag, value];
        refused(cwd, &run_dir, &args, 1, &format!("{flag} {value} differs from this run's {flag} {own}: --resume continues"));
    }

    std::fs::remove_file(run_dir.join("checkpoint/ema.bpk")).unwrap();
    refused(cwd, &run_dir, &["sample", "--checkpoint", "run", "--n", "2", "--out", "s"], 1, "the checkpoint has no ema.bpk");
    refused(cwd, &run_dir, &["sample", "--checkpoint", "run", "--n", "2", "--out", "s"], 1, "sample with --weights online");
    let data = mnist_dir();
    refused(cwd, &run_dir, &["train", "--resume", "--out", "run", "--steps", "5", "--data-dir", data.to_str().unwrap()], 1, "no ema.bpk");
    let online = run(cwd, &["sample", "--checkpoint", "run", "--n", "2", "--steps", "2", "--weights", "online", "--out", "s"]);
    assert!(online.status.success(), "{}", stderr(&online));
    assert!(String::from_utf8_lossy(&online.stdout).contains("online weights"));
}

#[test]
fn a_figure_does_not_replace_a_file_that_is_not_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("notes.txt"), "keep me").unwrap();
    let data = mnist_dir();
    refused(cwd, cwd, &["forward", "--data-dir", data.to_str().unwrap(), "--out", "notes.txt"], 1, "is not a PNG, so it is not replaced");
    let forward = ["forward", "--data-dir", data.to_str().unwrap(), "--out", "f.png"];
    assert!(run(cwd, &forward).status.success());
    assert!(run(cwd, &forward).status.success(), "an earlier figure is replaced");
}

#[test]
fn ctrl_c_after_training_stops_the_final_sampling_and_says_the_checkpoint_is_written() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let data = mnist_dir();
    // The DDPM-style network's final 16 digits take seconds, time enough for the signal to land.
    let args = ["train", "--data-dir", data.to_str().unwrap(), "--out", "run", "--steps", "2", "--batch-size", "4", "--network", "ddpm"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnist-train"))
        .current_dir(dir.path())
        .env("DDPM_OFFLINE", "1")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.contains("finished at step 2 of 2") {
            let pid = child.id().to_string();
            assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        }
        printed.push(line);
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{printed:?} {}", stderr(&output));
    assert!(
        stderr(&output).contains("stop requested (Ctrl-C, SIGTERM or SIGHUP): stopping; the run's checkpoint is already written"),
        "{}",
        stderr(&output)
    );
    assert!(!printed.iter().any(|line| line.contains("wrote")), "no output is claimed: {printed:?}");
    assert!(dir.path().join("run/checkpoint/state.json").is_file());
}

#[test]
fn a_closed_output_pipe_ends_the_program_without_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnist-train"))
        .args(["train", "--help"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn an_output_folder_that_cannot_be_written_is_refused_before_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let run_dir = tiny_run(cwd);
    std::fs::write(cwd.join("taken"), b"a file where the output folder should go").unwrap();
    // Found before DDPM's 1000 steps, not after them.
    let args = ["sample", "--checkpoint", "run", "--n", "2", "--sampler", "ddpm", "--out", "taken/samples"];
    refused(cwd, &run_dir, &args, 1, "cannot write taken/samples");
}

#[test]
fn a_data_dir_without_the_files_is_refused_not_replaced_by_another_folder() {
    // Run from the repository root, whose datasets/mnist/ the data used to be taken from instead.
    let repo = mnist_dir().join("../..").canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("my-idx-files");
    std::fs::create_dir(&named).unwrap();
    let out = dir.path().join("run");
    let args = ["train", "--data-dir", named.to_str().unwrap(), "--out", out.to_str().unwrap(), "--steps", "1", "--sample-every", "0"];
    let output = run(&repo, &args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("MNIST files missing") && err.contains("my-idx-files") && !err.contains("datasets/mnist\""), "{err}");
    assert!(!out.exists(), "nothing was trained, and no folder is left behind");
}
