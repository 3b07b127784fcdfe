//! What a checkpoint says about its run: everything `sample` needs besides the weights.

use burn::config::Config;
use burn::tensor::Device;
use ddpm_nets::{UNet, UNetConfig};
use ddpm_sample::{DdimSampler, ReverseProcess, Spacing, VarianceType};
use ddpm_schedule::{BetaSchedule, NamedSchedule, NoiseRng, NoiseSchedule};
use ddpm_train::CheckpointState;

use crate::cli::Network;

/// The diffusion, data and network of a training run, stored in every checkpoint.
#[derive(Config, Debug)]
pub struct MnistRun {
    pub schedule: BetaSchedule,
    /// T.
    pub timesteps: usize,
    /// What the network predicts; only "epsilon" (the noise) so far.
    pub prediction: String,
    /// The variance DDPM sampling adds, as in the PyTorch reference (beta_t).
    pub variance: VarianceType,
    /// Images are `[channels, image_size, image_size]`; 32 means MNIST padded from 28.
    pub channels: usize,
    pub image_size: usize,
    /// Pixel values the network was trained on.
    pub data_range: [f32; 2],
    pub network: UNetConfig,
    pub seed: u64,
    /// The `mnist-train` version that trained it.
    pub code_version: String,
}

impl MnistRun {
    pub fn new_run(network: Network, schedule: NamedSchedule, timesteps: usize, seed: u64) -> Self {
        let (image_size, network) = match network {
            Network::Small => (28, UNetConfig::small(1, 28)),
            Network::Ddpm => (32, UNetConfig::ddpm(1, 32, 32)),
        };
        Self {
            schedule: schedule.betas(),
            timesteps,
            prediction: "epsilon".into(),
            variance: VarianceType::Beta,
            channels: 1,
            image_size,
            data_range: [-1.0, 1.0],
            network: network.with_num_steps(timesteps),
            seed,
            code_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    pub fn from_checkpoint(state: &CheckpointState) -> anyhow::Result<Self> {
        let run: Self = serde_json::from_value(state.run.clone())
            .map_err(|e| anyhow::anyhow!("this checkpoint was not written by mnist-train ({e})"))?;
        anyhow::ensure!(run.prediction == "epsilon", "the checkpoint predicts {:?}; only epsilon is supported", run.prediction);
        Ok(run)
    }

    pub fn noise_schedule(&self) -> anyhow::Result<NoiseSchedule> {
        Ok(NoiseSchedule::new(&self.schedule, self.timesteps)?)
    }

    pub fn padded(&self) -> bool {
        self.image_size == 32
    }

    /// `n` quick samples for previews: DDIM-50 with x_0 clipping, seed 0, as pixels in [0, 1],
    /// `[n, channels, image_size, image_size]`.
    pub fn preview(&self, model: &UNet, schedule: &NoiseSchedule, n: usize, device: &Device) -> Vec<f32> {
        let size = self.image_size;
        let sampler = DdimSampler::new(schedule, 50.min(self.timesteps), Spacing::Leading).with_clip_x0(true);
        let out = sampler.sample(model, [n, self.channels, size, size], &mut NoiseRng::new(0), device, None, |_, _| {});
        ddpm_data::image::to_unit_range(&out.samples.into_data().try_into_vec::<f32>().expect("f32 samples"))
    }
}
