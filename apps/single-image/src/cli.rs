//! Command-line flags.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};
use ddpm_core::NamedSchedule;
use ddpm_run::numbers::{count, positive};
use ddpm_run::{BackendArgs, ExportArgs, ObjectiveArgs, SamplerArgs, TrainRunArgs};

use crate::preset::Preset;

/// The widest image a flag takes (its U-Net trains on size x size crops of it).
const MAX_SIZE: u64 = 1024;
/// The largest batch a flag takes: 256 crops of 128 x 128 pixels already need gigabytes of activations.
const MAX_BATCH: u64 = 256;
/// The most images `sample` and `train --samples` draw; they are kept in memory and drawn side by side
/// in one samples.png.
const MAX_SAMPLES: u64 = 1024;

#[derive(Parser, Debug)]
#[command(
    name = "single-image",
    version,
    about = "DDPM on one photograph: learn it, sample it back, and show the forward process.",
    long_about = "DDPM on one photograph: learn it, sample it back, and show the forward process.\n\n\
        A U-Net learns to denoise a single image at every noise level; sampling from pure noise then \
        reproduces it, and PSNR / SSIM against the target say how well.\n\n\
        Typical use:\n  \
        single-image train --image datasets/images/camera.png --preset quick --out runs/camera\n  \
        single-image sample --checkpoint runs/camera --out runs/camera/more\n  \
        single-image forward --image datasets/images/camera.png\n\n\
        --preset reference is the full experiment (128x128, 15,000 steps: hours on a CPU, minutes on a GPU); \
        --preset quick finishes in under 15 minutes on a 2-core CPU."
)]
pub struct Args {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train on one image; writes target.png, checkpoints, metrics.jsonl, loss.png, and at the end
    /// samples.png, denoising.png and summary.json.
    Train(TrainArgs),
    /// Sample from a checkpoint: samples.png (target beside samples), denoising.png, summary.json
    /// with PSNR and SSIM.
    Sample(SampleArgs),
    /// Export a run's network as a safetensors state dict (its U-Nets are not diffusers models).
    Export(ExportArgs),
    /// Draw the forward process: the image noised at evenly spaced t, one row per schedule.
    Forward(ForwardArgs),
}

#[derive(ClapArgs, Debug)]
pub struct TrainArgs {
    /// The image to learn: PNG or JPEG, grayscale or colour. Its shorter side is resized to --size
    /// and the centre cropped to a square. [required unless --resume]
    #[arg(long, required_unless_present = "resume")]
    pub image: Option<PathBuf>,
    /// Run folder: target.png, checkpoint/, metrics.jsonl, loss.png, samples.png, denoising.png, summary.json.
    #[arg(long, default_value = "runs/single-image")]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: TrainRunArgs,
    #[command(flatten)]
    pub objective: ObjectiveArgs,
    /// The experiment's settings; the flags below override single values.
    #[arg(long, value_enum, default_value_t = Preset::Reference)]
    pub preset: Preset,
    /// 1 trains on grayscale (colour images are converted with BT.601 luma), 3 on RGB.
    #[arg(long, default_value_t = 1, value_parser = parse_channels)]
    pub channels: usize,
    /// Side of the square training image, in pixels; a multiple of 8 (the U-Net halves it three times).
    /// [default: the preset's, 128 (reference) or 64 (quick)]
    #[arg(long, value_parser = count(1..=MAX_SIZE))]
    pub size: Option<usize>,
    /// Copies of the image per step, each at its own t and noise. [default: the preset's]
    #[arg(long, value_parser = count(1..=MAX_BATCH))]
    pub batch_size: Option<usize>,
    /// Peak learning rate (AdamW). [default: the preset's]
    #[arg(long, allow_negative_numbers = true, value_parser = positive(1.0))]
    pub lr: Option<f64>,
    /// Images to sample when training ends, with the preset's sampler; 0 skips sampling.
    #[arg(long, default_value_t = 4, value_parser = count(0..=MAX_SAMPLES))]
    pub samples: usize,
}

#[derive(ClapArgs, Debug)]
pub struct SampleArgs {
    /// A training run's --out folder. The network, schedule, target and default sampler (the preset's)
    /// come from it.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output folder for samples.png, denoising.png and summary.json. [default: <checkpoint>/samples]
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Number of images.
    #[arg(long, default_value_t = 4, value_parser = count(1..=MAX_SAMPLES))]
    pub n: usize,
}

#[derive(ClapArgs, Debug)]
pub struct ForwardArgs {
    /// The image to noise (PNG or JPEG).
    #[arg(long)]
    pub image: PathBuf,
    /// The PNG to write.
    #[arg(long, default_value = "runs/forward.png")]
    pub out: PathBuf,
    /// Side of the square image, in pixels.
    #[arg(long, default_value_t = 128, value_parser = count(1..=MAX_SIZE))]
    pub size: usize,
    /// 1 shows it in grayscale, 3 in colour.
    #[arg(long, default_value_t = 1, value_parser = parse_channels)]
    pub channels: usize,
    /// Schedules to compare, one row each (repeat the flag or separate with commas).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [NamedSchedule::Linear, NamedSchedule::Cosine, NamedSchedule::CosineClamped])]
    pub schedule: Vec<NamedSchedule>,
    /// Diffusion steps T.
    #[arg(long, default_value_t = 1000, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub timesteps: usize,
    /// Noise levels shown, from t = 0 to t = T - 1.
    #[arg(long, default_value_t = 10, value_parser = count(2..=100))]
    pub columns: usize,
    /// Seeds the noise drawn once and shared by every column and row.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `--channels`: 1 or 3.
fn parse_channels(value: &str) -> Result<usize, String> {
    match value {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err("use 1 (grayscale) or 3 (RGB)".into()),
    }
}
