//! `mnist-train sample`, and the quick previews `train` draws.

use std::time::Instant;

use burn::tensor::Device;
use ddpm_data::image::{to_unit_range, write_grid};
use ddpm_nets::ImageDenoiser;
use ddpm_run::{Execution, SampleRequest, SampleSource, ShardRecord, peak_memory_mib, sample_images};
use ddpm_sample::SamplerConfig;

use crate::cli::{ClassChoice, SampleArgs};
use crate::run::{APP, DIGITS, GUIDANCE, MnistData, MnistRun};

pub use ddpm_run::CLASSES_FILE;

pub fn run(args: &SampleArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let source = SampleSource::<MnistData>::open(APP, &args.checkpoint, args.sampler.weights, MnistData::of_pipeline, device)?;
    let (spec, model) = (&source.description, &source.model);
    check_overrides(args, spec)?;
    let sampler = args.sampler.apply(&spec.sampler);
    let init_noise = args.sampler.read_init_noise(device)?;
    let n = init_noise.as_ref().map_or(args.n, |x_t| x_t.dims()[0]);
    let choice = args.class.unwrap_or(if model.classes().is_some() { ClassChoice::All } else { ClassChoice::Unconditional });
    let (n, classes, columns) = match choice {
        ClassChoice::Unconditional => (n, None, grid_columns(n)),
        ClassChoice::Digit(digit) => (n, Some(vec![digit; n]), grid_columns(n)),
        // Ten rows, one per digit.
        ClassChoice::All => {
            let per_digit = n.div_ceil(DIGITS);
            anyhow::ensure!(
                init_noise.is_none() || n == per_digit * DIGITS,
                "--class all draws ten rows of digits, but --init-noise holds {n} samples, not a multiple of 10; pass --class"
            );
            (per_digit * DIGITS, Some((0..per_digit * DIGITS).map(|i| i / per_digit).collect()), per_digit)
        }
    };
    let shard = args.shard.shard;
    let request = SampleRequest {
        sampler: &sampler,
        n,
        seed: args.sampler.seed,
        execution,
        trajectory_every: None,
        progress: true,
        classes: classes.as_deref().map(|c| (c, args.guidance)),
        init_noise: init_noise.as_ref(),
        shard,
    };
    let out = args.out.clone().unwrap_or_else(|| source.folder.join("samples"));
    ddpm_data::ensure_writable_dir(&out)?;
    let started = Instant::now();
    let sampled = sample_images(model, spec, &request, device)?;
    let seconds = started.elapsed().as_secs_f64();

    let rows = shard.rows(n);
    let values: Vec<f32> = sampled.samples.into_data().try_into_vec().expect("f32 samples");
    let pixels = crop_to_28(&to_unit_range(&values), rows.len(), spec.data.image_size);
    write_grid(&out.join("grid.png"), &pixels, [rows.len(), 1, 28, 28], columns, 2)?;
    ddpm_data::write_npy_f32(&out.join("samples.npy"), &pixels, &[rows.len(), 1, 28, 28])?;
    let classes_file = out.join(CLASSES_FILE);
    match &classes {
        Some(classes) => ddpm_data::write_atomically(&classes_file, serde_json::to_string(&classes[rows.clone()])?.as_bytes())?,
        // A stale label file would make `eval` score these samples against another run's classes.
        None if classes_file.exists() => std::fs::remove_file(&classes_file)?,
        None => {}
    }
    let guidance = if classes.is_some() { format!(", guidance {}", args.guidance) } else { String::new() };
    let job = format!("{}{guidance}, {} weights, seed {}", sampler.describe(spec.timesteps), source.weights, args.sampler.seed);
    ShardRecord::new(shard, n, columns, format!("{job}, --class {choice}")).write(&out)?;
    println!("mnist-train sample: {}, {job}, in {seconds:.1} s, peak memory {:.0} MiB", shard.describe(n), peak_memory_mib());
    println!("  wrote {}/{{grid.png, samples.npy{}}}", out.display(), if classes.is_some() { ", classes.json" } else { "" });
    Ok(())
}

/// `n` samples from the run's own sampler, seed 0, as pixels in [0, 1], `[n, channels, size, size]`:
/// the grids `train` draws as it goes, and the baseline's comparison row.
pub fn preview(model: &impl ImageDenoiser, spec: &MnistRun, n: usize, device: &Device, execution: Execution) -> anyhow::Result<Vec<f32>> {
    quiet_samples(model, spec, &spec.sampler, n, device, execution)
}

/// `n` digits from `sampler`, seed 0, cropped to 28 x 28, pixels in [0, 1]: what `train --eval-every` scores.
pub fn digits(
    model: &impl ImageDenoiser,
    spec: &MnistRun,
    sampler: &SamplerConfig,
    n: usize,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<Vec<f32>> {
    Ok(crop_to_28(&quiet_samples(model, spec, sampler, n, device, execution)?, n, spec.data.image_size))
}

/// `n` samples, seed 0, without a progress bar, as pixels in [0, 1], `[n, channels, size, size]`. A
/// conditional model draws every digit in turn with guidance [`GUIDANCE`], as `sample` does by default.
fn quiet_samples(
    model: &impl ImageDenoiser,
    spec: &MnistRun,
    sampler: &SamplerConfig,
    n: usize,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<Vec<f32>> {
    let classes: Option<Vec<usize>> = model.classes().map(|_| (0..n).map(|i| i % DIGITS).collect());
    let classes = classes.as_deref().map(|classes| (classes, GUIDANCE));
    let request = SampleRequest {
        sampler,
        n,
        seed: 0,
        execution,
        trajectory_every: None,
        progress: false,
        classes,
        init_noise: None,
        shard: ddpm_run::Shard::WHOLE,
    };
    let samples = sample_images(model, spec, &request, device)?.samples;
    Ok(to_unit_range(&samples.into_data().try_into_vec::<f32>().expect("f32 samples")))
}

/// Columns of a grid of n digits: 8 up to 64 of them, then about square (1000 digits: 31 columns, not a
/// strip 8 wide and 125 tall).
fn grid_columns(n: usize) -> usize {
    n.isqrt().max(8)
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
