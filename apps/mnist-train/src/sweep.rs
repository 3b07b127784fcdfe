//! `mnist-train sweep`: sample quality against cost for every sampler on one checkpoint. For each
//! (sampler, NFE) it draws n digits from the EMA weights, times them and scores them as `eval` does,
//! then writes `sweep.json` (rewritten after every point, so an interrupted sweep keeps what it measured)
//! and `sweep.png` (FID against NFE on a log axis, one line per sampler, the real-data floor dashed).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use burn::tensor::Device;
use ddpm_data::plot::{Line, cycle_color, lines_log_x};
use ddpm_data::write_atomically;
use ddpm_nets::ImageDenoiser;
use ddpm_run::{Execution, LoadedRun, Weights};
use ddpm_sample::{SamplerConfig, SamplerKind};
use serde::{Deserialize, Serialize};

use crate::cli::SweepArgs;
use crate::run::{APP, GUIDANCE, MnistData, MnistRun};
use crate::sample::digits;
use ddpm_eval::Report;

/// One measured point.
#[derive(Serialize, Deserialize, Debug)]
struct Point {
    sampler: String,
    nfe: usize,
    description: String,
    seconds_per_image: f64,
    #[serde(flatten)]
    report: Report,
}

/// The sampler of a sweep line at `nfe` model evaluations. "ddpm" below T steps is respaced, with the
/// run's variance (learned, or its fixed one).
fn sampler_at(kind: SamplerKind, nfe: usize, args: &SweepArgs, spec: &MnistRun) -> SamplerConfig {
    let base = spec.sampler.clone().with_kind(kind).with_steps(nfe).with_spacing(args.spacing).with_eta(0.0);
    base.with_ddpm_steps((nfe < spec.timesteps).then_some(nfe))
}

pub fn run(args: &SweepArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let loaded = LoadedRun::<MnistData>::open(APP, &args.checkpoint)?;
    let out = args.out.clone().unwrap_or_else(|| loaded.run_dir.join("sweep"));
    if args.replot {
        return replot(&out);
    }
    let spec = loaded.description();
    let model = loaded.sampling_network(device, Weights::Ema)?;
    let evaluator = crate::eval::evaluator(args.data_dir.as_deref(), &args.classifier, device)?;
    std::fs::create_dir_all(&out)?;
    let mut plan: Vec<(SamplerKind, usize)> = args.samplers.iter().flat_map(|&kind| args.nfe.iter().map(move |&nfe| (kind, nfe))).collect();
    if args.samplers.contains(&SamplerKind::Ddpm) && args.ddpm_full {
        plan.push((SamplerKind::Ddpm, spec.timesteps));
    }
    plan.retain(|&(_, nfe)| (1..=spec.timesteps).contains(&nfe));
    let guided = if model.classes().is_some() { format!(" (every digit in turn, guidance {GUIDANCE})") } else { String::new() };
    println!("mnist-train sweep: {} points of {} digits each{guided} from {}", plan.len(), args.n, args.checkpoint.display());

    let mut points = Vec::new();
    for (kind, nfe) in plan {
        let sampler = sampler_at(kind, nfe, args, spec);
        let started = Instant::now();
        let pixels = digits(&model, spec, &sampler, args.n, device, execution)?;
        let seconds_per_image = started.elapsed().as_secs_f64() / args.n as f64;
        let images: Vec<f32> = pixels.iter().map(|v| v * 2.0 - 1.0).collect();
        let report = evaluator.evaluate(&images, None, 0);
        let description = sampler.describe(spec.timesteps);
        println!("  {:<8} NFE {nfe:>4}: {} | {:.3} s/image | {description}", kind.cli_name(), report.summary(), seconds_per_image);
        points.push(Point { sampler: kind.cli_name().into(), nfe, description, seconds_per_image, report });
        let json = serde_json::json!({ "checkpoint": args.checkpoint, "n": args.n, "points": &points });
        write_atomically(&out.join("sweep.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    }
    plot(&out.join("sweep.png"), &points, args.n)?;
    println!("  wrote {}/{{sweep.json, sweep.png}}", out.display());
    Ok(())
}

/// Draws `sweep.png` again from the points in `out/sweep.json` (e.g. of an interrupted sweep).
fn replot(out: &Path) -> anyhow::Result<()> {
    let file = out.join("sweep.json");
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}: run the sweep first", file.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not a sweep", file.display()))?;
    let points: Vec<Point> =
        serde_json::from_value(json["points"].clone()).with_context(|| format!("{} holds no points", file.display()))?;
    let n = json["n"].as_u64().unwrap_or(0) as usize;
    plot(&out.join("sweep.png"), &points, n)?;
    println!("mnist-train sweep: redrew {} from {} points", out.join("sweep.png").display(), points.len());
    Ok(())
}

fn plot(path: &Path, points: &[Point], n: usize) -> anyhow::Result<()> {
    // One line per sampler, in the order they first appear (a merged sweep.json may list one twice).
    let mut names: Vec<&str> = Vec::new();
    for point in points {
        if !names.contains(&point.sampler.as_str()) {
            names.push(&point.sampler);
        }
    }
    let series: Vec<Vec<(f64, f64)>> =
        names.iter().map(|name| points.iter().filter(|p| p.sampler == *name).map(|p| (p.nfe as f64, p.report.fid)).collect()).collect();
    let lines: Vec<Line> =
        names.iter().zip(&series).enumerate().map(|(i, (label, points))| Line { label, points, color: cycle_color(i) }).collect();
    let floor = points.iter().map(|p| p.report.fid_floor).sum::<f64>() / points.len().max(1) as f64;
    let title = format!("FID against model evaluations, {n} digits each");
    lines_log_x(path, &title, ["model evaluations (NFE)", "FID (project classifier)"], &lines, Some(("real digits (floor)", floor)))?;
    Ok(())
}
