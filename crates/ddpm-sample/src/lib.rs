//! Samplers: from x_T ~ N(0, I) back to data with a trained denoising network.
//!
//! A sampler says which timesteps it visits and what one step does ([`ReverseProcess`]); the chain
//! itself (noise, threads, trajectory, progress callback) is shared, and every sampler reads the
//! network's output, whatever it predicts, through an [`Estimator`]. A sampler never knows the network.

mod chain;
mod choice;
mod ddim;
mod ddpm;
mod diffusers;
mod dpm_solver;
mod estimate;
mod guidance;

pub use chain::{ReverseProcess, Sampled, Start, StepMemory};
pub use choice::{Sampler, SamplerConfig, SamplerKind};
pub use ddim::{DdimSampler, Spacing};
pub use ddpm::{DdpmSampler, VarianceType};
pub use diffusers::{DDIM_PIPELINE_STEPS, DiffusersScheduler};
pub use dpm_solver::DpmSolverPlusPlus;
pub use estimate::Estimator;
pub use guidance::Guided;
