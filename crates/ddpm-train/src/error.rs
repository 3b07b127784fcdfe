use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    #[error("the training set is empty: give at least one example")]
    EmptyDataset,
    #[error("batch size must be at least 1 (got 0); omit it to train on the whole dataset each step")]
    ZeroBatch,
    #[error("invalid training setting: {0}")]
    InvalidConfig(String),
    #[error(
        "the loss became {loss} at step {step}: training diverged. Train again with a lower learning rate \
         (e.g. --lr {suggested_lr:e}) or check the data for NaN/inf. {}",
        last_checkpoint.map_or_else(|| "No checkpoint was written.".to_string(), |s| format!("The checkpoint of step {s}, before it, is intact."))
    )]
    NonFiniteLoss {
        step: usize,
        loss: f32,
        suggested_lr: f64,
        /// The step of the newest checkpoint in the run folder, if there is one.
        last_checkpoint: Option<usize>,
    },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{0}")]
    Hook(String),
}
