//! Images out and their quality: PNG grids of samples, and PSNR / SSIM against a target.

mod grid;
mod quality;

pub use grid::{to_unit_range, write_grid};
pub use quality::{psnr, ssim};
