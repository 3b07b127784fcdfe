//! The image-folder run: what its description holds beyond the shared one, the networks it offers, and
//! the folder read back for training.

use std::path::PathBuf;

use ddpm_core::{ModelVariance, NamedSchedule, Prediction};
use ddpm_data::ImageFolder;
use ddpm_nets::{DownBlockType, NetworkConfig, UNet2DConfig, UNetConfig, UpBlockType};
use ddpm_run::{DiffusersPipeline, Experiment, ImageShape, RunDescription, progress_bar};
use ddpm_sample::{SamplerConfig, SamplerKind, Spacing, VarianceType};
use serde::{Deserialize, Serialize};

use crate::cli::Network;

/// The name runs of this app carry, and the one `sample`, `export` and `--resume` accept.
pub const APP: &str = "image-train";

/// What an image-folder run adds to the shared description: where its images came from, so that
/// `--resume` reads the same ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FolderData {
    /// The folder as given to `train --data-dir`.
    pub data_dir: PathBuf,
    /// Images read from it, and the fingerprints of their names and sizes ([`ImageFolder::fingerprint`])
    /// and of their contents ([`ImageFolder::content_fingerprint`]; absent in runs started before it).
    pub images: usize,
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_fingerprint: Option<String>,
    pub flip: bool,
    pub skip_bad: bool,
}

pub type FolderRun = RunDescription<FolderData>;

impl FolderData {
    /// A diffusers pipeline's part: it brings no folder of images, so its description names none.
    pub fn of_pipeline(pipeline: &DiffusersPipeline) -> Self {
        Self {
            data_dir: pipeline.folder.clone(),
            images: 0,
            fingerprint: String::new(),
            content_fingerprint: None,
            flip: false,
            skip_bad: false,
        }
    }
}

impl Experiment for FolderData {
    fn check(run: &FolderRun) -> Result<(), String> {
        if ![1, 3].contains(&run.data.channels) {
            return Err(format!("data: image-train reads grayscale (1) or RGB (3) images, not {} channels", run.data.channels));
        }
        Ok(())
    }
}

/// The network `network` names for `channels` x `size` x `size` images.
pub fn network_config(network: Network, channels: usize, size: usize, timesteps: usize) -> NetworkConfig {
    use DownBlockType::{AttnDownBlock2D, DownBlock2D};
    use UpBlockType::{AttnUpBlock2D, UpBlock2D};
    let course = |widths: Vec<usize>, layers: usize| {
        let config = UNet2DConfig::new(
            size,
            widths,
            vec![DownBlock2D, DownBlock2D, AttnDownBlock2D, AttnDownBlock2D],
            vec![AttnUpBlock2D, AttnUpBlock2D, UpBlock2D, UpBlock2D],
        );
        NetworkConfig::UNet2D(config.with_in_channels(channels).with_out_channels(channels).with_layers_per_block(layers))
    };
    match network {
        Network::Unet2dSmall => course(vec![32, 64, 64, 128], 1),
        Network::Unet2d => course(vec![64, 128, 128, 256], 2),
        Network::Small => NetworkConfig::UNet(UNetConfig::small(channels, size).with_num_steps(timesteps)),
        Network::Ddpm => NetworkConfig::UNet(UNetConfig::ddpm(channels, size, 32).with_num_steps(timesteps)),
    }
}

/// A new run's description over the images of `folder`.
pub fn new_run(network: Network, folder: &ImageFolder, data_dir: PathBuf, options: RunOptions) -> FolderRun {
    let RunOptions { schedule, timesteps, prediction, seed, flip, skip_bad } = options;
    RunDescription {
        app: APP.into(),
        schedule: schedule.betas(),
        timesteps,
        prediction,
        variance: ModelVariance::Fixed,
        network: network_config(network, folder.channels, folder.size, timesteps),
        data: ImageShape { channels: folder.channels, image_size: folder.size, range: [-1.0, 1.0] },
        seed,
        sampler: default_sampler(),
        code_version: env!("CARGO_PKG_VERSION").into(),
        train_flags: None,
        experiment: FolderData {
            data_dir,
            images: folder.count,
            fingerprint: folder.fingerprint.clone(),
            content_fingerprint: Some(folder.content_fingerprint.clone()),
            flip,
            skip_bad,
        },
    }
}

/// The settings of a new run besides its network and images.
pub struct RunOptions {
    pub schedule: NamedSchedule,
    pub timesteps: usize,
    pub prediction: Prediction,
    pub seed: u64,
    pub flip: bool,
    pub skip_bad: bool,
}

/// DPM-Solver++(2M) over 20 trailing steps with x_0 clipped: the choice measured on MNIST's digits
/// (BENCHMARKS.md), where 10 steps later measured as good; photographs carry more detail than digits,
/// and 10 has not been measured on them.
fn default_sampler() -> SamplerConfig {
    SamplerConfig::new()
        .with_kind(SamplerKind::DpmSolver2m)
        .with_steps(20)
        .with_spacing(Spacing::Trailing)
        .with_clip_x0(true)
        .with_variance(VarianceType::Beta)
}

/// Reads the folder with a progress bar, reporting skipped files.
pub fn read_folder(data_dir: &std::path::Path, channels: usize, size: usize, skip_bad: bool) -> anyhow::Result<ImageFolder> {
    let bar = progress_bar(1, "reading images");
    let folder = ImageFolder::load(data_dir, channels, size, skip_bad, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let folder = folder.map_err(ddpm_run::data_error)?;
    for (_, why) in &folder.skipped {
        eprintln!("{APP}: skipped {why}");
    }
    Ok(folder)
}
