//! Training a noise predictor with the DDPM objective (Ho et al. 2020, Algorithm 1):
//! draw t ~ U{0..T-1} and eps ~ N(0, I) per example, form x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
//! and take a gradient step on || eps - eps_theta(x_t, t) ||^2.

mod config;
mod device;
mod error;
mod history;
mod lr;
mod progress;
mod stopwatch;
mod trainer;

pub use config::TrainConfig;
pub use device::{DeviceChoice, set_cpu_threads};
pub use error::TrainError;
pub use history::{LossHistory, LossRecord};
pub use lr::LrSchedule;
pub use progress::progress_bar;
pub use stopwatch::{Stopwatch, Timing};
pub use trainer::{Trained, train};
