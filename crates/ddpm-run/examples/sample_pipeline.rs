//! Sample a diffusers pipeline folder (`DDPMPipeline` or `DDIMPipeline` with a `UNet2DModel`) into a PNG
//! grid, from Rust. A run trained here becomes such a folder with `<app> export`.
//!
//! ```text
//! cargo run --example sample_pipeline -- [PIPELINE_FOLDER] [OUT.png]
//! ```
//! Defaults: the tiny pipeline in `fixtures/diffusers/tiny-attn-eps` (random weights, made to test the
//! import: its samples look like noise; point it at a trained pipeline), `target/examples/pipeline-grid.png`.

use std::path::PathBuf;

use burn::tensor::Device;
use ddpm_core::NoiseRng;
use ddpm_data::image::{to_unit_range, write_grid};
use ddpm_exec::Execution;
use ddpm_run::DiffusersPipeline;
use ddpm_sample::SamplingChain;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo = repo.canonicalize().unwrap_or(repo);
    let folder = args.next().map_or_else(|| repo.join("fixtures/diffusers/tiny-attn-eps"), PathBuf::from);
    let out = args.next().map_or_else(|| repo.join("target/examples/pipeline-grid.png"), PathBuf::from);

    let device = Device::flex();
    let pipeline = DiffusersPipeline::open(&folder)?; // unet/config.json + scheduler/scheduler_config.json
    let unet = pipeline.load_unet(&device)?; // unet/diffusion_pytorch_model.safetensors
    let schedule = pipeline.noise_schedule()?;
    // The pipeline's own sampler (DDPM over all T, or DDIM-50), here shortened to 20 steps of DDIM.
    let config = pipeline.scheduler.sampler.clone().with_kind(ddpm_sample::SamplerKind::Ddim).with_steps(20);
    let sampler = config.init(&schedule, pipeline.scheduler.prediction)?;

    let (n, channels, size) = (16, pipeline.unet.in_channels, pipeline.unet.sample_size);
    let chain = SamplingChain::new(Execution::default());
    let sampled = chain.run(&sampler, &unet, [n, channels, size, size], None, &mut NoiseRng::new(0), &device, |_, _| {});

    let pixels = to_unit_range(&sampled.samples.into_data().try_to_vec::<f32>()?); // [-1, 1] -> [0, 1]
    write_grid(&out, &pixels, [n, channels, size, size], 4, 4)?;
    println!("{}: {n} samples by {} -> {}", folder.display(), config.describe(schedule.num_steps()), out.display());
    Ok(())
}
