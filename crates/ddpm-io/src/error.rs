use std::path::PathBuf;

use thiserror::Error;

/// Why a file could not be read or written. Every variant names the file; none names a command-line
/// flag (the apps add those).
#[derive(Debug, Error)]
pub enum IoError {
    #[error("cannot write {path}: {source}. Check that the folder exists and is writable")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid .npy file: {reason}")]
    BadNpy { path: PathBuf, reason: String },
    #[error("array shape {shape:?} holds {expected} values but {actual} were given")]
    ShapeMismatch { shape: Vec<usize>, expected: usize, actual: usize },
    #[error("cannot write {path}: it exists and is not a PNG, so it is not replaced")]
    NotAPng { path: PathBuf },
}
