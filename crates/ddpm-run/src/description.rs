//! What a run is: the typed description every checkpoint carries, so that `sample` and `train --resume`
//! need nothing but the run folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use ddpm_core::{BetaSchedule, ModelVariance, NoiseSchedule, Parameterization, Prediction};
use ddpm_nets::{AnyImageNetwork, ImageNetwork, ImageNetworkTask, NetworkConfig};
use ddpm_sample::SamplerConfig;
use ddpm_train::{CheckpointState, load_weights, read_state};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::FlagValues;
use crate::advice::train_error;

/// The shape and value range of the images a run trains on: `[channels, image_size, image_size]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub image_size: usize,
    /// The pixel values the network saw: black at `range[0]`, white at `range[1]`.
    pub range: [f32; 2],
}

/// The diffusion, network and data of a training run, stored in every checkpoint's `state.json`.
/// `E` is what is particular to the app's experiment (its data source, its preset).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDescription<E> {
    /// The program that trained it, e.g. "mnist-train".
    pub app: String,
    pub schedule: BetaSchedule,
    /// T.
    pub timesteps: usize,
    /// What the network outputs (eps, x_0 or v); the training config's objective says the same.
    pub prediction: Prediction,
    /// Whether the network also outputs the reverse step's variance (then twice the data's channels);
    /// fixed in runs started before it was recorded.
    #[serde(default)]
    pub variance: ModelVariance,
    pub network: NetworkConfig,
    pub data: ImageShape,
    /// Seeds the initial weights (the training noise has the training config's seed).
    pub seed: u64,
    /// How `train` ends and `sample` samples unless flags say otherwise.
    pub sampler: SamplerConfig,
    /// The version of the code that started the run.
    pub code_version: String,
    /// The flags of the `train` command that started it (what `--resume` checks typed flags against);
    /// absent in runs started before they were recorded, and in runs not started from a command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_flags: Option<FlagValues>,
    pub experiment: E,
}

/// What an app's part of the run description ([`RunDescription::experiment`]) requires of the rest,
/// checked whenever a description is read from a file.
pub trait Experiment: Sized {
    /// Explains the first way `run` cannot be a run of this app (e.g. MNIST digits of 3 channels).
    fn check(run: &RunDescription<Self>) -> Result<(), String>;
}

impl Experiment for () {
    fn check(_: &RunDescription<()>) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Experiment> RunDescription<E> {
    /// Explains the first setting that cannot work or contradicts another: the schedule, the network
    /// against the data it takes, the sampler, and the app's own part ([`Experiment::check`]).
    pub fn validate(&self) -> Result<(), String> {
        let schedule = self.noise_schedule().map_err(|e| e.to_string())?;
        let ImageShape { channels, image_size, range } = self.data;
        if !(1..=4).contains(&channels) || image_size == 0 {
            return Err(format!("data: {channels} channels of {image_size} pixels; images have 1 to 4 channels and at least 1 pixel"));
        }
        if !(range[0].is_finite() && range[1].is_finite() && range[0] < range[1]) {
            return Err(format!("data.range {range:?} must be two finite numbers, black below white"));
        }
        self.network.validate().map_err(|e| e.to_string())?;
        let [c_in, c_out, size] = self
            .network
            .image_io()
            .ok_or_else(|| format!("the run's network is the {}, which is not an image network", self.network.name()))?;
        let out_channels = self.variance.output_channels(channels);
        if [c_in, c_out, size] != [channels, out_channels, image_size] {
            let learned = if out_channels == channels { "" } else { " (twice the channels: it learns its variance)" };
            return Err(format!(
                "the network takes {c_in} channels in, {c_out} out, {size} pixels wide, but the data has {channels} channels of {image_size} pixels, so it must output {out_channels}{learned}"
            ));
        }
        if let Some(steps) = self.network.embedded_steps().filter(|&steps| steps != self.timesteps) {
            return Err(format!("the network embeds {steps} timesteps, but the schedule has T = {}", self.timesteps));
        }
        self.sampler.init(&schedule, self.parameterization()).map_err(|e| format!("sampler: {e}"))?;
        E::check(self)
    }
}

impl<E> RunDescription<E> {
    /// This run with a network that learns its variance or not: its output channels follow.
    pub fn with_variance(mut self, variance: ModelVariance) -> Self {
        self.network = self.network.with_image_out_channels(variance.output_channels(self.data.channels));
        self.variance = variance;
        self
    }

    /// What the run's network outputs.
    pub fn parameterization(&self) -> Parameterization {
        Parameterization { prediction: self.prediction, variance: self.variance }
    }

    pub fn noise_schedule(&self) -> anyhow::Result<NoiseSchedule> {
        Ok(NoiseSchedule::new(&self.schedule, self.timesteps)?)
    }

    /// A batch of `n` images of this run: `[n, channels, size, size]`.
    pub fn batch_shape(&self, n: usize) -> [usize; 4] {
        [n, self.data.channels, self.data.image_size, self.data.image_size]
    }
}

/// Which weights of a checkpoint to sample from.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weights {
    /// The moving average of the weights (the online ones when the run kept no average).
    #[default]
    Ema,
    /// The last optimiser step's weights.
    Online,
}

/// A checkpoint read back: where it is and what it says.
#[derive(Debug)]
pub struct LoadedRun<E> {
    /// The checkpoint folder itself.
    pub checkpoint: PathBuf,
    /// The run folder around it (where `train --out` pointed).
    pub run_dir: PathBuf,
    pub state: CheckpointState<RunDescription<E>>,
}

impl<E: DeserializeOwned + Experiment> LoadedRun<E> {
    /// Reads the checkpoint `path` names (a run folder or a checkpoint folder), refusing one that
    /// another app wrote or whose description contradicts itself.
    pub fn open(app: &str, path: &Path) -> anyhow::Result<Self> {
        if crate::DiffusersPipeline::is_pipeline(path) {
            anyhow::bail!("{} is a diffusers pipeline folder, not a run of {app}: {app} cannot read it here", path.display());
        }
        let (checkpoint, state) = read_state::<serde_json::Value>(path).map_err(train_error)?;
        let writer = state.run["app"].as_str().unwrap_or("an unknown program");
        anyhow::ensure!(writer == app, "{} holds a run of {writer}, not of {app}: use {writer} on it", checkpoint.display());
        let run: RunDescription<E> = serde_json::from_value(state.run)
            .with_context(|| format!("{}: unreadable run description in state.json", checkpoint.display()))?;
        let CheckpointState { format, code_version, step, rng, train, .. } = state;
        let state = CheckpointState { format, code_version, step, rng, train, run };
        let corrupt =
            |problem: String| anyhow::anyhow!("{}: {problem}; the file was edited or is corrupt", checkpoint.join("state.json").display());
        state.run.validate().map_err(|e| corrupt(format!("run: {e}")))?;
        state.train.validate().map_err(|e| corrupt(format!("train: {e}")))?;
        if state.run.parameterization() != state.train.parameterization() {
            return Err(corrupt(format!(
                "the network outputs {:?} but was trained for {:?}",
                state.run.parameterization(),
                state.train.parameterization()
            )));
        }
        let (trained_on, built_for) = (state.train.conditioning.as_ref().map(|c| c.classes), state.run.network.num_classes());
        if trained_on != built_for {
            let classes = |n: Option<usize>| n.map_or_else(|| "no classes".to_string(), |n| format!("{n} classes"));
            return Err(corrupt(format!("trained on {}, but the network is built for {}", classes(trained_on), classes(built_for))));
        }
        let run_dir = checkpoint.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(Self { checkpoint, run_dir, state })
    }

    pub fn description(&self) -> &RunDescription<E> {
        &self.state.run
    }

    /// The run's network on `device` with the chosen weights (the online ones for `Weights::Ema` when
    /// the run kept no average). `N` must be the run's kind of network (see [`NetworkConfig`]).
    pub fn network<N: ImageNetwork>(&self, device: &Device, weights: Weights) -> anyhow::Result<N> {
        let model = N::init_from(&self.description().network, device).map_err(anyhow::Error::msg)?;
        load_weights(model, &self.checkpoint, self.weights_used(weights) == Weights::Ema).map_err(train_error)
    }

    /// The run's network, of whichever kind it is, for sampling (see [`LoadedRun::network`]).
    pub fn sampling_network(&self, device: &Device, weights: Weights) -> anyhow::Result<AnyImageNetwork> {
        struct Load<'a, E> {
            run: &'a LoadedRun<E>,
            device: &'a Device,
            weights: Weights,
        }
        impl<E: DeserializeOwned + Experiment> ImageNetworkTask for Load<'_, E> {
            type Output = anyhow::Result<AnyImageNetwork>;
            fn run<N: ImageNetwork>(self) -> Self::Output {
                Ok(self.run.network::<N>(self.device, self.weights)?.into())
            }
        }
        self.description().network.run_image_task(Load { run: self, device, weights })?
    }

    /// [`LoadedRun::open`] and [`LoadedRun::sampling_network`] on one checkpoint, also while a `train`
    /// is writing the run: when its checkpoint is swapped for a newer one between reading `state.json`
    /// and the weights, both are read again from the newer one.
    pub fn open_for_sampling(app: &str, path: &Path, device: &Device, weights: Weights) -> anyhow::Result<(Self, AnyImageNetwork)> {
        /// A checkpoint is swapped in well under a second; this many tries outlast several swaps.
        const ATTEMPTS: usize = 10;
        let mut attempt = 1;
        loop {
            let loaded = Self::open(app, path)?;
            match loaded.sampling_network(device, weights) {
                Ok(model) => return Ok((loaded, model)),
                Err(_) if attempt < ATTEMPTS && loaded.was_swapped() => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Whether the checkpoint folder this was read from no longer holds the state read (a `train`
    /// replaced or removed it since).
    fn was_swapped(&self) -> bool {
        read_state::<serde::de::IgnoredAny>(&self.checkpoint)
            .map_or(true, |(dir, state)| dir != self.checkpoint || state.step != self.state.step)
    }

    /// The weights [`LoadedRun::network`] loads when asked for `weights`.
    pub fn weights_used(&self, weights: Weights) -> Weights {
        if self.state.train.ema.is_some() { weights } else { Weights::Online }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_another_app_is_refused_naming_the_app_to_use() {
        let run = tempfile::tempdir().unwrap();
        let checkpoint = run.path().join(ddpm_train::CHECKPOINT_DIR);
        std::fs::create_dir_all(&checkpoint).unwrap();
        let state = serde_json::json!({
            "format": ddpm_train::CHECKPOINT_FORMAT, "code_version": "0.1.0", "step": 1,
            "rng": {"seed": 0, "draws": 0}, "train": ddpm_train::TrainConfig::new(), "run": {"app": "single-image"},
        });
        std::fs::write(checkpoint.join("state.json"), state.to_string()).unwrap();
        let err = LoadedRun::<()>::open("mnist-train", run.path()).unwrap_err().to_string();
        assert!(err.contains("holds a run of single-image, not of mnist-train: use single-image on it"), "{err}");
    }
}
