//! Samplers: from x_T ~ N(0, I) back to data with a trained noise predictor.

mod ddpm;

pub use ddpm::{DdpmSampler, Sampled, VarianceType};
