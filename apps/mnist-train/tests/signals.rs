//! `train` among the signals and neighbours of real machines. The signals that end programs (`timeout`,
//! `docker stop`, systemd and Slurm send SIGTERM; a closed terminal or ssh session sends SIGHUP) stop it
//! as Ctrl-C does: the current step finishes, a checkpoint is written, and the run can be resumed. And a
//! second `train` on a folder one is writing is refused, naming the first.
#![cfg(unix)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn mnist_train(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mnist-train"));
    command.current_dir(cwd).env("DDPM_OFFLINE", "1");
    command
}

/// Starts a long run in `cwd/run`, checkpointing every `checkpoint_every` steps, and waits until it is
/// training (its first losses are logged, and its first checkpoint is written when it is due every step).
fn start_long_run(cwd: &Path, checkpoint_every: usize) -> Child {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let child = mnist_train(cwd)
        .args(["train", "--data-dir", data.to_str().unwrap(), "--out", "run", "--steps", "100000", "--batch-size", "4"])
        .args(["--log-every", "1", "--sample-every", "0", "--checkpoint-every", &checkpoint_every.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = cwd.join("run/metrics.jsonl");
    let started = Instant::now();
    let checkpoint = cwd.join("run/checkpoint/state.json");
    while !std::fs::read_to_string(&metrics).is_ok_and(|text| !text.is_empty()) || (checkpoint_every == 1 && !checkpoint.is_file()) {
        assert!(started.elapsed() < Duration::from_secs(300), "the run never started training");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Starts a long run in `cwd/run`, sends `signal` once it trains and returns the run's exit status and stdout.
fn train_then_signal(cwd: &Path, signal: &str) -> (std::process::ExitStatus, String) {
    let child = start_long_run(cwd, 100_000);
    let sent = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(sent.success(), "kill -{signal}");
    let output = child.wait_with_output().unwrap();
    (output.status, String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn sigterm_and_sighup_stop_training_with_a_checkpoint_as_ctrl_c_does() {
    for signal in ["TERM", "HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let (status, stdout) = train_then_signal(dir.path(), signal);
        assert!(status.success(), "SIG{signal}: {status:?}\n{stdout}");
        assert!(stdout.contains("interrupted at step"), "SIG{signal}: {stdout}");
        assert!(stdout.contains("continue with: mnist-train train --resume --out run"), "SIG{signal}: {stdout}");
        let state = std::fs::read_to_string(dir.path().join("run/checkpoint/state.json")).expect("a checkpoint");
        let step = serde_json::from_str::<serde_json::Value>(&state).unwrap()["step"].as_u64().unwrap();
        assert!(step >= 1, "SIG{signal}: the checkpoint is of step {step}");
    }
}

#[test]
fn a_second_train_on_a_folder_being_written_is_refused_naming_the_first() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let data = data.to_str().unwrap();
    // A young run has no checkpoint yet, so only the lock stops a second new run; a run with one is
    // continued by `--resume`, which the lock stops too.
    for (checkpoint_every, extra) in [(100_000, &[][..]), (1, &["--resume"][..])] {
        let dir = tempfile::tempdir().unwrap();
        let first = start_long_run(dir.path(), checkpoint_every);
        let second =
            mnist_train(dir.path()).args(["train", "--data-dir", data, "--out", "run", "--steps", "5"]).args(extra).output().unwrap();
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains(&format!("being written by another train (pid {})", first.id())), "{extra:?}: {stderr}");
        assert!(Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap().success());
        let output = first.wait_with_output().unwrap();
        assert!(output.status.success(), "the first run is undisturbed: {}", String::from_utf8_lossy(&output.stderr));
        let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
        let steps: Vec<u64> =
            metrics.lines().map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["step"].as_u64().unwrap()).collect();
        assert!(steps.windows(2).all(|pair| pair[1] == pair[0] + 1), "one writer's metrics, step after step: {steps:?}");
    }
}
