use std::path::PathBuf;

use thiserror::Error;

/// Why training could not start or go on. Every variant names the value at fault; none names a
/// command-line flag (`ddpm-run` adds those).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    #[error("the training set is empty: give at least one example")]
    EmptyDataset,
    #[error("batch size must be at least 1 (got 0); omit it to train on the whole dataset each step")]
    ZeroBatch,
    #[error("invalid training setting {field} = {value}: {reason}")]
    InvalidSetting { field: &'static str, value: String, reason: String },
    #[error(
        "the loss became {loss} at step {step}: training diverged. Train again with a lower learning rate \
         (e.g. {suggested_lr:e}) or check the data for NaN/inf. {}",
        last_checkpoint.map_or_else(|| "No checkpoint was written.".to_string(), |s| format!("The checkpoint of step {s}, before it, is intact."))
    )]
    NonFiniteLoss {
        step: usize,
        loss: f32,
        suggested_lr: f64,
        /// The step of the newest checkpoint in the run folder, if there is one.
        last_checkpoint: Option<usize>,
    },
    #[error(
        "{}: no checkpoint here (looked for state.json in it, in checkpoint/, .checkpoint.old/ and \
         .checkpoint.tmp/); it is not the folder of a training run",
        path.display()
    )]
    NoCheckpoint { path: PathBuf },
    #[error("{} already holds a training run", path.display())]
    RunExists { path: PathBuf },
    #[error(
        "checkpoint {}: the checkpoint has no {}",
        checkpoint.display(),
        if *ema { "ema.bpk; the run kept an EMA, so the file was deleted" } else { "model.bpk" }
    )]
    MissingWeights {
        checkpoint: PathBuf,
        /// Whether the EMA weights (`ema.bpk`) are missing, rather than the online ones (`model.bpk`).
        ema: bool,
    },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{0}")]
    Hook(String),
}
