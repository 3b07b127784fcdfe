//! Data for diffusion experiments: datasets (1-D Gaussian, one photograph, MNIST, image folders),
//! seeded minibatches, image quality metrics (PSNR, SSIM; FID, KID, precision/recall on features) and
//! PNG plots. The files themselves (atomic writes, `.npy`, PNG grids) are `ddpm-io`'s, re-exported here.
//! Nothing here knows tensors or networks: everything is plain `f32` slices with their shapes.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("x.npy");
//! ddpm_data::write_npy_f32(&path, &[1.0, 2.0, 3.0, 4.0], &[2, 2])?;
//! let (values, shape) = ddpm_data::read_npy_f32(&path)?;
//! assert_eq!((values, shape), (vec![1.0, 2.0, 3.0, 4.0], vec![2, 2]));
//! # Ok::<(), ddpm_data::IoError>(())
//! ```

mod batches;
mod download;
mod error;
mod gaussian;
pub mod image;
mod image_folder;
pub mod metrics;
mod mnist;
pub mod plot;
mod single_image;

pub use batches::{Minibatch, ShuffledBatches};
pub use ddpm_io::{IoError, ensure_writable_dir, read_npy_f32, write_atomically, write_npy_f32};
pub use error::DataError;
pub use gaussian::{GaussianDataset, Normal1d, mean_std};
pub use image_folder::{ImageFolder, flip_coin, random_horizontal_flips};
pub use mnist::{DATA_DIR_ENV, DEFAULT_MNIST_DIR, IdxArray, IdxFile, MIRRORS, Mnist, MnistSplit, OFFLINE_ENV, hex_sha256, read_idx};
pub use single_image::SingleImage;
