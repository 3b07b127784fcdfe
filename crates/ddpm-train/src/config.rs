use burn::config::Config;
use ddpm_schedule::Prediction;

use crate::{EmaConfig, LossWeighting, LrSchedule};

/// Hyper-parameters of a training run. The defaults are the toy reference's: Adam at 1e-3,
/// 1000 full-batch steps, no clipping, no EMA.
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
    /// Clip the gradient to this global L2 norm (over all parameters together).
    #[config(default = "None")]
    pub grad_clip_norm: Option<f64>,
    /// Keep an exponential moving average of the weights to sample from.
    #[config(default = "None")]
    pub ema: Option<EmaConfig>,
    /// What the network learns to output: the noise, x_0 or the velocity v.
    #[config(default = "Prediction::Epsilon")]
    pub prediction: Prediction,
    /// Train class-conditionally for classifier-free guidance: batches carry labels, each dropped to the
    /// null class with the given probability. `None`: unconditional.
    #[config(default = "None")]
    pub conditioning: Option<ClassConditioning>,
    /// How the timesteps' losses are weighted.
    #[config(default = "LossWeighting::Uniform")]
    pub loss_weighting: LossWeighting,
    /// Seeds the timesteps, the noise and the minibatch order.
    #[config(default = 0)]
    pub seed: u64,
    /// Losses are read back from the device in chunks of this many steps (one sync per chunk).
    #[config(default = 50)]
    pub log_every: usize,
}

/// Class conditioning of a run (Ho & Salimans 2022).
#[derive(Config, Debug, PartialEq)]
pub struct ClassConditioning {
    /// Labels are `0..classes`; `classes` itself is the null class.
    pub classes: usize,
    /// The chance a label is replaced by the null class, so the network also learns the unconditional output.
    #[config(default = 0.1)]
    pub drop_probability: f64,
}

impl TrainConfig {
    /// Explains the first setting that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, value: f64| {
            if value > 0.0 && value.is_finite() { Ok(()) } else { Err(format!("{name} must be a positive number (got {value})")) }
        };
        positive("learning rate", self.learning_rate)?;
        positive("Adam epsilon", self.adam_epsilon)?;
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(format!("weight decay must be a number >= 0 (got {})", self.weight_decay));
        }
        if self.batch_size == Some(0) {
            return Err("the batch size must be at least 1".into());
        }
        if self.steps == 0 || self.log_every == 0 {
            return Err(format!("steps and log_every must be at least 1 (got {} and {})", self.steps, self.log_every));
        }
        match self.lr_schedule {
            LrSchedule::Constant => {}
            LrSchedule::Cosine { min_lr, .. } | LrSchedule::CosineAnnealing { min_lr, .. } => {
                if !(min_lr >= 0.0 && min_lr <= self.learning_rate) {
                    return Err(format!(
                        "the final learning rate (--min-lr) must lie between 0 and the peak learning rate (--lr) {}, got {min_lr}",
                        self.learning_rate
                    ));
                }
            }
        }
        if let LrSchedule::CosineAnnealing { t_max: 0, .. } = self.lr_schedule {
            return Err("the cosine annealing period t_max must be at least 1".into());
        }
        if let Some(norm) = self.grad_clip_norm {
            positive("gradient clipping norm", norm)?;
        }
        if let Some(conditioning) = &self.conditioning
            && !(conditioning.classes > 0 && (0.0..1.0).contains(&conditioning.drop_probability))
        {
            return Err(format!(
                "class conditioning needs at least one class and a drop probability in [0, 1) (got {} classes, {})",
                conditioning.classes, conditioning.drop_probability
            ));
        }
        if let Some(ema) = &self.ema
            && !(0.0..1.0).contains(&ema.decay)
        {
            return Err(format!("EMA decay must be in [0, 1) (got {})", ema.decay));
        }
        Ok(())
    }
}
