//! Images out and their quality: PNG grids of samples, and PSNR / SSIM against a target.

mod quality;

pub use ddpm_io::{to_unit_range, write_grid};
pub use quality::{psnr, ssim};
