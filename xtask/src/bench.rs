//! `cargo xtask bench`: the toy-gaussian job on each CPU backend, interleaved with PyTorch's.
//!
//! The machine is shared and noisy, so the runs alternate (ours on flex, ours on ndarray, PyTorch,
//! then again) and every figure is a median; the ratio to PyTorch comes from the same session.
//! Our side runs the real `toy-gaussian` binary and reads its `summary.json`, so what is measured
//! is exactly what users run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A short smoke run: 100 training epochs and one repeat.
    #[arg(long)]
    quick: bool,
    /// Runs of each workload; figures are medians.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Python interpreter with torch, numpy and scipy for the reference figures
    /// [default: $DDPM_BENCH_PYTHON, else python3 if it can import torch].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Folder of the PyTorch reference scripts.
    #[arg(long, default_value = "../shared/bench/torch")]
    torch_dir: PathBuf,
    /// Markdown file whose generated section is replaced with the new figures.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Where the raw figures go, as JSON.
    #[arg(long, default_value = "target/bench/toy.json")]
    json: PathBuf,
}

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

pub fn run(args: &BenchArgs) -> Result<()> {
    let repeats = if args.quick { 1 } else { args.repeats.max(1) };
    let epochs = if args.quick { 100 } else { 1000 };
    let binary = build_toy_gaussian()?;
    let python = find_python(args.python.as_deref());
    if python.is_none() {
        eprintln!("note: no Python with torch found (--python or $DDPM_BENCH_PYTHON): PyTorch figures are skipped");
    }
    let scratch = PathBuf::from("target/bench/runs");
    std::fs::create_dir_all(&scratch)?;

    let mut ours: Vec<(String, Vec<ToyRun>)> = CONFIGS.iter().map(|c| (label(*c), Vec::new())).collect();
    let mut torch = Vec::new();
    for repeat in 0..repeats {
        eprintln!("round {}/{repeats}", repeat + 1);
        for (config, (_, runs)) in CONFIGS.iter().zip(&mut ours) {
            runs.push(run_ours(&binary, *config, epochs, repeat, &scratch)?);
        }
        if let Some(python) = &python {
            torch.push(run_torch(python, &args.torch_dir, args.quick, repeat, &scratch)?);
        }
    }

    let report = render(&ours, &torch, epochs, repeats, args.quick);
    println!("{report}");
    write_section(&args.out, &report)?;
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::json!({ "epochs": epochs, "ours": ours.iter().map(|(b, r)| (b.clone(), r.clone())).collect::<std::collections::BTreeMap<_, _>>(), "pytorch": torch });
    std::fs::write(&args.json, serde_json::to_string_pretty(&json)?)?;
    eprintln!("wrote {} and {}", args.out.display(), args.json.display());
    Ok(())
}

/// Builds the app with every CPU backend, in the workspace's one profile, and returns its path.
fn build_toy_gaussian() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "toy-gaussian", "--features", "flex,ndarray", "--message-format", "short"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building toy-gaussian failed");
    }
    Ok(PathBuf::from("target/debug/toy-gaussian"))
}

/// The row name: the backend and the `--threads` flag it ran with (0 = every core).
fn label((backend, threads): (&str, usize)) -> String {
    format!("{backend}, --threads {threads}")
}

fn run_ours(binary: &Path, (backend, threads): (&str, usize), epochs: usize, repeat: usize, scratch: &Path) -> Result<ToyRun> {
    let out = scratch.join(format!("{backend}-{threads}-{repeat}"));
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

/// `python` if given, else `$DDPM_BENCH_PYTHON`, else `python3` when it can import torch.
fn find_python(explicit: Option<&Path>) -> Option<PathBuf> {
    let candidate = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("DDPM_BENCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&candidate).args(["-c", "import torch, numpy, scipy"]).output().is_ok_and(|o| o.status.success());
    ok.then_some(candidate)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else if v.len() % 2 == 1 { v[v.len() / 2] } else { 0.5 * (v[v.len() / 2 - 1] + v[v.len() / 2]) }
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

/// Replaces the generated section of `path` (or appends it), keeping everything written by hand.
fn write_section(path: &Path, section: &str) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let updated = match (existing.find(SECTION_START), existing.find(SECTION_END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{section}{}", &existing[..start], &existing[end + SECTION_END.len()..])
        }
        _ => format!("{}\n{section}\n", existing.trim_end()),
    };
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
