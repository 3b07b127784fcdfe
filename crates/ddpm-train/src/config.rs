use burn::config::Config;
use ddpm_core::{ModelVariance, Parameterization, Prediction};

use crate::{EmaConfig, LossWeighting, LrSchedule, TrainError};

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
    /// Whether the network also learns the reverse step's variance (improved DDPM): it then outputs
    /// twice the data's channels and trains on L_simple + 0.001 L_vlb.
    #[config(default = "ModelVariance::Fixed")]
    pub variance: ModelVariance,
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
    /// What the trained network outputs.
    pub fn parameterization(&self) -> Parameterization {
        Parameterization { prediction: self.prediction, variance: self.variance }
    }

    /// Explains the first setting that cannot work, naming its field.
    pub fn validate(&self) -> Result<(), TrainError> {
        let invalid = |field: &'static str, value: String, reason: String| Err(TrainError::InvalidSetting { field, value, reason });
        let positive = |field: &'static str, value: f64| {
            if value > 0.0 && value.is_finite() { Ok(()) } else { invalid(field, value.to_string(), "must be a positive number".into()) }
        };
        positive("learning_rate", self.learning_rate)?;
        positive("adam_epsilon", self.adam_epsilon)?;
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return invalid("weight_decay", self.weight_decay.to_string(), "must be a number >= 0".into());
        }
        if self.batch_size == Some(0) {
            return invalid("batch_size", "0".into(), "must be at least 1".into());
        }
        for (field, value) in [("steps", self.steps), ("log_every", self.log_every)] {
            if value == 0 {
                return invalid(field, "0".into(), "must be at least 1".into());
            }
        }
        match self.lr_schedule {
            LrSchedule::Constant => {}
            LrSchedule::Cosine { min_lr, .. } | LrSchedule::CosineAnnealing { min_lr, .. } => {
                if !(min_lr >= 0.0 && min_lr <= self.learning_rate) {
                    let reason = format!("the final learning rate must lie between 0 and the peak learning rate {}", self.learning_rate);
                    return invalid("min_lr", min_lr.to_string(), reason);
                }
            }
        }
        if let LrSchedule::CosineAnnealing { t_max: 0, .. } = self.lr_schedule {
            return invalid("t_max", "0".into(), "the cosine annealing period must be at least 1".into());
        }
        if let Some(norm) = self.grad_clip_norm {
            positive("grad_clip_norm", norm)?;
        }
        if let Some(conditioning) = &self.conditioning {
            if conditioning.classes == 0 {
                return invalid("conditioning.classes", "0".into(), "class conditioning needs at least one class".into());
            }
            if !(0.0..1.0).contains(&conditioning.drop_probability) {
                let value = conditioning.drop_probability.to_string();
                return invalid("conditioning.drop_probability", value, "the chance a label is dropped must be in [0, 1)".into());
            }
        }
        if let Some(ema) = &self.ema
            && !(0.0..1.0).contains(&ema.decay)
        {
            return invalid("ema.decay", ema.decay.to_string(), "the EMA decay must be in [0, 1)".into());
        }
        Ok(())
    }
}
