//! The MNIST U-Net workloads: `mnist-train bench` on each CPU backend and PyTorch's
//! `mnist_unet.py`, one after the other in one session. Each program reports medians of its own
//! repeated steps, so one round is enough for a ratio. On flex it runs with the project's kernels,
//! with Burn's ops instead (`DDPM_KERNELS=burn`) and, outside `--quick`, with each kernel alone, for
//! the gain of each.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{BenchArgs, build_app, cpu_model, today, write_section};

const SECTION_START: &str = "<!-- cargo xtask bench: unet start -->";
const SECTION_END: &str = "<!-- cargo xtask bench: unet end -->";

/// What one program measured: its JSON lines, by `kind`.
pub(super) struct Report {
    pub(super) name: String,
    pub(super) lines: Vec<Value>,
}

impl Report {
    pub(super) fn get(&self, kind: &str, key: &str) -> Option<f64> {
        self.lines.iter().find(|l| l["kind"] == kind).and_then(|l| l[key].as_f64())
    }
}

/// `mnist-train bench` settings: warm-up, training steps, forward passes, DDPM steps, DDIM steps,
/// training batch, forward batch. ndarray takes tens of seconds per training step, so it gets the
/// fewest; `--quick` only checks that everything runs, on tiny batches.
fn settings(backend: &str, quick: bool) -> [(&'static str, String); 7] {
    let [warmup, train, forward, ddpm, ddim, train_batch, forward_batch] = match (backend, quick) {
        (_, true) => [0, 1, 1, 1, 1, 8, 8],
        ("ndarray", false) => [1, 2, 2, 5, 5, 128, 256],
        _ => [2, 20, 10, 100, 50, 128, 256],
    };
    [
        ("--warmup", warmup),
        ("--train-steps", train),
        ("--forward-reps", forward),
        ("--sample-steps", ddpm),
        ("--ddim-steps", ddim),
        ("--train-batch", train_batch),
        ("--forward-batch", forward_batch),
    ]
    .map(|(flag, value)| (flag, value.to_string()))
}

/// The report of flex with every kernel, and of flex with Burn's ops.
const FLEX: &str = "ddpm (flex)";
const FLEX_BURN_OPS: &str = "ddpm (flex, Burn's ops)";

/// The runs on flex: (`DDPM_KERNELS`, report name), the kernel-only ones for the gains table.
const FLEX_RUNS: [(&str, &str); 6] = [
    ("all", FLEX),
    ("burn", FLEX_BURN_OPS),
    ("conv2d", "conv2d kernel alone (GEMM over patches)"),
    ("conv2d,winograd", "conv2d kernel with Winograd's 3x3"),
    ("group_norm_silu", "GroupNorm+SiLU kernel alone"),
    ("upsample_cat", "upsample+cat kernel alone"),
];

pub fn run(args: &BenchArgs, python: Option<&Path>) -> Result<()> {
    let binary = build_app("mnist-train")?;
    let mut reports = Vec::new();
    let flex_runs = if args.quick { &FLEX_RUNS[..2] } else { &FLEX_RUNS[..] };
    for &(kernels, name) in flex_runs {
        eprintln!("U-Net on flex, DDPM_KERNELS={kernels}");
        reports.push(run_ours(&binary, "flex", kernels, name, &settings("flex", args.quick))?);
    }
    if let Some(python) = python {
        eprintln!("U-Net on PyTorch");
        reports.push(run_torch(python, &args.torch_dir, args.quick)?);
    }
    eprintln!("U-Net on ndarray");
    reports.push(run_ours(&binary, "ndarray", "all", "ddpm (ndarray)", &settings("ndarray", args.quick))?);
    let report = render(&reports, args.quick);
    println!("{report}");
    write_section(&args.out, &report, SECTION_START, SECTION_END)?;
    std::fs::create_dir_all(&args.json)?;
    let path = args.json.join("unet.json");
    let json: serde_json::Map<String, Value> = reports.iter().map(|r| (r.name.clone(), json!(r.lines))).collect();
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    eprintln!("wrote {} and {}", args.out.display(), path.display());
    Ok(())
}

pub(super) fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// `mnist-train --device <backend> bench <settings>` with `DDPM_KERNELS=<kernels>`.
pub(super) fn run_ours(binary: &Path, backend: &str, kernels: &str, name: &str, settings: &[(&str, impl AsRef<str>)]) -> Result<Report> {
    let output = Command::new(binary)
        .env("DDPM_KERNELS", kernels)
        .args(["--device", backend, "bench"])
        .args(settings.iter().flat_map(|(flag, value)| [flag.to_string(), value.as_ref().to_string()]))
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!("mnist-train bench on {backend} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(Report { name: name.into(), lines: json_lines(&output.stdout) })
}

fn run_torch(python: &Path, dir: &Path, quick: bool) -> Result<Report> {
    let mut command = Command::new(python);
    command.arg(dir.join("mnist_unet.py")).env("BENCH_OUT", "target/bench/runs");
    if quick {
        command.arg("--quick");
    }
    let output = command.output().with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("the PyTorch U-Net reference failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let mut lines = json_lines(&output.stdout);
    // The machine's matmul limit, for GFLOP/s as a fraction of it.
    let peak = Command::new(python).arg(dir.join("peak.py")).output().with_context(|| "running peak.py")?;
    lines.extend(json_lines(&peak.stdout));
    Ok(Report { name: "PyTorch".into(), lines })
}

/// A table row: its label, the figure of a report, and the ratio of (ours, theirs).
type Row = (&'static str, fn(&Report) -> Option<f64>, fn(f64, f64) -> f64);

fn render(all_reports: &[Report], quick: bool) -> String {
    let alone = |r: &&Report| FLEX_RUNS[2..].iter().any(|(_, name)| *name == r.name);
    let reports: Vec<&Report> = all_reports.iter().filter(|r| !alone(r)).collect();
    let torch = reports.iter().copied().find(|r| r.name == "PyTorch");
    // Conv FLOPs per forward image, from the reference (the same network); training ~ 3x forward.
    let flops = torch.and_then(|t| t.get("model", "conv_fwd_flops_per_image"));
    let matmul_limit = torch.and_then(|t| t.get("matmul", "gflops_median"));
    // Each row's ratio from (ours, PyTorch's): a speed-up for rates and times, a fraction for memory.
    let rate = |ours: f64, theirs: f64| ours / theirs;
    let time = |ours: f64, theirs: f64| theirs / ours;
    let rows: [Row; 5] = [
        ("training, batch 128 (images/s)", |r| r.get("bench_train", "train_images_per_s"), rate),
        ("forward, batch 256 (images/s)", |r| r.get("bench_forward", "forward_images_per_s"), rate),
        ("DDPM-1000, 64 images (s, extrapolated)", |r| r.get("bench_sample", "extrapolated_1000_step_wall_s"), time),
        ("DDIM-50, 64 images (s)", |r| r.get("bench_ddim", "extrapolated_50_step_wall_s"), time),
        ("peak memory (MiB)", |r| r.get("end", "peak_rss_mib"), rate),
    ];
    let mut header = "| workload |".to_string();
    let mut rule = "| --- |".to_string();
    for report in &reports {
        header += &format!(" {} |", report.name);
        rule += " ---: |";
        if torch.is_some() && report.name != "PyTorch" {
            header += " vs PyTorch |";
            rule += " ---: |";
        }
    }
    let mut table = vec![header, rule];
    for &(label, value, ratio_of) in &rows {
        let mut line = format!("| {label} |");
        for report in &reports {
            let ours = value(report);
            line += &ours.map_or(" - |".into(), |v| format!(" {v:.1} |"));
            if let Some(torch) = torch.filter(|_| report.name != "PyTorch") {
                let ratio = match (ours, value(torch)) {
                    (Some(a), Some(b)) => format!("{:.2}x", ratio_of(a, b)),
                    _ => "-".into(),
                };
                line += &format!(" {ratio} |");
            }
        }
        table.push(line);
    }
    let gains = kernel_gains(all_reports, &rows[..4]);
    let efficiency: Vec<String> = match (flops, matmul_limit) {
        (Some(flops), Some(limit)) => reports
            .iter()
            .filter_map(|r| {
                let gflops = 3.0 * flops * r.get("bench_train", "train_images_per_s")? / 1e9;
                Some(format!("{}: {gflops:.0} GFLOP/s ({:.0}% of the {limit:.0} GFLOP/s matmul limit)", r.name, 100.0 * gflops / limit))
            })
            .collect(),
        _ => Vec::new(),
    };
    format!(
        "{SECTION_START}\n### MNIST U-Net (32-64-128, 0.62 M parameters)\n\n\
         `cargo xtask bench{}` on {} ({} cores), {}. Speed ratios are PyTorch time / ours, so above 1.00x \
         we are faster; the memory ratio is ours / PyTorch's. Our DDPM-1000 and (on ndarray) DDIM-50 times are \
         extrapolated from the steps timed, like PyTorch's DDPM figure. PyTorch has no DDIM figure in its benchmark. \
         `{FLEX_BURN_OPS}` is flex without the project's kernels (`DDPM_KERNELS=burn`).\n\n{}\n{}{}\n{}{SECTION_END}",
        if quick { " --quick" } else { "" },
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        today(),
        table.join("\n"),
        gains,
        if efficiency.is_empty() {
            String::new()
        } else {
            format!(
                "\nTraining throughput as compute (three times a forward pass's FLOPs per image, counted as direct \
                 convolutions: the kernels' Winograd convolutions make fewer multiplications, so ours can pass the \
                 limit): {}.\n",
                efficiency.join("; ")
            )
        },
        match (quick, torch.is_none()) {
            (true, _) => "\n`--quick` runs tiny batches to check that everything works: its figures are not comparable.\n",
            (false, true) => "\nPyTorch was not available for this run: no ratios.\n",
            (false, false) => "",
        },
    )
}

/// The gain of each kernel on flex: every flex run's figure against Burn's ops (`DDPM_KERNELS=burn`),
/// as a speed-up; empty when only the two main flex runs were made.
fn kernel_gains(reports: &[Report], rows: &[Row]) -> String {
    let Some(burn) = reports.iter().find(|r| r.name == FLEX_BURN_OPS) else { return String::new() };
    let runs: Vec<&Report> =
        FLEX_RUNS[2..].iter().chain(&FLEX_RUNS[..1]).filter_map(|(_, name)| reports.iter().find(|r| r.name == *name)).collect();
    if runs.len() < 2 {
        return String::new();
    }
    let mut table = vec![
        format!(
            "| speed-up over Burn's ops on flex |{}",
            runs.iter().map(|r| format!(" {} |", if r.name == FLEX { "all kernels" } else { &r.name })).collect::<String>()
        ),
        format!("| --- |{}", " ---: |".repeat(runs.len())),
    ];
    for (label, value, ratio_of) in rows {
        let cells: String = runs
            .iter()
            .map(|r| match (value(r), value(burn)) {
                (Some(ours), Some(base)) => format!(" {:.2}x |", ratio_of(ours, base)),
                _ => " - |".into(),
            })
            .collect();
        table.push(format!("| {label} |{cells}"));
    }
    format!("\nThe kernels' gains, each run against `{FLEX_BURN_OPS}` in the same session:\n\n{}\n", table.join("\n"))
}
