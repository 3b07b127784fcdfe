//! The single-image run: what its description holds beyond the shared one, and the target beside it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ddpm_core::{ModelVariance, Prediction};
use ddpm_nets::NetworkConfig;
use ddpm_run::{Experiment, ImageShape, RunDescription};
use serde::{Deserialize, Serialize};

use crate::preset::Preset;

/// The name runs of this app carry, and the one `sample` and `--resume` accept.
pub const APP: &str = "single-image";

/// The target as trained on: `[channels, size, size]` float32 in [0, 1], beside the checkpoint.
pub const TARGET_NPY: &str = "target.npy";

/// What a single-image run adds to the shared description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SingleImageData {
    pub preset: Preset,
    /// The image file trained on, as given.
    pub image: PathBuf,
}

pub type SingleImageRun = RunDescription<SingleImageData>;

/// Every image shape is a single-image run's; `target.npy` is checked against it when read.
impl Experiment for SingleImageData {
    fn check(_: &SingleImageRun) -> Result<(), String> {
        Ok(())
    }
}

/// A new run's description: the preset's network, schedule and sampler for this image.
pub fn new_run(preset: Preset, image: &Path, channels: usize, image_size: usize, prediction: Prediction, seed: u64) -> SingleImageRun {
    let (schedule, timesteps) = preset.schedule();
    RunDescription {
        app: APP.into(),
        schedule,
        timesteps,
        prediction,
        variance: ModelVariance::Fixed,
        network: NetworkConfig::UNet(preset.network(channels, image_size).with_num_steps(timesteps)),
        data: ImageShape { channels, image_size, range: [-1.0, 1.0] },
        seed,
        sampler: preset.sampler(),
        code_version: env!("CARGO_PKG_VERSION").into(),
        train_flags: None,
        experiment: SingleImageData { preset, image: image.into() },
    }
}

/// `[channels, size, size]`.
pub fn image_shape(spec: &SingleImageRun) -> [usize; 3] {
    [spec.data.channels, spec.data.image_size, spec.data.image_size]
}

/// The target saved beside a run's checkpoint.
pub fn read_target(run_dir: &Path, spec: &SingleImageRun) -> anyhow::Result<Vec<f32>> {
    let path = run_dir.join(TARGET_NPY);
    let (values, shape) =
        ddpm_data::read_npy_f32(&path).with_context(|| format!("the run's target image {} is missing or unreadable", path.display()))?;
    anyhow::ensure!(
        shape == image_shape(spec),
        "{} holds a {shape:?} image, but the run trained on {:?}",
        path.display(),
        image_shape(spec)
    );
    Ok(values)
}
