//! Samplers: from x_T ~ N(0, I) back to data with a trained noise predictor.
//!
//! A sampler says which timesteps it visits and what one step does ([`ReverseProcess`]); the chain
//! itself (noise, threads, trajectory, progress) is shared.

mod chain;
mod choice;
mod ddim;
mod ddpm;

pub use chain::{ReverseProcess, Sampled};
pub use choice::{Sampler, SamplerConfig, SamplerKind};
pub use ddim::{DdimSampler, Spacing};
pub use ddpm::{DdpmSampler, VarianceType};
