use std::path::PathBuf;

use thiserror::Error;

/// Why data could not be read or written. Every variant names the file or setting at fault; none
/// names a command-line flag (the apps add those).
#[derive(Debug, Error)]
pub enum DataError {
    #[error("invalid dataset parameter: {0}")]
    InvalidParameter(String),
    #[error("{path} is not a valid IDX file: {reason}")]
    BadIdx { path: PathBuf, reason: String },
    #[error(
        "MNIST files missing: {missing:?}. Looked in {searched:?}; download failed: {reason}\n\
         Put the four official files (e.g. train-images-idx3-ubyte.gz) in one folder and name it, \
         set DDPM_DATA_DIR, or copy them into datasets/mnist/"
    )]
    MissingMnist { searched: Vec<PathBuf>, missing: Vec<String>, reason: String },
    #[error("{path} is not a PNG or JPEG image (it looks like {found}); convert it to .png or .jpg")]
    NotAnImage { path: PathBuf, found: String },
    #[error("{path} cannot be decoded ({reason}); it may be truncated or corrupt: re-export or re-download it")]
    BadImage { path: PathBuf, reason: String },
    #[error(
        "{}: a {width} x {height} image resized to {size} pixels on its shorter side is too large to load \
         (at most {max} pixels before and after resizing); crop it nearer to a square or shrink it first",
        path.display()
    )]
    ImageTooLarge { path: PathBuf, width: u64, height: u64, size: usize, max: u64 },
    #[error("{0}")]
    Download(String),
    #[error("{} is not a folder of PNG or JPEG images", path.display())]
    NotAFolder { path: PathBuf },
    #[error("{} holds no PNG or JPEG files (searched all its subfolders)", path.display())]
    NoImages { path: PathBuf },
    /// Some images of a folder cannot be read; `listing` has a line per file (the first few).
    #[error("{bad} of the {total} images under {} cannot be read:\n{listing}\nfix or remove them", dir.display())]
    UnreadableImages { dir: PathBuf, bad: usize, total: usize, listing: String },
    #[error("none of the {total} image files under {} can be read:\n{listing}", dir.display())]
    NoReadableImages { dir: PathBuf, total: usize, listing: String },
    #[error("cannot draw {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    #[error(transparent)]
    Io(#[from] ddpm_io::IoError),
}
