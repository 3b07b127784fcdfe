use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DataError {
    #[error("cannot write {path}: {source}. Check that the folder exists and is writable, or pick another with --out")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid .npy file: {reason}")]
    BadNpy { path: PathBuf, reason: String },
    #[error("array shape {shape:?} holds {expected} values but {actual} were given")]
    ShapeMismatch { shape: Vec<usize>, expected: usize, actual: usize },
    #[error("invalid dataset parameter: {0}")]
    InvalidParameter(String),
    #[error("cannot draw {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
}
