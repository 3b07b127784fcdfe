//! `single-image sample`.

use std::path::PathBuf;

use burn::tensor::Device;
use ddpm_nets::UNet;
use ddpm_train::{load_weights, read_state};

use crate::cli::SampleArgs;
use crate::report::{Request, sample_and_report, write_summary};
use crate::run::{SingleImageRun, read_target};

pub fn run(args: &SampleArgs, device: &Device, batch_slices: usize) -> anyhow::Result<()> {
    let (checkpoint, state) = read_state(&args.checkpoint)?;
    let spec = SingleImageRun::from_checkpoint(&state)?;
    // The checkpoint folder sits inside the run folder, beside the target.
    let run_dir = checkpoint.parent().map_or_else(|| PathBuf::from("."), PathBuf::from);
    let target = read_target(&run_dir, &spec)?;
    let model: UNet = load_weights(spec.network.init(device), &checkpoint, true)?;

    // The run's own sampler, with whatever the flags change.
    let mut sampler = spec.sampler.clone();
    if let Some(kind) = args.sampler {
        sampler.kind = kind;
    }
    if let Some(steps) = args.steps {
        sampler.steps = steps;
    }
    if let Some(eta) = args.eta {
        sampler.eta = eta;
    }
    if let Some(spacing) = args.spacing {
        sampler.spacing = spacing;
    }
    if let Some(clip) = args.clip_x0 {
        sampler.clip_x0 = clip;
    }
    anyhow::ensure!(args.n > 0, "--n must be at least 1");

    let out = args.out.clone().unwrap_or_else(|| run_dir.join("samples"));
    println!("single-image sample: {} image(s) from {} (step {})", args.n, run_dir.display(), state.step);
    let request = Request { sampler: &sampler, n: args.n, seed: args.seed, target: &target, threads: batch_slices };
    let summary = sample_and_report(&model, &spec, state.step, &request, &out, device)?;
    write_summary(&summary, &out)
}
