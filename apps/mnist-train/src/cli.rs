//! Command-line flags.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

use crate::run::Network;
use ddpm_core::NamedSchedule;
use ddpm_run::numbers::{MAX_STEPS, count, positive, real};
use ddpm_run::{BackendArgs, ExportArgs, ObjectiveArgs, OptimizerArgs, SamplerArgs, ShardArgs, TrainRunArgs};

/// The largest batch a flag takes. Training the small U-Net holds about 5 MiB of activations per
/// digit (690 MiB at 128, BENCHMARKS.md), so 2048 digits need about 11 GiB.
const MAX_BATCH: u64 = 2048;
/// The most digits `sample`, `sweep` and `--eval-samples` draw. They are sampled in chunks, but kept in
/// memory and drawn into one grid.png, about 5,800 pixels square for 10,000 digits.
const MAX_SAMPLES: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(
    name = "mnist-train",
    version,
    about = "DDPM on MNIST: train a U-Net noise predictor, sample digits, and show what diffusion adds.",
    long_about = "DDPM on MNIST: train a U-Net noise predictor, sample digits, and show what diffusion adds.\n\n\
        Typical use:\n  \
        mnist-train train --out runs/mnist\n  \
        mnist-train sample --checkpoint runs/mnist --out runs/mnist/samples\n  \
        mnist-train export --checkpoint runs/mnist --out runs/mnist-diffusers   (a --network unet2d run)\n  \
        mnist-train forward\n  \
        mnist-train eval --samples runs/mnist/samples\n  \
        mnist-train baseline --compare runs/mnist\n  \
        mnist-train inpaint --checkpoint runs/mnist --image digits.npy --mask centre:12\n\n\
        MNIST is read from --data-dir when given (only there), else from $DDPM_DATA_DIR or datasets/mnist/; \
        when missing it is downloaded into that folder (checksums verified)."
)]
pub struct Args {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train the U-Net; writes checkpoints, metrics.jsonl and sample grids to --out.
    Train(TrainArgs),
    /// Sample digits from a checkpoint or a diffusers pipeline folder: grid.png and samples.npy ([N, 1, 28, 28] float32 in [0, 1]).
    Sample(SampleArgs),
    /// Join the folders of `sample --shard K/N` (run on several machines) into the one run's samples.npy and grid.png.
    Merge(ddpm_run::MergeArgs),
    /// Export a run's network: a diffusers pipeline folder (unet2d runs) or a safetensors state dict.
    Export(ExportArgs),
    /// Draw the forward process: one digit noised at evenly spaced t.
    Forward(ForwardArgs),
    /// Train the pre-DDPM baseline (one-shot denoiser) and compare its "generations" with DDPM's.
    Baseline(BaselineArgs),
    /// Time the U-Net workloads of the PyTorch reference (JSON lines; `cargo xtask bench` runs it).
    Bench(BenchArgs),
    /// Score samples by the project's digit classifier (FID, KID, precision, recall, class histogram), or,
    /// with --bpd, a model's likelihood of the test digits in bits per dimension.
    Eval(EvalArgs),
    /// Train the digit classifier the metrics use (the shipped one is in datasets/mnist-classifier/).
    Classifier(ClassifierArgs),
    /// FID against model evaluations for every sampler on one checkpoint: sweep.json and sweep.png.
    Sweep(SweepArgs),
    /// Real MNIST digits as `sample` writes its own (samples.npy, classes.json, grid.png): inputs to edit.
    Digits(DigitsArgs),
    /// Fill the masked pixels of digits (RePaint): grid.png, samples.npy, inpaint.png.
    Inpaint(ddpm_run::edit::InpaintArgs),
    /// Redraw digits part way, from the digit noised to --strength (SDEdit): grid.png, samples.npy, img2img.png.
    Img2img(ddpm_run::edit::Img2ImgArgs),
    /// Find the x_T from which DDIM draws each digit back (DDIM inversion): x_T.npy for `sample --init-noise`.
    Invert(ddpm_run::edit::InvertArgs),
    /// Frames between two digits (through their inversions) or two noises: strip.png, samples.npy.
    Interpolate(ddpm_run::edit::InterpolateArgs),
}

#[derive(ClapArgs, Debug)]
// MNIST learns v better than eps in the same time (BENCHMARKS.md): v is this app's default target.
#[command(mut_arg("prediction", |arg| arg.default_value("v")))]
pub struct TrainArgs {
    /// Folder with the MNIST IDX files (.gz or raw).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run folder: checkpoint/, metrics.jsonl, samples/step-N.png, loss.png.
    #[arg(long, default_value = "runs/mnist")]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: TrainRunArgs,
    #[command(flatten)]
    pub objective: ObjectiveArgs,
    #[arg(long, value_enum, default_value_t = Network::Small)]
    pub network: Network,
    #[arg(long, value_enum, default_value_t = NamedSchedule::Linear)]
    pub schedule: NamedSchedule,
    /// Diffusion steps T.
    #[arg(long, default_value_t = 1000, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub timesteps: usize,
    /// Examples per step. On a CPU a step's time is about proportional to the batch, and in equal time
    /// 32 beat 64 and 128 (BENCHMARKS.md): more steps of smaller batches learn more.
    #[arg(long, default_value_t = 32, value_parser = count(1..=MAX_BATCH))]
    pub batch_size: usize,
    #[command(flatten)]
    pub optimizer: OptimizerArgs,
    /// Draw a grid of 16 samples (the run's sampler) from the EMA weights every this many steps; 0 disables.
    /// A conditional run draws every digit in turn with guidance 1.5, as `sample` does.
    #[arg(long, default_value_t = 500, value_parser = count(0..=MAX_STEPS))]
    pub sample_every: usize,
    /// Score --eval-samples digits (DPM-Solver++(2M), 10 steps; a conditional run's every digit in turn,
    /// guidance 1.5) from the EMA weights every this many steps, as `eval` does: FID and the rest go to
    /// metrics.jsonl and the progress line. 0 disables.
    #[arg(long, default_value_t = 0, value_parser = count(0..=MAX_STEPS))]
    pub eval_every: usize,
    /// Digits per --eval-every evaluation (FID is biased upwards at small n; compare with its floor).
    #[arg(long, default_value_t = 256, value_parser = count(10..=MAX_SAMPLES))]
    pub eval_samples: usize,
    /// Folder with the classifier --eval-every scores by.
    #[arg(long, default_value = crate::run::CLASSIFIER_DIR)]
    pub classifier: PathBuf,
    /// Train class-conditionally (a digit embedding added to the time embedding), for `sample --class`
    /// with classifier-free guidance: in equal time it draws far better digits than an unconditional
    /// run (BENCHMARKS.md). `--conditional false` trains an unconditional model.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub conditional: bool,
    /// For a conditional run: the chance each label is dropped to "no class", so the network also learns
    /// the unconditional output that guidance extrapolates from.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.1, value_parser = real(0.0..1.0))]
    pub cond_drop: f64,
}

#[derive(ClapArgs, Debug)]
pub struct SampleArgs {
    /// A training run's --out folder (or its checkpoint/ folder), or a diffusers pipeline folder of 28x28
    /// (or 32x32) grayscale digits. Everything else is read from it; a run samples with its recorded
    /// sampler (DPM-Solver++(2M), 10 trailing steps, x_0 clipped, for runs of this version), a pipeline
    /// with its scheduler's (DDPM over all T, or DDIM-50), unless the flags below say otherwise.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output folder for grid.png and samples.npy. [default: <checkpoint>/samples]
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Number of images.
    #[arg(long, default_value_t = 64, value_parser = count(1..=MAX_SAMPLES))]
    pub n: usize,
    /// Must equal the checkpoint's schedule when given (a model only knows the schedule it learned).
    #[arg(long, value_enum)]
    pub schedule: Option<NamedSchedule>,
    /// Must equal the checkpoint's T when given.
    #[arg(long, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub timesteps: Option<usize>,
    /// For a conditional run: the digit to draw (0-9); `all` for ten rows, one per digit (--n rounded up
    /// to a multiple of 10); or `none` for unconditional samples (the null class). Writes classes.json
    /// beside class-conditioned samples, which `eval` reads. [default: `all` for a conditional run]
    #[arg(long)]
    pub class: Option<ClassChoice>,
    /// Classifier-free guidance scale w: out = out_uncond + w (out_cond - out_uncond); 1 is plain
    /// conditional sampling, 0 unconditional.
    #[arg(long, allow_negative_numbers = true, default_value_t = crate::run::GUIDANCE, value_parser = real(0.0..=100.0))]
    pub guidance: f64,
}

/// `sample --class`: one digit, every digit, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassChoice {
    Digit(usize),
    All,
    Unconditional,
}

/// The flag's own spelling: a digit, `all` or `none`.
impl std::fmt::Display for ClassChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Digit(digit) => write!(f, "{digit}"),
            Self::All => f.write_str("all"),
            Self::Unconditional => f.write_str("none"),
        }
    }
}

impl std::str::FromStr for ClassChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "all" => Ok(Self::All),
            "none" => Ok(Self::Unconditional),
            digit => match digit.parse::<usize>() {
                Ok(d) if d < crate::run::DIGITS => Ok(Self::Digit(d)),
                _ => Err(format!("expected a digit 0-9, `all` or `none`, got `{text}`")),
            },
        }
    }
}

#[derive(ClapArgs, Debug)]
pub struct ForwardArgs {
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The PNG to write.
    #[arg(long, default_value = "runs/mnist-forward.png")]
    pub out: PathBuf,
    /// Which test-set digit to noise.
    #[arg(long, default_value_t = 0, value_parser = count(0..10_000))]
    pub index: usize,
    /// Number of noise levels shown, from t = 0 to t = T - 1.
    #[arg(long, default_value_t = 10, value_parser = count(2..=100))]
    pub columns: usize,
    #[arg(long, value_enum, default_value_t = NamedSchedule::Linear)]
    pub schedule: NamedSchedule,
    #[arg(long, default_value_t = 1000, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub timesteps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(ClapArgs, Debug)]
pub struct DigitsArgs {
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "runs/digits")]
    pub out: PathBuf,
    /// Number of digits, drawn at random without repeats.
    #[arg(long, default_value_t = 64, value_parser = count(1..=60_000))]
    pub n: usize,
    /// Draw from the 60,000 training digits instead of the 10,000 test digits.
    #[arg(long)]
    pub train: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(ClapArgs, Debug)]
pub struct BaselineArgs {
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Output folder for baseline.png and the model.
    #[arg(long, default_value = "runs/mnist-baseline")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1000, value_parser = count(1..=MAX_STEPS))]
    pub steps: usize,
    #[arg(long, default_value_t = 64, value_parser = count(1..=MAX_BATCH))]
    pub batch_size: usize,
    #[arg(long, allow_negative_numbers = true, default_value_t = 1e-3, value_parser = positive(1.0))]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A DDPM run folder whose samples (DDIM-50) go beside the baseline's one-shot generations.
    #[arg(long)]
    pub compare: Option<PathBuf>,
}

#[derive(ClapArgs, Debug)]
pub struct BenchArgs {
    /// The network timed: the reference's small U-Net, or seed 002's UNet2DModel (beside diffusers' own).
    #[arg(long, value_enum, default_value_t = Network::Small)]
    pub network: Network,
    /// Time instead the UNet2DModel a diffusers pipeline folder describes (its unet/config.json: channels and
    /// image size too), with fresh random weights, e.g. one laid out as google/ddpm-cifar10-32.
    #[arg(long, value_name = "DIR", conflicts_with = "network")]
    pub pipeline: Option<PathBuf>,
    /// Untimed repetitions before each measurement.
    #[arg(long, default_value_t = 2, value_parser = count(0..=1000))]
    pub warmup: usize,
    /// Timed training steps (median reported).
    #[arg(long, default_value_t = 20, value_parser = count(1..=100_000))]
    pub train_steps: usize,
    #[arg(long, default_value_t = 128, value_parser = count(1..=MAX_BATCH))]
    pub train_batch: usize,
    /// Timed forward passes (median reported).
    #[arg(long, default_value_t = 10, value_parser = count(1..=100_000))]
    pub forward_reps: usize,
    #[arg(long, default_value_t = 256, value_parser = count(1..=MAX_BATCH))]
    pub forward_batch: usize,
    /// DDPM steps timed for 64 images; the 1000-step figure is extrapolated when fewer.
    #[arg(long, default_value_t = 200, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub sample_steps: usize,
    /// DDIM-50 steps timed for 64 images; extrapolated to 50 when fewer.
    #[arg(long, default_value_t = 50, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub ddim_steps: usize,
}

#[derive(ClapArgs, Debug)]
pub struct EvalArgs {
    /// What to score: a samples.npy ([N, 1, 28, 28] float32 in [0, 1], as `sample` and the PyTorch reference
    /// write), a folder holding one, a run folder (its samples/samples.npy), or a folder of 28 x 28 PNGs.
    #[arg(long, required_unless_present = "bpd", conflicts_with = "bpd")]
    pub samples: Option<PathBuf>,
    /// The likelihood instead: --bpd --checkpoint RUN scores the test digits.
    #[command(flatten)]
    pub bound: ddpm_run::BoundArgs,
    /// The JSON report. [default: eval.json in the samples folder, or <samples>.eval.json beside a file;
    /// with --bpd, bpd.json in the run folder]
    #[arg(long, alias = "json")]
    pub out: Option<PathBuf>,
    /// Folder with the classifier (classifier.bpk and classifier.json).
    #[arg(long, default_value = crate::run::CLASSIFIER_DIR)]
    pub classifier: PathBuf,
    /// Folder with the MNIST IDX files (the test digits are the reference).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seeds the random subsets (KID, precision and recall, the floor's training digits); with --bpd,
    /// the noise and the sampled steps.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(ClapArgs, Debug)]
pub struct ClassifierArgs {
    /// Output folder for classifier.bpk and classifier.json.
    #[arg(long, default_value = crate::run::CLASSIFIER_DIR)]
    pub out: PathBuf,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 4, value_parser = count(1..=1000))]
    pub epochs: usize,
    #[arg(long, default_value_t = 128, value_parser = count(1..=MAX_BATCH))]
    pub batch_size: usize,
    /// Peak learning rate (AdamW, cosine decay to 0).
    #[arg(long, allow_negative_numbers = true, default_value_t = 2e-3, value_parser = positive(1.0))]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(ClapArgs, Debug)]
pub struct SweepArgs {
    /// A training run's --out folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output folder for sweep.json and sweep.png. [default: <checkpoint>/sweep]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Digits per point.
    #[arg(long, default_value_t = 1000, value_parser = count(2..=MAX_SAMPLES))]
    pub n: usize,
    /// Samplers to sweep ("ddpm" below T steps is respaced, with the run's variance).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ddpm_sample::SamplerKind::ALL)]
    pub samplers: Vec<ddpm_sample::SamplerKind>,
    /// Model evaluations per sample.
    #[arg(long, value_delimiter = ',', default_values_t = [5, 10, 20, 50, 100], value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub nfe: Vec<usize>,
    /// Add DDPM over all T steps (the slowest point: about T / 10 times DDIM-10).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub ddpm_full: bool,
    /// Only redraw sweep.png from the points already in sweep.json (e.g. of an interrupted sweep).
    #[arg(long)]
    pub replot: bool,
    /// Timestep spacing of every sampler below T steps.
    #[arg(long, value_enum, default_value_t = ddpm_sample::Spacing::Trailing)]
    pub spacing: ddpm_sample::Spacing,
    #[arg(long, default_value = crate::run::CLASSIFIER_DIR)]
    pub classifier: PathBuf,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}
