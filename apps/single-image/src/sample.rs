//! `single-image sample`.

use burn::tensor::Device;
use ddpm_run::LoadedRun;

use crate::cli::SampleArgs;
use crate::report::{Request, sample_and_report, write_summary};
use crate::run::{APP, SingleImageData, read_target};

pub fn run(args: &SampleArgs, device: &Device, batch_slices: usize) -> anyhow::Result<()> {
    let loaded = LoadedRun::<SingleImageData>::open(APP, &args.checkpoint)?;
    let spec = loaded.description();
    let target = read_target(&loaded.run_dir, spec)?;
    let model = loaded.unet(device, args.sampler.weights)?;
    let sampler = args.sampler.apply(&spec.sampler);
    let out = args.out.clone().unwrap_or_else(|| loaded.run_dir.join("samples"));
    println!("single-image sample: {} image(s) from {} (step {})", args.n, loaded.run_dir.display(), loaded.state.step);
    let request = Request { sampler: &sampler, n: args.n, seed: args.sampler.seed, target: &target, threads: batch_slices };
    let summary = sample_and_report(&model, spec, loaded.state.step, &request, &out, device)?;
    write_summary(&summary, &out)
}
