//! The toy-gaussian job on each CPU backend, interleaved with PyTorch's `toy_gaussian.py`.
//!
//! The runs alternate (ours on flex, ours on ndarray, PyTorch, then again) and every figure is a
//! median. Our side runs the real `toy-gaussian` binary and reads its `summary.json`, so what is
//! measured is exactly what users run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{BenchArgs, build_app, cpu_model, median, today, write_section};

/// The configurations timed: (backend, CPU threads; 0 = every core). The app defaults to one
/// thread; the all-cores row shows why.
const CONFIGS: [(&str, usize); 4] = [("flex", 1), ("flex", 0), ("ndarray", 1), ("ndarray", 0)];
const SECTION_START: &str = "<!-- cargo xtask bench: toy start -->";
const SECTION_END: &str = "<!-- cargo xtask bench: toy end -->";

/// One timed run of the toy job: training and sampling seconds with their CPU utilisation.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct ToyRun {
    train_s: f64,
    train_util: f64,
    sample_s: f64,
    sample_util: f64,
}

pub fn run(args: &BenchArgs, python: Option<&Path>) -> Result<()> {
    let repeats = if args.quick { 1 } else { args.repeats.max(1) };
    let epochs = if args.quick { 100 } else { 1000 };
    let binary = build_app("toy-gaussian")?;
    let scratch = PathBuf::from("target/bench/runs");
    std::fs::create_dir_all(&scratch)?;

    let mut ours: Vec<(String, Vec<ToyRun>)> = CONFIGS.iter().map(|c| (label(*c), Vec::new())).collect();
    let mut torch = Vec::new();
    for repeat in 0..repeats {
        eprintln!("round {}/{repeats}", repeat + 1);
        for (config, (_, runs)) in CONFIGS.iter().zip(&mut ours) {
            runs.push(run_ours(&binary, *config, epochs, repeat, &scratch)?);
        }
        if let Some(python) = python {
            torch.push(run_torch(python, &args.torch_dir, args.quick, repeat, &scratch)?);
        }
    }

    let report = render(&ours, &torch, epochs, repeats, args.quick);
    println!("{report}");
    write_section(&args.out, &report, SECTION_START, SECTION_END)?;
    std::fs::create_dir_all(&args.json)?;
    let json = serde_json::json!({ "epochs": epochs, "ours": ours.iter().map(|(b, r)| (b.clone(), r.clone())).collect::<std::collections::BTreeMap<_, _>>(), "pytorch": torch });
    let path = args.json.join("toy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    eprintln!("wrote {} and {}", args.out.display(), path.display());
    Ok(())
}

/// The row name: the backend and the `--threads` flag it ran with (0 = every core).
fn label((backend, threads): (&str, usize)) -> String {
    format!("{backend}, --threads {threads}")
}

fn run_ours(binary: &Path, (backend, threads): (&str, usize), epochs: usize, repeat: usize, scratch: &Path) -> Result<ToyRun> {
    let out = scratch.join(format!("{backend}-{threads}-{repeat}"));
    // toy-gaussian refuses a folder that holds a run: clear the scratch left by an earlier bench.
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    let output = Command::new(binary)
        .args(["--device", backend, "--threads", &threads.to_string()])
        .args(["--steps", &epochs.to_string(), "--seed", &repeat.to_string()])
        .arg("--out")
        .arg(&out)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!("toy-gaussian on {backend} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json"))?)?;
    let field = |phase: &str, key: &str| summary[phase][key].as_f64().with_context(|| format!("summary.json lacks {phase}.{key}"));
    Ok(ToyRun {
        train_s: field("train", "seconds")?,
        train_util: field("train", "cpu_utilisation")?,
        sample_s: field("sample", "seconds")?,
        sample_util: field("sample", "cpu_utilisation")?,
    })
}

fn run_torch(python: &Path, dir: &Path, quick: bool, repeat: usize, scratch: &Path) -> Result<ToyRun> {
    let mut command = Command::new(python);
    command.arg(dir.join("toy_gaussian.py")).args(["--seed", &repeat.to_string()]).env("BENCH_OUT", scratch);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("the PyTorch reference failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let find = |kind: &str, key: &str| {
        lines.iter().find(|l| l["kind"] == kind).and_then(|l| l[key].as_f64()).with_context(|| format!("PyTorch output lacks {kind}.{key}"))
    };
    Ok(ToyRun {
        train_s: find("train", "train_wall_s")?,
        train_util: find("train", "train_cpu_util")?,
        sample_s: find("sample", "sample_wall_s")?,
        sample_util: find("sample", "sample_cpu_util")?,
    })
}

fn render(ours: &[(String, Vec<ToyRun>)], torch: &[ToyRun], epochs: usize, repeats: usize, quick: bool) -> String {
    let torch_train = median(torch.iter().map(|r| r.train_s));
    let torch_sample = median(torch.iter().map(|r| r.sample_s));
    let ratio = |ours: f64, theirs: f64| if theirs.is_finite() { format!("{:.2}x", ours / theirs) } else { "-".into() };
    let mut rows = Vec::new();
    for (backend, runs) in ours {
        let (train, sample) = (median(runs.iter().map(|r| r.train_s)), median(runs.iter().map(|r| r.sample_s)));
        rows.push(format!(
            "| ddpm ({backend}) | {train:.3} s | {:.0} | {:.2} | {} | {sample:.3} s | {:.0} | {:.2} | {} |",
            epochs as f64 / train,
            median(runs.iter().map(|r| r.train_util)),
            ratio(train, torch_train),
            1000.0 / sample,
            median(runs.iter().map(|r| r.sample_util)),
            ratio(sample, torch_sample),
        ));
    }
    if !torch.is_empty() {
        rows.push(format!(
            "| PyTorch | {torch_train:.3} s | {:.0} | {:.2} | 1.00x | {torch_sample:.3} s | {:.0} | {:.2} | 1.00x |",
            epochs as f64 / torch_train,
            median(torch.iter().map(|r| r.train_util)),
            1000.0 / torch_sample,
            median(torch.iter().map(|r| r.sample_util)),
        ));
    }
    format!(
        "{SECTION_START}\n### Toy Gaussian: {epochs} full-batch epochs, then 1000 samples x 1000 steps\n\n\
         `cargo xtask bench{}` on {} ({} cores), {}; medians of {repeats} interleaved rounds.\n\
         Time ratios are ours / PyTorch (below 1.00x is faster). CPU util = CPU seconds / wall seconds.\n\n\
         | program | train | epochs/s | CPU util | vs PyTorch | sample | steps/s | CPU util | vs PyTorch |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n{}\n{}\n{SECTION_END}",
        if quick { " --quick" } else { "" },
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        today(),
        rows.join("\n"),
        if torch.is_empty() { "\nPyTorch was not available for this run: no ratios.\n" } else { "" },
    )
}
