//! `cargo xtask bench`: the project's workloads on each CPU backend, side by side with the PyTorch
//! reference (`../shared/bench/torch/`) when a Python with torch is found.
//!
//! The machine is shared and noisy, so ours and PyTorch's runs alternate within one session and
//! the report gives ratios from that session. Our side runs the real app binaries, so what is
//! measured is what users run.

mod cifar10;
mod toy;
mod unet;
mod unet2d;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A short smoke run (CI): tiny step counts and one repeat.
    #[arg(long)]
    quick: bool,
    /// Runs of the toy workload; figures are medians.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Only this workload. [default: all]
    #[arg(long, value_enum)]
    only: Option<Workload>,
    /// Python interpreter with torch, numpy and scipy for the reference figures
    /// [default: $DDPM_BENCH_PYTHON, else python3 if it can import torch].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Folder of the PyTorch reference scripts.
    #[arg(long, default_value = "../shared/bench/torch")]
    torch_dir: PathBuf,
    /// Markdown file whose generated sections are replaced with the new figures.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Folder for the raw figures as JSON (toy.json, unet.json, unet2d.json, cifar10.json) and the cifar10-shaped pipeline.
    #[arg(long, default_value = "target/bench")]
    json: PathBuf,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// The 1-D Gaussian MLP: training and sampling.
    Toy,
    /// The MNIST U-Net: training and forward throughput, DDPM and DDIM sampling.
    Unet,
    /// Seed 002's UNet2DModel beside diffusers': training and forward throughput.
    Unet2d,
    /// A pipeline laid out as google/ddpm-cifar10-32 beside diffusers': DDIM-20 seconds and peak memory.
    Cifar10,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let python = find_python(args.python.as_deref());
    if python.is_none() {
        eprintln!("note: no Python with torch found (--python or $DDPM_BENCH_PYTHON): PyTorch figures are skipped");
    }
    if args.only.is_none_or(|w| w == Workload::Toy) {
        toy::run(args, python.as_deref())?;
    }
    if args.only.is_none_or(|w| w == Workload::Unet) {
        unet::run(args, python.as_deref())?;
    }
    if args.only.is_none_or(|w| w == Workload::Unet2d) {
        unet2d::run(args, python.as_deref())?;
    }
    if args.only.is_none_or(|w| w == Workload::Cifar10) {
        cifar10::run(args, python.as_deref())?;
    }
    Ok(())
}

/// Builds an app with every CPU backend, in the workspace's one profile, and returns its path.
fn build_app(name: &str) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", name, "--features", "flex,ndarray", "--message-format", "short"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building {name} failed");
    }
    Ok(PathBuf::from("target/debug").join(name))
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
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        0.5 * (v[v.len() / 2 - 1] + v[v.len() / 2])
    }
}

/// Replaces the generated section of `path` (or appends it), keeping everything written by hand.
fn write_section(path: &Path, section: &str, start_marker: &str, end_marker: &str) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let updated = match (existing.find(start_marker), existing.find(end_marker)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{section}{}", &existing[..start], &existing[end + end_marker.len()..])
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
    Command::new("date").arg("+%Y-%m-%d").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}
