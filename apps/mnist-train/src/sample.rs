//! `mnist-train sample`.

use std::path::PathBuf;

use burn::tensor::Device;
use ddpm_data::image::{to_unit_range, write_grid};
use ddpm_nets::UNet;
use ddpm_sample::{ReverseProcess, SamplerConfig};
use ddpm_schedule::NoiseRng;
use ddpm_train::{load_weights, read_state};

use crate::cli::{SampleArgs, Weights};
use crate::run::MnistRun;

pub fn run(args: &SampleArgs, device: &Device, batch_slices: usize) -> anyhow::Result<()> {
    let (dir, state) = read_state(&args.checkpoint)?;
    let spec = MnistRun::from_checkpoint(&state)?;
    check_overrides(args, &spec)?;
    anyhow::ensure!(args.n > 0, "--n must be at least 1");
    let schedule = spec.noise_schedule()?;
    let model: UNet = load_weights(spec.network.init(device), &dir, args.weights == Weights::Ema)?;

    let size = spec.image_size;
    let shape = [args.n, spec.channels, size, size];
    let mut rng = NoiseRng::new(args.seed);
    let sampler_config = SamplerConfig::new()
        .with_kind(args.sampler)
        .with_steps(args.steps.unwrap_or(50))
        .with_eta(args.eta)
        .with_spacing(args.spacing)
        .with_clip_x0(args.clip_x0)
        .with_variance(spec.variance);
    let sampler = sampler_config.init(&schedule).map_err(|e| anyhow::anyhow!("{e} (--steps, --eta)"))?.with_threads(batch_slices);
    let description = sampler_config.describe(spec.timesteps);
    let started = std::time::Instant::now();
    let sampled = sampler.sample_with_progress(&model, shape, &mut rng, device, None);
    let seconds = started.elapsed().as_secs_f64();

    let values: Vec<f32> = sampled.samples.into_data().try_into_vec().expect("f32 samples");
    let pixels = crop_to_28(&to_unit_range(&values), args.n, size);
    let out = args.out.clone().unwrap_or_else(|| dir.parent().map_or_else(|| PathBuf::from("samples"), |run| run.join("samples")));
    write_grid(&out.join("grid.png"), &pixels, [args.n, 1, 28, 28], 8, 2)?;
    ddpm_data::write_npy_f32(&out.join("samples.npy"), &pixels, &[args.n, 1, 28, 28])?;
    println!(
        "mnist-train sample: {} images, {description}, {} weights, in {seconds:.1} s",
        args.n,
        match args.weights {
            Weights::Ema => "EMA",
            Weights::Online => "online",
        }
    );
    println!("  wrote {}/{{grid.png, samples.npy}}", out.display());
    Ok(())
}

/// A checkpoint knows its schedule and T; sampling with others would be meaningless, so a
/// mismatched flag is an error rather than a silent override.
fn check_overrides(args: &SampleArgs, spec: &MnistRun) -> anyhow::Result<()> {
    if let Some(schedule) = args.schedule {
        anyhow::ensure!(
            schedule.betas() == spec.schedule,
            "--schedule {schedule:?} does not match the checkpoint, which was trained with {:?}; drop the flag (the checkpoint's schedule is used)",
            spec.schedule
        );
    }
    if let Some(timesteps) = args.timesteps {
        anyhow::ensure!(
            timesteps == spec.timesteps,
            "--timesteps {timesteps} does not match the checkpoint, which was trained with T = {}; drop the flag, and use --steps to sample with fewer DDIM steps",
            spec.timesteps
        );
    }
    Ok(())
}

/// Removes the 2-pixel border of 32x32 images, so outputs are MNIST-shaped whatever the network.
fn crop_to_28(pixels: &[f32], n: usize, size: usize) -> Vec<f32> {
    let border = (size - 28) / 2;
    (0..n)
        .flat_map(|i| (0..28).flat_map(move |r| (0..28).map(move |c| (i, r, c))))
        .map(|(i, r, c)| pixels[i * size * size + (r + border) * size + c + border])
        .collect()
}
