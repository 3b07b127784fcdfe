//! The MNIST run: what its description holds beyond the shared one, and how a new run is described.

use std::path::Path;

use clap::ValueEnum;
use ddpm_core::{ModelVariance, NamedSchedule, Prediction};
use ddpm_data::{Mnist, MnistSplit};
use ddpm_nets::{NetworkConfig, UNet2DConfig, UNetConfig};
use ddpm_run::{DiffusersPipeline, Experiment, ImageShape, RunDescription};
use ddpm_sample::{SamplerConfig, SamplerKind, Spacing, VarianceType};
use serde::{Deserialize, Serialize};

/// The name runs of this app carry, and the one `sample` and `--resume` accept.
pub const APP: &str = "mnist-train";

/// Where the project's digit classifier lives (see `classifier`).
pub const CLASSIFIER_DIR: &str = "datasets/mnist-classifier";

/// MNIST's `split` from `data_dir` (or the usual places, see [`Mnist::load`]), `pad_to_32` or not,
/// with flag-level advice on errors, and a note on stderr when the files are not the official MNIST.
pub fn load_mnist(split: MnistSplit, data_dir: Option<&Path>, pad_to_32: bool) -> anyhow::Result<Mnist> {
    let data = Mnist::load(split, data_dir, pad_to_32).map_err(ddpm_run::data_error)?;
    if let Some(note) = data.unofficial_note() {
        eprintln!("{APP}: {note}");
    }
    Ok(data)
}

/// The networks `train` can build.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The small U-Net of the PyTorch benchmark: 32-64-128, two conv blocks per level, 0.62 M params.
    Small,
    /// A DDPM-paper-style U-Net (residual blocks, attention at 16x16 and in the bottleneck) on 32x32
    /// padded digits, base width 32.
    Ddpm,
    /// diffusers' UNet2DModel as the diffusers course builds it for MNIST: widths 32-64-64, two
    /// resnets per level, attention in the last two, 1.7 M params; exports to diffusers.
    Unet2d,
}

/// What an MNIST run adds to the shared description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MnistData {
    /// The digits are padded from 28x28 to 32x32 on background (the DDPM-style U-Net halves them 3 times).
    pub padded: bool,
}

impl MnistData {
    /// A diffusers pipeline of 28 x 28 digits is as they are; one of 32 x 32 is a padded run.
    pub fn of_pipeline(pipeline: &DiffusersPipeline) -> Self {
        Self { padded: pipeline.unet.sample_size == 32 }
    }
}

pub type MnistRun = RunDescription<MnistData>;

impl Experiment for MnistData {
    /// One channel of 28 x 28 digits, or 32 x 32 when padded.
    fn check(run: &MnistRun) -> Result<(), String> {
        let size = if run.experiment.padded { 32 } else { 28 };
        if run.data.channels != 1 || run.data.image_size != size {
            return Err(format!(
                "data: MNIST digits are 1 channel of {size} x {size} pixels{}, not {} of {}",
                if run.experiment.padded { " (padded)" } else { "" },
                run.data.channels,
                run.data.image_size
            ));
        }
        Ok(())
    }
}

/// The digit classes of a conditional run.
pub const DIGITS: usize = 10;

/// The classifier-free guidance a conditional run is sampled with unless `sample --guidance` says
/// otherwise: after the default 30-minute run, 1.5 scored FID 45 where 1 scored 77, 2 scored 99 and 3 226
/// (stronger guidance draws thick, uniform digits; BENCHMARKS.md).
pub const GUIDANCE: f64 = 1.5;

/// A new run's description; `conditional` adds a class embedding for the ten digits.
pub fn new_run(
    network: Network,
    schedule: NamedSchedule,
    timesteps: usize,
    prediction: Prediction,
    seed: u64,
    conditional: bool,
) -> MnistRun {
    let classes = conditional.then_some(DIGITS);
    let unet = |config: UNetConfig| NetworkConfig::UNet(config.with_num_classes(classes).with_num_steps(timesteps));
    let (image_size, network) = match network {
        Network::Small => (28, unet(UNetConfig::small(1, 28))),
        Network::Ddpm => (32, unet(UNetConfig::ddpm(1, 32, 32))),
        // One more class embedding, the "no class" of classifier-free guidance.
        Network::Unet2d => (28, NetworkConfig::UNet2D(UNet2DConfig::mnist().with_num_class_embeds(classes.map(|c| c + 1)))),
    };
    RunDescription {
        app: APP.into(),
        schedule: schedule.betas(),
        timesteps,
        prediction,
        variance: ModelVariance::Fixed,
        network,
        data: ImageShape { channels: 1, image_size, range: [-1.0, 1.0] },
        seed,
        sampler: default_sampler(),
        code_version: env!("CARGO_PKG_VERSION").into(),
        train_flags: None,
        experiment: MnistData { padded: image_size == 32 },
    }
}

/// How new MNIST runs sample unless told otherwise: DPM-Solver++(2M) over 10 trailing timesteps with x_0
/// clipping, chosen by `mnist-train sweep` (BENCHMARKS.md): on the default model its FID at 1000 digits
/// is level with 12 to 20 steps, at half the cost of 20. DDPM, when asked for, adds beta_t as in the
/// PyTorch reference. Older runs keep the sampler their checkpoint records.
fn default_sampler() -> SamplerConfig {
    SamplerConfig::new()
        .with_kind(SamplerKind::DpmSolver2m)
        .with_steps(10)
        .with_eta(0.0)
        .with_spacing(Spacing::Trailing)
        .with_clip_x0(true)
        .with_variance(VarianceType::Beta)
}
