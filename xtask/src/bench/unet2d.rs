//! Seed 002's UNet2DModel: `mnist-train bench --network unet2d` on flex beside the same model in
//! diffusers on PyTorch (`xtask/torch/unet2d_diffusers.py`), training at batch 64 and the forward pass
//! at batch 256, one after the other in one session.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::unet::{Report, json_lines, run_ours};
use super::{BenchArgs, build_app, cpu_model, today, write_section};

const SECTION_START: &str = "<!-- cargo xtask bench: unet2d start -->";
const SECTION_END: &str = "<!-- cargo xtask bench: unet2d end -->";
/// The reference script, committed beside xtask.
const TORCH_SCRIPT: &str = "xtask/torch/unet2d_diffusers.py";

pub fn run(args: &BenchArgs, python: Option<&Path>) -> Result<()> {
    let binary = build_app("mnist-train")?;
    let (warmup, train, forward, train_batch, forward_batch) =
        if args.quick { ("0", "1", "1", "8", "8") } else { ("2", "20", "10", "64", "256") };
    let settings = [
        ("--network", "unet2d"),
        ("--warmup", warmup),
        ("--train-steps", train),
        ("--forward-reps", forward),
        ("--train-batch", train_batch),
        ("--forward-batch", forward_batch),
        ("--sample-steps", "1"),
        ("--ddim-steps", "1"),
    ];
    eprintln!("UNet2DModel on flex");
    let mut reports = vec![run_ours(&binary, "flex", "all", "ddpm (flex)", &settings)?];
    match python.filter(|p| can_import_diffusers(p)) {
        Some(python) => {
            eprintln!("UNet2DModel in diffusers on PyTorch");
            reports.push(run_diffusers(python, args.quick)?);
        }
        None => eprintln!("note: no Python with torch and diffusers: the UNet2DModel has no PyTorch figures"),
    }
    let report = render(&reports, args.quick, train_batch, forward_batch);
    println!("{report}");
    write_section(&args.out, &report, SECTION_START, SECTION_END)?;
    std::fs::create_dir_all(&args.json)?;
    let json: serde_json::Map<String, Value> = reports.iter().map(|r| (r.name.clone(), json!(r.lines))).collect();
    std::fs::write(args.json.join("unet2d.json"), serde_json::to_string_pretty(&json)?)?;
    Ok(())
}

pub(super) fn can_import_diffusers(python: &Path) -> bool {
    Command::new(python).args(["-c", "import diffusers"]).output().is_ok_and(|o| o.status.success())
}

fn run_diffusers(python: &Path, quick: bool) -> Result<Report> {
    let mut command = Command::new(python);
    command.arg(TORCH_SCRIPT);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("{TORCH_SCRIPT} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(Report { name: "diffusers (PyTorch)".into(), lines: json_lines(&output.stdout) })
}

fn render(reports: &[Report], quick: bool, train_batch: &str, forward_batch: &str) -> String {
    let rows: [(String, &str, &str); 3] = [
        (format!("training, batch {train_batch} (images/s)"), "bench_train", "train_images_per_s"),
        (format!("forward, batch {forward_batch} (images/s)"), "bench_forward", "forward_images_per_s"),
        ("peak memory (MiB)".into(), "end", "peak_rss_mib"),
    ];
    let torch = reports.iter().find(|r| r.name != "ddpm (flex)");
    let ours = &reports[0];
    let mut table = vec![format!("| workload | {} |{}", ours.name, torch.map_or(String::new(), |t| format!(" {} | ratio |", t.name)))];
    table.push(format!("| --- | ---: |{}", if torch.is_some() { " ---: | ---: |" } else { "" }));
    for (label, kind, key) in &rows {
        let mine = ours.get(kind, key);
        let mut line = format!("| {label} | {} |", mine.map_or("-".into(), |v| format!("{v:.1}")));
        if let Some(torch) = torch {
            let theirs = torch.get(kind, key);
            let ratio = mine.zip(theirs).map_or("-".into(), |(a, b)| format!("{:.2}x", a / b));
            line += &format!(" {} | {ratio} |", theirs.map_or("-".into(), |v| format!("{v:.1}")));
        }
        table.push(line);
    }
    let params = ours.get("model", "n_params").unwrap_or(0.0) / 1e6;
    format!(
        "{SECTION_START}\n### Seed 002's UNet2DModel (32-64-64, attention in the last two levels, {params:.2} M parameters)\n\n\
         `cargo xtask bench{}` on {} ({} cores), {}: `mnist-train bench --network unet2d` beside the same model in \
         diffusers (`{TORCH_SCRIPT}`). Ratios are ours / theirs (above 1.00x we are faster; for memory, above 1.00x \
         we use more).\n\n{}\n{}{SECTION_END}",
        if quick { " --quick" } else { "" },
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        today(),
        table.join("\n"),
        match (quick, torch.is_none()) {
            (true, _) => "\n`--quick` runs tiny batches to check that everything works: its figures are not comparable.\n",
            (false, true) => "\nNo Python with torch and diffusers was found for this run: no ratios.\n",
            (false, false) => "",
        },
    )
}
