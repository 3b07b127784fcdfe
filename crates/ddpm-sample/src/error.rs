use ddpm_core::ScheduleError;
use thiserror::Error;

/// Why a sampler or a diffusers scheduler config was refused. Every variant names the setting and its
/// value; none names a command-line flag (the apps add those).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SampleError {
    #[error("{sampler} steps must be between 1 and T = {num_train_steps}, got {steps}")]
    Steps { sampler: &'static str, steps: usize, num_train_steps: usize },
    #[error("eta must be a non-negative number, got {0}")]
    Eta(f64),
    #[error("a diffusers scheduler config must be a JSON object")]
    NotAnObject,
    #[error("{field} must be {expected}, got {value}")]
    FieldType { field: &'static str, expected: &'static str, value: String },
    #[error("{field} is {value}, which this toolkit does not support ({supported})")]
    Unsupported { field: &'static str, value: String, supported: String },
    #[error("trained_betas lists {listed} betas, but num_train_timesteps is {num_train_timesteps}")]
    BetaCount { listed: usize, num_train_timesteps: usize },
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}
