//! The experiment: data, training, sampling, evaluation and outputs.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{NoiseRng, NoiseSchedule};
use ddpm_data::{GaussianDataset, Normal1d, mean_std, plot, write_atomically, write_npy_f32};
use ddpm_run::{Execution, Stopwatch, Timing, WithProgressBar, progress_bar};
use ddpm_sample::{DdpmSampler, Estimator, SamplingChain};
use ddpm_train::{NoHooks, train};
use serde::Serialize;
use std::path::Path;

use crate::config::ToyConfig;

/// What a run measured; written as `summary.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub device: String,
    pub target_mean: f64,
    pub target_std: f64,
    pub sample_mean: f64,
    pub sample_std: f64,
    /// sup |F_n - F| against the target normal.
    pub ks_statistic: f64,
    /// The KS value a true sample of this size exceeds 5% of the time (1.358 / sqrt(n)).
    pub ks_95_noise_level: f64,
    pub wasserstein1: f64,
    /// The training data's own KS and W1 against the target: what a perfect model could reach.
    pub data_ks_statistic: f64,
    pub data_wasserstein1: f64,
    pub final_loss: f32,
    pub train: Timing,
    pub sample: Timing,
    pub train_steps_per_second: f64,
    pub sample_steps_per_second: f64,
}

/// What a run writes into its folder; a folder holding any of them is another run's.
pub const OUTPUTS: [&str; 6] = ["samples.npy", "histogram.png", "loss.png", "loss.csv", "config.json", "summary.json"];

/// Runs the experiment on `device` and writes everything into `out`; training and sampling cut the
/// batch as `execution` says.
pub fn run(config: &ToyConfig, device: &Device, device_name: &str, execution: Execution, out: &Path) -> Result<Summary> {
    if let Some(file) = OUTPUTS.iter().find(|file| out.join(file).exists()) {
        anyhow::bail!("{} already holds a run ({file}): pick another --out, or delete that folder", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let config_path = out.join("config.json");
    write_atomically(&config_path, serde_json::to_string_pretty(config)?.as_bytes())
        .with_context(|| format!("cannot write {}: check that --out is a writable folder", config_path.display()))?;

    let target = Normal1d::new(config.data_mean, config.data_std)?;
    let data = GaussianDataset::new(target, config.data_points, config.data_seed)?.samples;
    let schedule = NoiseSchedule::new(&config.beta_schedule, config.timesteps)?;

    // Weights are initialised from the backend's RNG, seeded here; everything else uses NoiseRng.
    let train_device = device.clone().autodiff();
    train_device.seed(config.train.seed);
    let model = config.model.init(&train_device);
    let data_tensor = Tensor::<2>::from_data(TensorData::new(data.clone(), [data.len(), 1]), &train_device);
    let stopwatch = Stopwatch::start();
    let mut no_hooks = NoHooks;
    let mut progress = WithProgressBar::new(0, config.train.steps, &mut no_hooks);
    let trained = train(model, data_tensor, &schedule, &config.train, &train_device, execution, &mut progress)?;
    progress.finish();
    let train_timing = stopwatch.stop();

    let model = trained.model.valid();
    let bar = progress_bar(config.timesteps, "sampling");
    let stopwatch = Stopwatch::start();
    let estimator = Estimator::new(&schedule, config.train.prediction).with_variance(config.train.variance);
    let sampler = DdpmSampler::with_estimator(estimator, config.variance);
    let sampled = SamplingChain::new(execution).run(
        &sampler,
        &model,
        [config.samples, 1],
        None,
        &mut NoiseRng::new(config.sample_seed),
        device,
        |done, _| bar.set_position(done as u64),
    );
    let samples: Vec<f32> = sampled.samples.into_data().try_into_vec::<f32>().context("reading the samples back")?;
    let sample_timing = stopwatch.stop();
    bar.finish_and_clear();

    let (sample_mean, sample_std) = mean_std(&samples);
    let summary = Summary {
        device: device_name.to_string(),
        target_mean: target.mean,
        target_std: target.std,
        sample_mean,
        sample_std,
        ks_statistic: target.ks_statistic(&samples),
        ks_95_noise_level: 1.358 / (samples.len() as f64).sqrt(),
        wasserstein1: target.wasserstein1(&samples),
        data_ks_statistic: target.ks_statistic(&data),
        data_wasserstein1: target.wasserstein1(&data),
        final_loss: trained.history.recent_mean(50).unwrap_or(f32::NAN),
        train: train_timing,
        sample: sample_timing,
        train_steps_per_second: config.train.steps as f64 / train_timing.seconds,
        sample_steps_per_second: config.timesteps as f64 / sample_timing.seconds,
    };

    write_npy_f32(&out.join("samples.npy"), &samples, &[samples.len(), 1])?;
    let losses: Vec<f32> = trained.history.records.iter().map(|r| r.loss).collect();
    write_atomically(&out.join("loss.csv"), trained.history.to_csv().as_bytes())?;
    plot::loss_curve(&out.join("loss.png"), "Training loss", &losses, 50)?;
    let series = [
        plot::Histogram { label: "training data", values: &data, color: plot::BLUE },
        plot::Histogram { label: "DDPM samples", values: &samples, color: plot::ORANGE },
    ];
    let title = format!("Real vs generated (KS {:.3}, W1 {:.3})", summary.ks_statistic, summary.wasserstein1);
    let target_label = format!("target N({}, {}^2)", target.mean, target.std);
    plot::histograms(&out.join("histogram.png"), &title, &series, Some((&target_label, target)), 50)?;
    let summary_path = out.join("summary.json");
    write_atomically(&summary_path, serde_json::to_string_pretty(&summary)?.as_bytes())
        .with_context(|| format!("writing {}", summary_path.display()))?;
    Ok(summary)
}
