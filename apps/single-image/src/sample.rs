//! `single-image sample`.

use burn::tensor::Device;
use ddpm_run::{Execution, LoadedRun};

use crate::cli::SampleArgs;
use crate::report::{Request, sample_and_report, write_summary};
use crate::run::{APP, SingleImageData, read_target};

pub fn run(args: &SampleArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let (loaded, model) = LoadedRun::<SingleImageData>::open_for_sampling(APP, &args.checkpoint, device, args.sampler.weights)?;
    let spec = loaded.description();
    let target = read_target(&loaded.run_dir, spec)?;
    let sampler = args.sampler.apply(&spec.sampler);
    let out = args.out.clone().unwrap_or_else(|| loaded.run_dir.join("samples"));
    ddpm_data::ensure_writable_dir(&out)?;
    let init_noise = args.sampler.read_init_noise(device)?;
    let n = init_noise.as_ref().map_or(args.n, |x_t| x_t.dims()[0]);
    println!("single-image sample: {} image(s) from {} (step {})", n, loaded.run_dir.display(), loaded.state.step);
    let request = Request { sampler: &sampler, n, seed: args.sampler.seed, target: &target, execution, init_noise: init_noise.as_ref() };
    let summary = sample_and_report(&model, spec, loaded.state.step, &request, &out, device)?;
    write_summary(&summary, &out)
}
