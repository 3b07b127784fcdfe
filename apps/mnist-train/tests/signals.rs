//! The signals that end programs on real machines (`timeout`, `docker stop`, systemd and Slurm send
//! SIGTERM; a closed terminal or ssh session sends SIGHUP) stop `train` as Ctrl-C does: the current step
//! finishes, a checkpoint is written, and the run can be resumed.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a long run in `cwd/run`, waits until it is training (its first losses are logged), sends
/// `signal` and returns the run's exit status and stdout.
fn train_then_signal(cwd: &Path, signal: &str) -> (std::process::ExitStatus, String) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let child = Command::new(env!("CARGO_BIN_EXE_mnist-train"))
        .current_dir(cwd)
        .env("DDPM_OFFLINE", "1")
        .args(["train", "--data-dir", data.to_str().unwrap(), "--out", "run", "--steps", "100000", "--batch-size", "4"])
        .args(["--log-every", "1", "--sample-every", "0", "--checkpoint-every", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = cwd.join("run/metrics.jsonl");
    let started = Instant::now();
    while !std::fs::read_to_string(&metrics).is_ok_and(|text| !text.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(300), "the run never started training");
        std::thread::sleep(Duration::from_millis(50));
    }
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
