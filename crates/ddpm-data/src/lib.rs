//! Data for diffusion experiments and the files they write: datasets (1-D Gaussian, one photograph,
//! MNIST, image folders), image quality metrics, `.npy` arrays, PNG plots and grids, and atomic writes.
//! Nothing here knows tensors or networks: everything is plain `f32` slices with their shapes.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("x.npy");
//! ddpm_data::write_npy_f32(&path, &[1.0, 2.0, 3.0, 4.0], &[2, 2])?;
//! let (values, shape) = ddpm_data::read_npy_f32(&path)?;
//! assert_eq!((values, shape), (vec![1.0, 2.0, 3.0, 4.0], vec![2, 2]));
//! # Ok::<(), ddpm_data::DataError>(())
//! ```

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
pub use batches::{Minibatch, ShuffledBatches};
pub use error::DataError;
pub use gaussian::{GaussianDataset, Normal1d, mean_std};
pub use image_folder::{ImageFolder, flip_coin, random_horizontal_flips};
pub use mnist::{DATA_DIR_ENV, DEFAULT_MNIST_DIR, IdxFile, MIRRORS, Mnist, MnistSplit, OFFLINE_ENV, hex_sha256, read_idx};
pub use npy::{read_npy_f32, write_npy_f32};
pub use single_image::SingleImage;
