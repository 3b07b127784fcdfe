use burn::config::Config;

use crate::LrSchedule;

/// Hyper-parameters of a training run. The defaults are the toy reference's: Adam at 1e-3,
/// 1000 full-batch steps.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Optimiser steps (for full-batch training, epochs).
    #[config(default = 1000)]
    pub steps: usize,
    /// Examples per step; `None` uses the whole dataset every step.
    #[config(default = "None")]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = "LrSchedule::Constant")]
    pub lr_schedule: LrSchedule,
    /// Decoupled (AdamW) weight decay; 0 gives plain Adam.
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Adam's epsilon. PyTorch's default (1e-8), not Burn's (1e-5), so runs match the references.
    #[config(default = 1e-8)]
    pub adam_epsilon: f64,
    /// Seeds the timesteps, the noise and the minibatch order.
    #[config(default = 0)]
    pub seed: u64,
    /// Losses are read back from the device in chunks of this many steps (one sync per chunk).
    #[config(default = 50)]
    pub log_every: usize,
    /// Show a progress bar on stderr (hidden automatically when stderr is not a terminal).
    #[config(default = true)]
    pub progress: bool,
}
