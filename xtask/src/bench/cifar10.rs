//! A hub-sized pipeline: one laid out as google/ddpm-cifar10-32 (35.7 M parameters, attention at 16x16,
//! random weights), written by `xtask/torch/cifar10_diffusers.py`, sampled by DDIM-20 (16 images) by
//! `image-train sample --checkpoint PIPE` on flex and by diffusers' own loop on PyTorch, alternating;
//! then its network trained (batch 16) and run forward (batch 32) by `mnist-train bench --pipeline PIPE`
//! beside the same script's `--workload train`. Needs a Python with torch and diffusers: the pipeline
//! folder comes from diffusers.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::unet::{Report, json_lines, run_ours as run_bench};
use super::{BenchArgs, build_app, cpu_model, median, today, write_section};

const SECTION_START: &str = "<!-- cargo xtask bench: cifar10 start -->";
const SECTION_END: &str = "<!-- cargo xtask bench: cifar10 end -->";
/// The reference script, committed beside xtask.
const TORCH_SCRIPT: &str = "xtask/torch/cifar10_diffusers.py";

/// One side's DDIM figures: seconds for the images (median of the rounds) and peak memory (MiB).
struct Side {
    seconds: Vec<f64>,
    peak_mib: f64,
}

pub fn run(args: &BenchArgs, python: Option<&Path>) -> Result<()> {
    let Some(python) = python.filter(|p| super::unet2d::can_import_diffusers(p)) else {
        eprintln!("note: no Python with torch and diffusers: the cifar10-shaped pipeline is skipped (diffusers writes it)");
        return Ok(());
    };
    let binary = build_app("image-train")?;
    let pipeline = args.json.join("cifar10-pipeline");
    let (images, steps, rounds) = if args.quick { (2, 2, 1) } else { (16, 20, 3) };
    let (mut ours, mut theirs) = (Side { seconds: vec![], peak_mib: 0.0 }, Side { seconds: vec![], peak_mib: 0.0 });
    let mut params = 0.0;
    for round in 0..rounds {
        eprintln!("cifar10-shaped pipeline, round {}/{rounds}: diffusers on PyTorch", round + 1);
        let lines = run_diffusers(python, &pipeline, "ddim", args.quick)?;
        let ddim = lines.iter().find(|l| l["kind"] == "ddim").context("the reference printed no ddim line")?;
        theirs.seconds.push(ddim["median_s"].as_f64().unwrap_or(f64::NAN));
        theirs.peak_mib = theirs.peak_mib.max(ddim["peak_rss_mib"].as_f64().unwrap_or(0.0));
        params = lines.iter().find(|l| l["kind"] == "model").and_then(|l| l["n_params"].as_f64()).unwrap_or(0.0);
        eprintln!("cifar10-shaped pipeline, round {}/{rounds}: image-train sample on flex", round + 1);
        let (seconds, peak) = run_ours(&binary, &pipeline, images, steps, &args.json.join("cifar10-samples"))?;
        ours.seconds.push(seconds);
        ours.peak_mib = ours.peak_mib.max(peak);
    }
    let (train_batch, forward_batch) = if args.quick { ("2", "2") } else { ("16", "32") };
    eprintln!("cifar10-shaped network: mnist-train bench --pipeline on flex");
    let pipeline_flag = pipeline.to_string_lossy().into_owned();
    let settings = [
        ("--pipeline", pipeline_flag.as_str()),
        ("--warmup", "1"),
        ("--train-steps", if args.quick { "1" } else { "5" }),
        ("--forward-reps", if args.quick { "1" } else { "3" }),
        ("--train-batch", train_batch),
        ("--forward-batch", forward_batch),
        ("--sample-steps", "1"),
        ("--ddim-steps", "1"),
    ];
    let bench_ours = run_bench(&build_app("mnist-train")?, "flex", "all", "ddpm (flex)", &settings)?;
    eprintln!("cifar10-shaped network: diffusers on PyTorch");
    let bench_theirs = Report { name: "diffusers (PyTorch)".into(), lines: run_diffusers(python, &pipeline, "train", args.quick)? };
    let report = render(&ours, &theirs, [&bench_ours, &bench_theirs], images, steps, params, args.quick);
    println!("{report}");
    write_section(&args.out, &report, SECTION_START, SECTION_END)?;
    std::fs::create_dir_all(&args.json)?;
    let side = |s: &Side| json!({"ddim_seconds": s.seconds, "peak_rss_mib": s.peak_mib});
    let raw =
        json!({"images": images, "steps": steps, "n_params": params, "ddpm (flex)": side(&ours), "diffusers (PyTorch)": side(&theirs)});
    std::fs::write(args.json.join("cifar10.json"), serde_json::to_string_pretty(&raw)?)?;
    Ok(())
}

/// The reference script's `workload` (`ddim` or `train`), in a process of its own.
fn run_diffusers(python: &Path, pipeline: &Path, workload: &str, quick: bool) -> Result<Vec<Value>> {
    let mut command = Command::new(python);
    command.arg(TORCH_SCRIPT).arg("--pipeline").arg(pipeline).args(["--workload", workload]);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("{TORCH_SCRIPT} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(json_lines(&output.stdout))
}

/// `image-train sample` of the pipeline by DDIM (eta 0): the seconds and peak memory it prints.
fn run_ours(binary: &Path, pipeline: &Path, images: usize, steps: usize, out: &Path) -> Result<(f64, f64)> {
    let output = Command::new(binary)
        .arg("sample")
        .arg("--checkpoint")
        .arg(pipeline)
        .args(["--sampler", "ddim", "--eta", "0", "--steps", &steps.to_string(), "--n", &images.to_string(), "--out"])
        .arg(out)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!("image-train sample failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_summary(&stdout).with_context(|| format!("image-train sample printed no timing:\n{stdout}"))
}

/// `(seconds, peak MiB)` from `... in 15.9 s, peak memory 812 MiB`.
fn parse_summary(stdout: &str) -> Option<(f64, f64)> {
    let (_, tail) = stdout.rsplit_once(" in ")?;
    let (seconds, tail) = tail.split_once(" s, peak memory ")?;
    let (peak, _) = tail.split_once(" MiB")?;
    Some((seconds.trim().parse().ok()?, peak.trim().parse().ok()?))
}

fn render(ours: &Side, theirs: &Side, bench: [&Report; 2], images: usize, steps: usize, params: f64, quick: bool) -> String {
    let (mine, reference) = (median(ours.seconds.iter().copied()), median(theirs.seconds.iter().copied()));
    let mut rows = vec![
        format!("| DDIM-{steps}, {images} images (s) | {mine:.2} | {reference:.2} | {:.2}x |", reference / mine),
        format!("| peak memory, DDIM (MiB) | {:.0} | {:.0} | {:.2}x |", ours.peak_mib, theirs.peak_mib, ours.peak_mib / theirs.peak_mib),
    ];
    let [bench_ours, bench_theirs] = bench;
    let figure = |report: &Report, kind: &str, key: &str| report.get(kind, key).unwrap_or(f64::NAN);
    for (label, kind, key) in [("training", "bench_train", "train_images_per_s"), ("forward", "bench_forward", "forward_images_per_s")] {
        let batch = figure(bench_ours, kind, "batch");
        let (a, b) = (figure(bench_ours, kind, key), figure(bench_theirs, kind, key));
        rows.push(format!("| {label}, batch {batch} (images/s) | {a:.1} | {b:.1} | {:.2}x |", a / b));
    }
    let (a, b) = (figure(bench_ours, "end", "peak_rss_mib"), figure(bench_theirs, "end", "peak_rss_mib"));
    rows.push(format!("| peak memory, training and forward (MiB) | {a:.0} | {b:.0} | {:.2}x |", a / b));
    format!(
        "{SECTION_START}\n### A pipeline laid out as google/ddpm-cifar10-32 ({:.1} M parameters, random weights)\n\n\
         `cargo xtask bench{}` on {} ({} cores), {}: `image-train sample --checkpoint PIPE --sampler ddim --steps {steps} \
         --n {images}` on flex beside diffusers' DDIM loop on PyTorch, {} alternating rounds, medians; then \
         `mnist-train bench --pipeline PIPE` (training: AdamW, clipping, MSE on eps; forward: random t) beside the \
         same in diffusers, one run each (`{TORCH_SCRIPT}`). Speed ratios are ours / theirs by speed (above 1.00x we \
         are faster); memory ratios ours / theirs (above 1.00x we use more).\n\n\
         | workload | ddpm (flex) | diffusers (PyTorch) | ratio |\n| --- | ---: | ---: | ---: |\n{}\n{}{SECTION_END}",
        params / 1e6,
        if quick { " --quick" } else { "" },
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        today(),
        ours.seconds.len(),
        rows.join("\n"),
        if quick { "\n`--quick` runs tiny batches to check that everything works: its figures are not comparable.\n" } else { "" },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_sample_summary() {
        let stdout = "image-train sample: 16 images, DDIM (20 steps), ema weights, seed 0, in 15.9 s, peak memory 812 MiB\n  wrote x\n";
        assert_eq!(super::parse_summary(stdout), Some((15.9, 812.0)));
        assert_eq!(super::parse_summary("no figures"), None);
    }
}
