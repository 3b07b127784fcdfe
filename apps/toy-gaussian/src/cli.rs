//! Command-line flags. Every setting of the experiment is a flag; a flag left out takes the value of
//! the chosen `--preset`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use ddpm_run::numbers::{MAX_STEPS, count, positive, real};
use ddpm_run::{BackendArgs, ObjectiveArgs};

/// The most 1-D points a flag takes (data, batch, samples): 10 million floats are 40 MB.
const MAX_POINTS: u64 = 10_000_000;
/// The widest MLP layer or time embedding a flag takes.
const MAX_WIDTH: u64 = 65_536;

#[derive(Parser, Debug)]
#[command(
    name = "toy-gaussian",
    version,
    about = "Train a DDPM on 1-D Gaussian data and sample it back.",
    long_about = "Train a DDPM on 1-D Gaussian data and sample it back.\n\n\
        The reference preset reproduces the tutorial experiment: data N(3, 2^2) (1000 points), T = 1000 \
        linear betas 1e-4..0.02, an MLP Linear(2,128)-ReLU-Linear(128,128)-ReLU-Linear(128,1) fed \
        concat(x_t, t/T), Adam at 1e-3 for 1000 full-batch epochs, then 1000 samples by ancestral sampling. \
        The quality preset reaches the statistical noise floor in no more time.\n\n\
        Writes samples.npy, histogram.png, loss.png, loss.csv, config.json and summary.json to --out.",
    after_help = "Flags left out take the preset's value, shown as [reference | quality].",
    // One kernel thread by default: the toy network's matrices are too small to split across cores with
    // profit (measured on 2 cores: 1000 training steps in 1.24 s on one thread, 1.66 s on two; BENCHMARKS.md).
    mut_arg("threads", |arg| arg.default_value("1").help(
        "CPU threads for the flex and ndarray kernels; 0 uses every core. One is the default: the toy \
         network's matrices are too small to split with profit. Training and sampling split the batch \
         across the cores left over (the same samples either way; the same training up to rounding)"
    ))
)]
pub struct Args {
    /// Starting point for every setting below.
    #[arg(long, value_enum, default_value_t = Preset::Reference)]
    pub preset: Preset,

    /// Folder for the outputs (created if missing); one that holds another run's outputs is refused.
    #[arg(long, default_value = "runs/toy-gaussian")]
    pub out: PathBuf,

    #[command(flatten)]
    pub backend: BackendArgs,

    #[command(flatten)]
    pub objective: ObjectiveArgs,

    /// Mean of the data distribution N(mean, std^2). [3 | 3]
    #[arg(long, allow_negative_numbers = true, value_parser = real(-1e6..=1e6))]
    pub data_mean: Option<f64>,
    /// Standard deviation of the data distribution. [2 | 2]
    #[arg(long, allow_negative_numbers = true, value_parser = positive(1e6))]
    pub data_std: Option<f64>,
    /// Number of training points. [1000 | 1000]
    #[arg(long, value_parser = count(1..=MAX_POINTS))]
    pub data_points: Option<usize>,
    /// Seed of the training points. [0 | 0]
    #[arg(long)]
    pub data_seed: Option<u64>,

    /// Number of diffusion steps T. [1000 | 1000]
    #[arg(long, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub timesteps: Option<usize>,
    /// Beta schedule. [linear | linear]
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKind>,
    /// First beta (linear, scaled-linear, sigmoid). [1e-4 | 1e-4]
    #[arg(long, allow_negative_numbers = true, value_parser = real(0.0..1.0))]
    pub beta_start: Option<f64>,
    /// Last beta (linear, scaled-linear, sigmoid). [0.02 | 0.02]
    #[arg(long, allow_negative_numbers = true, value_parser = real(0.0..1.0))]
    pub beta_end: Option<f64>,

    /// Hidden layer widths, comma separated. [128,128 | 128,128]
    #[arg(long, value_delimiter = ',', value_parser = count(1..=MAX_WIDTH))]
    pub hidden: Option<Vec<usize>>,
    /// Hidden-layer nonlinearity. [relu | relu]
    #[arg(long, value_enum)]
    pub activation: Option<ActivationKind>,
    /// How the network sees t: t/T as one input, or a sinusoidal embedding. [normalized | sinusoidal]
    #[arg(long, value_enum)]
    pub time_encoding: Option<TimeEncodingKind>,
    /// Width of the sinusoidal time embedding. [- | 16]
    #[arg(long, value_parser = count(1..=MAX_WIDTH))]
    pub time_dim: Option<usize>,

    /// Optimiser steps; with full batches, epochs. [1000 | 800]
    #[arg(long, alias = "epochs", value_parser = count(1..=MAX_STEPS))]
    pub steps: Option<usize>,
    /// Examples per step; 0 means the whole dataset. [0 | 0]
    #[arg(long, value_parser = count(0..=MAX_POINTS))]
    pub batch_size: Option<usize>,
    /// Peak learning rate (Adam). [1e-3 | 3e-3]
    #[arg(long, allow_negative_numbers = true, value_parser = positive(1.0))]
    pub lr: Option<f64>,
    /// Learning-rate plan: constant, or cosine decay to lr/100. [constant | cosine]
    #[arg(long, value_enum)]
    pub lr_schedule: Option<LrScheduleKind>,
    /// Seed of the weights, timesteps and noise of training. [0 | 0]
    #[arg(long)]
    pub seed: Option<u64>,

    /// Number of samples to generate. [1000 | 1000]
    #[arg(long, value_parser = count(1..=MAX_POINTS))]
    pub samples: Option<usize>,
    /// Seed of the sampling noise. [1 | 1]
    #[arg(long)]
    pub sample_seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The tutorial recipe, as published.
    Reference,
    /// Same budget, better time embedding and learning-rate plan: samples at the noise floor.
    Quality,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleKind {
    Linear,
    ScaledLinear,
    Cosine,
    Sigmoid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationKind {
    Relu,
    Silu,
    Gelu,
    Tanh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimeEncodingKind {
    Normalized,
    Sinusoidal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LrScheduleKind {
    Constant,
    Cosine,
}
