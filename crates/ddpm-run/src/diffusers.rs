//! A diffusers pipeline folder as a model to sample from: `model_index.json` (a `DDPMPipeline` or
//! `DDIMPipeline`), `unet/config.json` and `unet/diffusion_pytorch_model.safetensors` (a `UNet2DModel`),
//! `scheduler/scheduler_config.json` (a `DDPMScheduler` or `DDIMScheduler`). Everything is read and
//! checked when the folder is opened, so a bad folder is refused before any sampling.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use ddpm_core::{ModelVariance, NoiseSchedule};
use ddpm_nets::{AnyImageNetwork, NetworkConfig, UNet2DConfig, UNet2DModel};
use ddpm_sample::DiffusersScheduler;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Experiment, ImageShape, LoadedRun, RunDescription, Weights};

/// The file that marks a folder as a diffusers pipeline.
pub const MODEL_INDEX: &str = "model_index.json";
const UNET_CONFIG: &str = "unet/config.json";
const UNET_WEIGHTS: &str = "unet/diffusion_pytorch_model.safetensors";
const SCHEDULER_CONFIG: &str = "scheduler/scheduler_config.json";

/// An opened diffusers pipeline folder.
#[derive(Debug, Clone)]
pub struct DiffusersPipeline {
    pub folder: PathBuf,
    pub unet: UNet2DConfig,
    pub scheduler: DiffusersScheduler,
}

impl DiffusersPipeline {
    /// Whether `folder` is a diffusers pipeline, not a run of this toolkit: it has a `model_index.json`,
    /// or a `unet/config.json` (a pipeline missing its index, which [`DiffusersPipeline::open`] then
    /// names, rather than calling the folder "no checkpoint").
    pub fn is_pipeline(folder: &Path) -> bool {
        folder.join(MODEL_INDEX).is_file() || folder.join(UNET_CONFIG).is_file()
    }

    /// Reads the folder's index, the U-Net's config and the scheduler's, refusing what this toolkit
    /// cannot run (naming the file and field) and a missing weights file.
    pub fn open(folder: &Path) -> anyhow::Result<Self> {
        let index = read_json(folder, MODEL_INDEX)?;
        let pipeline = index.get("_class_name").and_then(Value::as_str).unwrap_or("");
        if !["DDPMPipeline", "DDIMPipeline"].contains(&pipeline) {
            bail!(
                "{}: _class_name is {pipeline:?}; this toolkit reads DDPMPipeline and DDIMPipeline folders",
                folder.join(MODEL_INDEX).display()
            );
        }
        let component = |name: &str| index.get(name).and_then(|v| v.get(1)).and_then(Value::as_str).unwrap_or("").to_string();
        if component("unet") != "UNet2DModel" {
            bail!("{}: the unet is {:?}; this toolkit reads only UNet2DModel", folder.join(MODEL_INDEX).display(), component("unet"));
        }
        let unet = UNet2DConfig::from_diffusers(&read_json(folder, UNET_CONFIG)?)
            .map_err(|problem| anyhow::anyhow!("{}: {problem}", folder.join(UNET_CONFIG).display()))?;
        let scheduler = DiffusersScheduler::from_diffusers(&read_json(folder, SCHEDULER_CONFIG)?)
            .map_err(|problem| anyhow::anyhow!("{}: {problem}", folder.join(SCHEDULER_CONFIG).display()))?;
        let out_channels = scheduler.variance.output_channels(unet.in_channels);
        if unet.out_channels != out_channels {
            let why = match scheduler.variance {
                ModelVariance::Fixed => "a denoiser predicts one value per input value".to_string(),
                ModelVariance::LearnedRange => format!(
                    "variance_type learned_range in {} asks for a prediction and a variance per input value",
                    folder.join(SCHEDULER_CONFIG).display()
                ),
            };
            bail!(
                "{}: in_channels {} and out_channels {} do not match: {why}, so out_channels must be {out_channels}",
                folder.join(UNET_CONFIG).display(),
                unet.in_channels,
                unet.out_channels
            );
        }
        let pipeline = Self { folder: folder.to_path_buf(), unet, scheduler };
        pipeline.noise_schedule()?;
        let weights = pipeline.weights_file();
        if !weights.is_file() {
            let found: Vec<String> = std::fs::read_dir(folder.join("unet"))
                .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            bail!(
                "{} is missing (the unet folder holds {found:?}); this toolkit reads safetensors weights: re-save the model \
                 with `save_pretrained(..., safe_serialization=True)`",
                weights.display()
            );
        }
        Ok(pipeline)
    }

    /// The noise schedule of the scheduler config.
    pub fn noise_schedule(&self) -> anyhow::Result<NoiseSchedule> {
        NoiseSchedule::new(&self.scheduler.betas, self.scheduler.num_train_timesteps)
            .with_context(|| format!("{}: the betas are not a usable schedule", self.folder.join(SCHEDULER_CONFIG).display()))
    }

    pub fn weights_file(&self) -> PathBuf {
        self.folder.join(UNET_WEIGHTS)
    }

    /// The U-Net with the folder's weights, on `device`.
    pub fn load_unet(&self, device: &Device) -> anyhow::Result<UNet2DModel> {
        self.unet.init(device).load_diffusers_weights(&self.weights_file()).map_err(anyhow::Error::msg)
    }
}

fn read_json(folder: &Path, file: &str) -> anyhow::Result<Value> {
    let path = folder.join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {} (a diffusers pipeline folder needs it)", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

impl DiffusersPipeline {
    /// The pipeline described as a run of `app` with `experiment` for its app-specific part: its
    /// schedule, prediction target, network and sampler, images in [-1, 1] as diffusers' pipelines
    /// map them.
    pub fn run_description<E>(&self, app: &str, experiment: E) -> RunDescription<E> {
        RunDescription {
            app: app.to_string(),
            schedule: self.scheduler.betas.clone(),
            timesteps: self.scheduler.num_train_timesteps,
            prediction: self.scheduler.prediction,
            variance: self.scheduler.variance,
            network: NetworkConfig::UNet2D(self.unet.clone()),
            data: ImageShape { channels: self.unet.in_channels, image_size: self.unet.sample_size, range: [-1.0, 1.0] },
            seed: 0,
            sampler: self.scheduler.sampler.clone(),
            code_version: format!("diffusers pipeline {}", self.folder.display()),
            train_flags: None,
            experiment,
        }
    }
}

/// What a `sample` command draws from: a run of the app, or a diffusers pipeline folder.
pub struct SampleSource<E> {
    pub description: RunDescription<E>,
    pub model: AnyImageNetwork,
    /// The run folder, or the pipeline folder (where `samples/` goes by default).
    pub folder: PathBuf,
    /// Which weights were loaded, for the report: "EMA", "online" or "the pipeline's".
    pub weights: &'static str,
}

impl<E: DeserializeOwned + Experiment> SampleSource<E> {
    /// Opens `path` as a diffusers pipeline folder when it has a `model_index.json` (its run
    /// description built with `experiment`), and as a run of `app` otherwise.
    pub fn open(
        app: &str,
        path: &Path,
        weights: Weights,
        experiment: impl FnOnce(&DiffusersPipeline) -> E,
        device: &Device,
    ) -> anyhow::Result<Self> {
        if DiffusersPipeline::is_pipeline(path) {
            let pipeline = DiffusersPipeline::open(path)?;
            let description = pipeline.run_description(app, experiment(&pipeline));
            description
                .validate()
                .map_err(|problem| anyhow::anyhow!("{}: this pipeline is not a model {app} can sample: {problem}", path.display()))?;
            let model = AnyImageNetwork::from(pipeline.load_unet(device)?);
            return Ok(Self { description, model, folder: path.to_path_buf(), weights: "the pipeline's" });
        }
        let (loaded, model) = LoadedRun::<E>::open_for_sampling(app, path, device, weights)?;
        let weights = match loaded.weights_used(weights) {
            Weights::Ema => "EMA",
            Weights::Online => "online",
        };
        Ok(Self { description: loaded.state.run, model, folder: loaded.run_dir, weights })
    }
}
