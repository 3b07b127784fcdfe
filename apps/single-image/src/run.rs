//! What a checkpoint says about its run: everything `sample` needs besides the weights and the target.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::config::Config;
use ddpm_nets::UNetConfig;
use ddpm_sample::SamplerConfig;
use ddpm_schedule::{BetaSchedule, NoiseSchedule};
use ddpm_train::CheckpointState;

use crate::preset::Preset;

/// The target as trained on: `[channels, size, size]` float32 in [0, 1], beside the checkpoint.
pub const TARGET_NPY: &str = "target.npy";

/// The diffusion, image and network of a training run, stored in every checkpoint.
#[derive(Config, Debug)]
pub struct SingleImageRun {
    pub preset: Preset,
    /// The image file trained on, as given.
    pub image: PathBuf,
    pub channels: usize,
    pub image_size: usize,
    pub schedule: BetaSchedule,
    /// T.
    pub timesteps: usize,
    pub network: UNetConfig,
    /// The sampler `train` ends with and `sample` uses unless told otherwise.
    pub sampler: SamplerConfig,
    /// Pixel values the network was trained on.
    pub data_range: [f32; 2],
    pub code_version: String,
}

impl SingleImageRun {
    pub fn new_run(preset: Preset, image: &Path, channels: usize, image_size: usize) -> Self {
        let (schedule, timesteps) = preset.schedule();
        Self {
            preset,
            image: image.into(),
            channels,
            image_size,
            schedule,
            timesteps,
            network: preset.network(channels, image_size).with_num_steps(timesteps),
            sampler: preset.sampler(),
            data_range: [-1.0, 1.0],
            code_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    pub fn from_checkpoint(state: &CheckpointState) -> anyhow::Result<Self> {
        serde_json::from_value(state.run.clone()).map_err(|e| anyhow::anyhow!("this checkpoint was not written by single-image ({e})"))
    }

    pub fn noise_schedule(&self) -> anyhow::Result<NoiseSchedule> {
        Ok(NoiseSchedule::new(&self.schedule, self.timesteps)?)
    }

    /// `[channels, size, size]`.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.channels, self.image_size, self.image_size]
    }
}

/// The target saved beside a run's checkpoint.
pub fn read_target(run_dir: &Path, spec: &SingleImageRun) -> anyhow::Result<Vec<f32>> {
    let path = run_dir.join(TARGET_NPY);
    let (values, shape) =
        ddpm_data::read_npy_f32(&path).with_context(|| format!("the run's target image {} is missing or unreadable", path.display()))?;
    anyhow::ensure!(
        shape == spec.image_shape(),
        "{} holds a {shape:?} image, but the run trained on {:?}",
        path.display(),
        spec.image_shape()
    );
    Ok(values)
}
