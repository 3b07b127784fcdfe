//! `image-train sample`, and the grids `train` draws as it goes.

use std::time::Instant;

use burn::tensor::Device;
use ddpm_data::image::{to_unit_range, write_grid};
use ddpm_nets::ImageDenoiser;
use ddpm_run::{Execution, SampleRequest, SampleSource, ShardRecord, peak_memory_mib, sample_images};

use crate::cli::SampleArgs;
use crate::run::{APP, FolderData, FolderRun};

pub fn run(args: &SampleArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let source = SampleSource::<FolderData>::open(APP, &args.checkpoint, args.sampler.weights, FolderData::of_pipeline, device)?;
    let spec = &source.description;
    let sampler = args.sampler.apply(&spec.sampler);
    let init_noise = args.sampler.read_init_noise(device)?;
    let n = init_noise.as_ref().map_or(args.n, |x_t| x_t.dims()[0]);
    let shard = args.shard.shard;
    let request = SampleRequest {
        sampler: &sampler,
        n,
        seed: args.sampler.seed,
        execution,
        trajectory_every: None,
        progress: true,
        classes: None,
        init_noise: init_noise.as_ref(),
        shard,
    };
    let out = args.out.clone().unwrap_or_else(|| source.folder.join("samples"));
    ddpm_data::ensure_writable_dir(&out)?;
    let started = Instant::now();
    let sampled = sample_images(&source.model, spec, &request, device)?;
    let seconds = started.elapsed().as_secs_f64();
    let pixels = to_unit_range(&sampled.samples.into_data().try_into_vec::<f32>().expect("f32 samples"));
    let shape = spec.batch_shape(shard.rows(n).len());
    let columns = n.isqrt().max(4);
    write_grid(&out.join("grid.png"), &pixels, shape, columns, 2)?;
    ddpm_data::write_npy_f32(&out.join("samples.npy"), &pixels, &shape)?;
    let job = format!("{}, {} weights, seed {}", sampler.describe(spec.timesteps), source.weights, args.sampler.seed);
    ShardRecord::new(shard, n, columns, job.clone()).write(&out)?;
    println!("{APP} sample: {}, {job}, in {seconds:.1} s, peak memory {:.0} MiB", shard.describe(n), peak_memory_mib());
    println!("  wrote {}/{{grid.png, samples.npy}}", out.display());
    Ok(())
}

/// `n` samples from the run's own sampler, seed 0, as pixels in [0, 1], `[n, channels, size, size]`.
pub fn preview(model: &impl ImageDenoiser, spec: &FolderRun, n: usize, device: &Device, execution: Execution) -> anyhow::Result<Vec<f32>> {
    let request = SampleRequest {
        sampler: &spec.sampler,
        n,
        seed: 0,
        execution,
        trajectory_every: None,
        progress: false,
        classes: None,
        init_noise: None,
        shard: ddpm_run::Shard::WHOLE,
    };
    let samples = sample_images(model, spec, &request, device)?.samples;
    Ok(to_unit_range(&samples.into_data().try_into_vec::<f32>().expect("f32 samples")))
}
