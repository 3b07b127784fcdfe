//! Sampling a trained model and saying how close it came: `samples.png` (the target, then each
//! sample), `denoising.png` (one chain from noise to image), and `summary.json` (PSNR, SSIM, timings).

use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use ddpm_data::image::{psnr, ssim, to_unit_range, write_grid};
use ddpm_nets::ImageDenoiser;
use ddpm_run::{Execution, SampleRequest, sample_images};
use ddpm_sample::SamplerConfig;
use serde::Serialize;

use crate::run::{SingleImageRun, image_shape};

/// Columns of `denoising.png` (at most): x_T, eight intermediate states, x_0.
const DENOISING_COLUMNS: usize = 10;

/// What one sampling run is asked to do.
pub struct Request<'a> {
    pub sampler: &'a SamplerConfig,
    pub n: usize,
    pub seed: u64,
    /// The target, `[channels, size, size]` in [0, 1].
    pub target: &'a [f32],
    /// How the batch is cut (see `ddpm_run::BackendArgs::execution`).
    pub execution: Execution,
    /// The x_T to start from (`sample --init-noise`), `[n, channels, size, size]`.
    pub init_noise: Option<&'a Tensor<4>>,
}

#[derive(Serialize)]
pub struct Summary {
    pub image: String,
    pub preset: crate::preset::Preset,
    pub image_size: usize,
    pub channels: usize,
    pub training_steps: usize,
    pub sampler: String,
    pub seed: u64,
    /// One entry per sample, in the order of samples.png.
    pub samples: Vec<Quality>,
    pub best_psnr_db: f64,
    pub mean_psnr_db: f64,
    pub mean_ssim: Option<f64>,
    pub sampling_seconds: f64,
    pub seconds_per_sample: f64,
    /// The training run's own timing, when `train` wrote this summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub struct Quality {
    pub psnr_db: f64,
    /// `None` for images smaller than SSIM's 11-pixel window.
    pub ssim: Option<f64>,
}

/// Samples `request.n` images from `model`, writes the three outputs into `out` and returns the summary.
pub fn sample_and_report(
    model: &impl ImageDenoiser,
    spec: &SingleImageRun,
    training_steps: usize,
    request: &Request,
    out: &Path,
    device: &Device,
) -> anyhow::Result<Summary> {
    let [channels, size, _] = image_shape(spec);
    let every = request.sampler.chain_length(spec.timesteps).div_ceil(DENOISING_COLUMNS - 1).max(1);
    let sample_request = SampleRequest {
        sampler: request.sampler,
        n: request.n,
        seed: request.seed,
        execution: request.execution,
        trajectory_every: Some(every),
        progress: true,
        classes: None,
        init_noise: request.init_noise,
        shard: ddpm_run::Shard::WHOLE,
    };

    let started = Instant::now();
    let sampled = sample_images(model, spec, &sample_request, device)?;
    let samples = unit_pixels(sampled.samples);
    let sampling_seconds = started.elapsed().as_secs_f64();

    let plane = channels * size * size;
    let samples_quality: Vec<Quality> = samples
        .chunks_exact(plane)
        .map(|sample| Quality { psnr_db: psnr(request.target, sample), ssim: ssim(request.target, sample, image_shape(spec)) })
        .collect();

    let scale = (256 / size).max(1);
    let side_by_side: Vec<f32> = request.target.iter().chain(&samples).copied().collect();
    write_grid(&out.join("samples.png"), &side_by_side, [request.n + 1, channels, size, size], 8, scale)?;
    // The first sample's chain; the states beyond [-1, 1] are clamped for display.
    let chain: Vec<f32> = sampled.trajectory.into_iter().flat_map(|(_, x)| unit_pixels(x.narrow(0, 0, 1))).collect();
    let states = chain.len() / plane;
    write_grid(&out.join("denoising.png"), &chain, [states, channels, size, size], states, scale)?;

    let psnrs: Vec<f64> = samples_quality.iter().map(|q| q.psnr_db).collect();
    let ssims: Option<Vec<f64>> = samples_quality.iter().map(|q| q.ssim).collect();
    let summary = Summary {
        image: spec.experiment.image.display().to_string(),
        preset: spec.experiment.preset,
        image_size: size,
        channels,
        training_steps,
        sampler: request.sampler.describe(spec.timesteps),
        seed: request.seed,
        best_psnr_db: psnrs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean_psnr_db: psnrs.iter().sum::<f64>() / psnrs.len() as f64,
        mean_ssim: ssims.map(|s| s.iter().sum::<f64>() / s.len() as f64),
        samples: samples_quality,
        sampling_seconds,
        seconds_per_sample: sampling_seconds / request.n as f64,
        training: None,
    };
    Ok(summary)
}

/// Writes `summary.json` into `out` and prints its figures.
pub fn write_summary(summary: &Summary, out: &Path) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(summary)?;
    ddpm_data::write_atomically(&out.join("summary.json"), json.as_bytes())?;
    println!(
        "  {} sample(s), {}, in {:.1} s: PSNR best {:.2} dB, mean {:.2} dB{}",
        summary.samples.len(),
        summary.sampler,
        summary.sampling_seconds,
        summary.best_psnr_db,
        summary.mean_psnr_db,
        summary.mean_ssim.map_or_else(String::new, |s| format!(", mean SSIM {s:.3}"))
    );
    println!("  wrote {}/{{samples.png, denoising.png, summary.json}}", out.display());
    Ok(())
}

/// A model-space tensor as pixels in [0, 1].
fn unit_pixels<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    to_unit_range(&x.into_data().try_into_vec::<f32>().expect("f32 samples"))
}
