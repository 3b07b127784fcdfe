//! Files the toolkit writes, each whole or not at all, and reads back: atomic writes (the base of
//! crash-safe checkpoints), float32 `.npy` arrays that NumPy loads, PNG images and grids of samples.
//! Nothing here knows datasets, tensors or networks, so the trainer can write its checkpoints with
//! it alone.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("x.npy");
//! ddpm_io::write_npy_f32(&path, &[1.0, 2.0, 3.0, 4.0], &[2, 2])?;
//! let (values, shape) = ddpm_io::read_npy_f32(&path)?;
//! assert_eq!((values, shape), (vec![1.0, 2.0, 3.0, 4.0], vec![2, 2]));
//! // Two 1x1 grayscale images, black and white, side by side.
//! ddpm_io::write_grid(&dir.path().join("grid.png"), &[0.0, 1.0], [2, 1, 1, 1], 2, 4)?;
//! # Ok::<(), ddpm_io::IoError>(())
//! ```

mod atomic;
mod error;
mod grid;
mod npy;

pub use atomic::{ensure_writable_dir, write_atomically};
pub use error::IoError;
pub use grid::{to_unit_range, write_grid, write_png};
pub use npy::{read_npy_f32, write_npy_f32};
