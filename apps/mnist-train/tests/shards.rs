//! `sample --shard K/N` and `merge` end to end: shards sampled apart and merged are the single run's
//! samples and classes, bit for bit, and `merge` refuses an incomplete or mixed set of shards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn shards_sampled_apart_and_merged_are_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let data = repo("datasets/mnist");
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
