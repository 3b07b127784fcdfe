//! Data for diffusion experiments and the files they write: datasets (1-D Gaussian, one photograph,
//! MNIST), image quality metrics, `.npy` arrays and PNG plots.

mod atomic;
mod batches;
mod download;
mod error;
mod gaussian;
pub mod image;
mod image_folder;
pub mod metrics;
mod mnist;
mod npy;
pub mod plot;
mod single_image;

pub use atomic::write_atomically;
pub use batches::ShuffledBatches;
pub use error::DataError;
pub use gaussian::{GaussianDataset, Normal1d, mean_std};
pub use image_folder::{ImageFolder, flip_coin, random_horizontal_flips};
pub use mnist::{DATA_DIR_ENV, DEFAULT_MNIST_DIR, IdxFile, MIRRORS, Mnist, MnistSplit, OFFLINE_ENV, hex_sha256, read_idx};
pub use npy::{read_npy_f32, write_npy_f32};
pub use single_image::SingleImage;
