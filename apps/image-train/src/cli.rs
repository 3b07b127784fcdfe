//! Command-line flags.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use ddpm_core::NamedSchedule;
use ddpm_run::numbers::{MAX_STEPS, count};
use ddpm_run::{BackendArgs, ExportArgs, ObjectiveArgs, OptimizerArgs, SamplerArgs, ShardArgs, TrainRunArgs};

/// The largest batch a flag takes.
const MAX_BATCH: u64 = 1024;
/// The most images `sample` draws (kept in memory and drawn into one grid).
const MAX_SAMPLES: u64 = 10_000;
/// The largest --size (the networks' activations grow with its square).
const MAX_SIZE: u64 = 512;

#[derive(Parser, Debug)]
#[command(
    name = "image-train",
    version,
    about = "DDPM on a folder of your own images: train, sample, export to diffusers.",
    long_about = "DDPM on a folder of your own images: train, sample, export to diffusers.\n\n\
        Typical use:\n  \
        image-train train --data-dir my-photos --out runs/photos --minutes 30\n  \
        image-train sample --checkpoint runs/photos --n 16\n  \
        image-train export --checkpoint runs/photos --out runs/photos-diffusers\n  \
        image-train sample --checkpoint some-diffusers-pipeline-folder\n  \
        image-train img2img --checkpoint runs/photos --image sketch.png --strength 0.6\n\n\
        Every PNG and JPEG under --data-dir (subfolders too) is resized on its shorter side to --size, \
        centre-cropped and decoded once into memory."
)]
pub struct Args {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train on a folder of images; writes checkpoints, metrics.jsonl and sample grids to --out.
    Train(TrainArgs),
    /// Sample from a run or a diffusers pipeline folder: grid.png and samples.npy ([N, C, S, S] float32 in [0, 1]).
    Sample(SampleArgs),
    /// Join the folders of `sample --shard K/N` (run on several machines) into the one run's samples.npy and grid.png.
    Merge(ddpm_run::MergeArgs),
    /// Export a run's network: a diffusers pipeline folder (unet2d networks) or a safetensors state dict.
    Export(ExportArgs),
    /// The likelihood of held-out images under a run or a diffusers pipeline: `eval --bpd --checkpoint RUN
    /// --data-dir FOLDER` gives the variational bound in bits per dimension.
    Eval(EvalArgs),
    /// Fill the masked pixels of images (RePaint): grid.png, samples.npy, inpaint.png.
    Inpaint(ddpm_run::edit::InpaintArgs),
    /// Redraw images part way, from the image noised to --strength (SDEdit): grid.png, samples.npy, img2img.png.
    Img2img(ddpm_run::edit::Img2ImgArgs),
    /// Find the x_T from which DDIM draws each image back (DDIM inversion): x_T.npy for `sample --init-noise`.
    Invert(ddpm_run::edit::InvertArgs),
    /// Frames between two images (through their inversions) or two noises: strip.png, samples.npy.
    Interpolate(ddpm_run::edit::InterpolateArgs),
}

#[derive(ClapArgs, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub bound: ddpm_run::BoundArgs,
    /// The held-out images (every PNG and JPEG under it, prepared as the run's training images were).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The JSON report. [default: bpd.json in the run or pipeline folder]
    #[arg(long, alias = "json")]
    pub out: Option<PathBuf>,
    /// Seeds the noise and the sampled steps.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The networks `train` can build.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// diffusers' UNet2DModel at half the course's widths, one resnet per level: 32-64-64-128, attention
    /// in the last two levels, 3.2 M params. Sized for a CPU; exports to diffusers.
    Unet2dSmall,
    /// diffusers' UNet2DModel as the diffusers course trains it on 32x32 butterflies: 64-128-128-256,
    /// two resnets per level, attention in the last two, 18.5 M params. At 64x64 its attention runs at
    /// 16x16 and 8x8. Exports to diffusers.
    Unet2d,
    /// The project's small U-Net (the PyTorch benchmark's): 0.62 M params.
    Small,
    /// The project's DDPM-paper-style U-Net (residual blocks, attention at 16x16), base width 32.
    Ddpm,
}

#[derive(ClapArgs, Debug)]
// v, as in mnist-train: after 6 minutes on a folder, DPM-Solver++ drew clean strokes from a v model where an
// eps model's grid was still noise (README).
#[command(mut_arg("prediction", |arg| arg.default_value("v")))]
// A gentler plan than MNIST's: the diffusers examples' 1e-4 to 4e-4.
#[command(mut_arg("lr", |arg| arg.default_value("2e-4")), mut_arg("min_lr", |arg| arg.default_value("1e-6")))]
pub struct TrainArgs {
    /// Folder of PNG and JPEG images (searched recursively). A resumed run reads its own again.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run folder: checkpoint/, metrics.jsonl, samples/step-N.png, loss.png.
    #[arg(long, default_value = "runs/images")]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: TrainRunArgs,
    #[command(flatten)]
    pub objective: ObjectiveArgs,
    #[arg(long, value_enum, default_value_t = Network::Unet2dSmall)]
    pub network: Network,
    /// Side of the square training images: each image's shorter side is resized to it, then centre-cropped.
    #[arg(long, default_value_t = 32, value_parser = count(8..=MAX_SIZE))]
    pub size: usize,
    /// 1 (grayscale, BT.601 luma) or 3 (RGB).
    #[arg(long, default_value_t = 3, value_parser = count(1..=3))]
    pub channels: usize,
    /// Mirror a random half of each batch left to right (a free doubling of the data for most photos).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub flip: bool,
    /// Train without the files that cannot be read (they are listed) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    #[arg(long, value_enum, default_value_t = NamedSchedule::Linear)]
    pub schedule: NamedSchedule,
    /// Diffusion steps T.
    #[arg(long, default_value_t = 1000, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub timesteps: usize,
    /// Examples per step (at most the number of images).
    #[arg(long, default_value_t = 16, value_parser = count(1..=MAX_BATCH))]
    pub batch_size: usize,
    #[command(flatten)]
    pub optimizer: OptimizerArgs,
    /// Draw a grid of 16 samples (the run's sampler) from the EMA weights every this many steps; 0 disables.
    #[arg(long, default_value_t = 500, value_parser = count(0..=MAX_STEPS))]
    pub sample_every: usize,
}

#[derive(ClapArgs, Debug)]
pub struct SampleArgs {
    /// A training run's --out folder (or its checkpoint/ folder), or a diffusers pipeline folder. A run
    /// samples with its recorded sampler, a pipeline with its scheduler's, unless the flags below say otherwise.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output folder for grid.png and samples.npy. [default: <checkpoint>/samples]
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Number of images (with --init-noise, the file's).
    #[arg(long, default_value_t = 16, value_parser = count(1..=MAX_SAMPLES))]
    pub n: usize,
}
