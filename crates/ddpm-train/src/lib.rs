//! Training a noise predictor with the DDPM objective (Ho et al. 2020, Algorithm 1):
//! draw t ~ U{0..T-1} and eps ~ N(0, I) per example, form x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
//! and take a gradient step on || eps - eps_theta(x_t, t) ||^2.
//!
//! [`Trainer`] takes one step (AdamW, global-norm clipping, EMA) and saves or resumes the whole
//! state; [`fit`] runs the loop with progress, metrics, checkpoints, a time limit and a stop flag;
//! [`train`] is the one-call version for data that fits in one tensor.

mod checkpoint;
mod clip;
mod config;
mod dataset;
mod device;
mod ema;
mod error;
mod fit;
mod history;
mod interrupt;
mod lr;
mod progress;
mod slices;
mod stopwatch;
mod trainer;
mod weighting;

pub use checkpoint::{CHECKPOINT_DIR, CheckpointState, ensure_new_run_dir, load_weights, read_state, resolve};
pub use clip::clip_global_norm;
pub use config::TrainConfig;
pub use dataset::{Trained, train};
#[cfg(feature = "clap")]
pub use device::BackendArgs;
pub use device::{DeviceChoice, set_cpu_threads};
pub use ema::{EmaConfig, ema_update};
pub use error::TrainError;
pub use fit::{FitEnd, FitHooks, FitPlan, NoHooks, fit, logged_losses};
pub use history::{LossHistory, LossRecord};
pub use interrupt::stop_on_ctrl_c;
pub use lr::LrSchedule;
pub use progress::progress_bar;
pub use stopwatch::{Stopwatch, Timing, peak_memory_mib};
pub use trainer::Trainer;
pub use weighting::LossWeighting;
