//! Data for diffusion experiments and the files they write: datasets, `.npy` arrays and PNG plots.

mod atomic;
mod batches;
mod download;
mod error;
pub mod image;
mod gaussian;
mod mnist;
mod npy;
pub mod plot;

pub use atomic::write_atomically;
pub use batches::ShuffledBatches;
pub use error::DataError;
pub use gaussian::{GaussianDataset, Normal1d, mean_std};
pub use mnist::{DATA_DIR_ENV, DEFAULT_MNIST_DIR, IdxFile, MIRRORS, Mnist, MnistSplit, OFFLINE_ENV, read_idx};
pub use npy::{read_npy_f32, write_npy_f32};
