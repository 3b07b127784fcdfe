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
    #[error("{path} is not a valid IDX file: {reason}")]
    BadIdx { path: PathBuf, reason: String },
    #[error("{path} is corrupt: its sha256 is {actual}, the official file's is {expected}. Delete it and download it again")]
    ChecksumMismatch { path: PathBuf, expected: String, actual: String },
    #[error(
        "MNIST files missing: {missing:?}. Looked in {searched:?}; download failed: {reason}\n\
         Put the four official files (e.g. train-images-idx3-ubyte.gz) in one folder and pass it with --data-dir, \
         set DDPM_DATA_DIR, or copy them into datasets/mnist/"
    )]
    MissingMnist { searched: Vec<PathBuf>, missing: Vec<String>, reason: String },
    #[error("{path} is not a PNG or JPEG image (it looks like {found}); convert it to .png or .jpg")]
    NotAnImage { path: PathBuf, found: String },
    #[error("{path} cannot be decoded ({reason}); it may be truncated or corrupt: re-export or re-download it")]
    BadImage { path: PathBuf, reason: String },
    /// A folder of images that cannot be trained on (missing, empty, unreadable files), with the fix.
    #[error("{0}")]
    ImageFolder(String),
    #[error("cannot draw {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
}
