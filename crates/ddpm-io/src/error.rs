use std::path::PathBuf;

use thiserror::Error;

/// Why a file could not be read or written. Every variant names the file; none names a command-line
/// flag (the apps add those).
#[derive(Debug, Error)]
pub enum IoError {
    #[error("cannot write {path}: {source}. {advice}", advice = write_advice(source))]
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

/// What to do about a failed write.
fn write_advice(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::InvalidFilename => {
            "A name in the path is too long for the file system (at most 255 bytes each): choose a shorter one"
        }
        _ => "Check that the folder exists and is writable",
    }
}
