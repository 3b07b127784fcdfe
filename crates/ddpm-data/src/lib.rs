//! Data for diffusion experiments and the files they write: datasets, `.npy` arrays and PNG plots.

mod error;
mod gaussian;
mod npy;
pub mod plot;

pub use error::DataError;
pub use gaussian::{GaussianDataset, Normal1d, mean_std};
pub use npy::{read_npy_f32, write_npy_f32};
