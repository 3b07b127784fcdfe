//! `mnist-train sample`, and the quick previews `train` draws.

use std::time::Instant;

use burn::tensor::Device;
use ddpm_data::image::{to_unit_range, write_grid};
use ddpm_nets::UNet;
use ddpm_run::{LoadedRun, SampleRequest, Weights, sample_images};
use ddpm_sample::SamplerConfig;

use crate::cli::SampleArgs;
use crate::run::{APP, MnistData, MnistRun};

pub fn run(args: &SampleArgs, device: &Device, batch_slices: usize) -> anyhow::Result<()> {
    let loaded = LoadedRun::<MnistData>::open(APP, &args.checkpoint)?;
    let spec = loaded.description();
    check_overrides(args, spec)?;
    let model = loaded.unet(device, args.sampler.weights)?;
    let sampler = args.sampler.apply(&spec.sampler);
    let request = SampleRequest {
        sampler: &sampler,
        n: args.n,
        seed: args.sampler.seed,
        threads: batch_slices,
        trajectory_every: None,
        progress: true,
    };
    let started = Instant::now();
    let sampled = sample_images(&model, spec, &request, device)?;
    let seconds = started.elapsed().as_secs_f64();

    let values: Vec<f32> = sampled.samples.into_data().try_into_vec().expect("f32 samples");
    let pixels = crop_to_28(&to_unit_range(&values), args.n, spec.data.image_size);
    let out = args.out.clone().unwrap_or_else(|| loaded.run_dir.join("samples"));
    write_grid(&out.join("grid.png"), &pixels, [args.n, 1, 28, 28], 8, 2)?;
    ddpm_data::write_npy_f32(&out.join("samples.npy"), &pixels, &[args.n, 1, 28, 28])?;
    let weights = match args.sampler.weights {
        Weights::Ema => "EMA",
        Weights::Online => "online",
    };
    println!("mnist-train sample: {} images, {}, {weights} weights, in {seconds:.1} s", args.n, sampler.describe(spec.timesteps));
    println!("  wrote {}/{{grid.png, samples.npy}}", out.display());
    Ok(())
}

/// `n` samples from the run's own sampler, seed 0, as pixels in [0, 1], `[n, channels, size, size]`:
/// the grids `train` draws as it goes, and the baseline's comparison row.
pub fn preview(model: &UNet, spec: &MnistRun, n: usize, device: &Device, threads: usize) -> anyhow::Result<Vec<f32>> {
    quiet_samples(model, spec, &spec.sampler, n, device, threads)
}

/// `n` digits from `sampler`, seed 0, cropped to 28 x 28, pixels in [0, 1]: what `train --eval-every` scores.
pub fn digits(
    model: &UNet,
    spec: &MnistRun,
    sampler: &SamplerConfig,
    n: usize,
    device: &Device,
    threads: usize,
) -> anyhow::Result<Vec<f32>> {
    Ok(crop_to_28(&quiet_samples(model, spec, sampler, n, device, threads)?, n, spec.data.image_size))
}

/// `n` samples, seed 0, without a progress bar, as pixels in [0, 1], `[n, channels, size, size]`.
fn quiet_samples(
    model: &UNet,
    spec: &MnistRun,
    sampler: &SamplerConfig,
    n: usize,
    device: &Device,
    threads: usize,
) -> anyhow::Result<Vec<f32>> {
    let request = SampleRequest { sampler, n, seed: 0, threads, trajectory_every: None, progress: false };
    let samples = sample_images(model, spec, &request, device)?.samples;
    Ok(to_unit_range(&samples.into_data().try_into_vec::<f32>().expect("f32 samples")))
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
