use std::path::PathBuf;

use ddpm_data::{DataError, IoError};
use thiserror::Error;

/// Why a classifier or an evaluation could not be had. Every variant names the file at fault; none
/// names a command-line flag (the apps add those).
#[derive(Debug, Error)]
pub enum EvalError {
    #[error("cannot read {}: the metrics need the digit classifier ({source})", path.display())]
    MissingClassifier { path: PathBuf, source: std::io::Error },
    #[error("{} is not a classifier description: {reason}", path.display())]
    BadDescription { path: PathBuf, reason: String },
    #[error("cannot load the classifier weights {}: {reason}", path.display())]
    BadWeights { path: PathBuf, reason: String },
    #[error("cannot save the classifier to {}: {reason}", path.display())]
    Save { path: PathBuf, reason: String },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Io(#[from] IoError),
}
