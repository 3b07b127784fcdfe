//! Training a denoising network with the DDPM objective (Ho et al. 2020, Algorithm 1):
//! draw t ~ U{0..T-1} and eps ~ N(0, I) per example, form x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
//! and take a gradient step on || target - f_theta(x_t, t) ||^2, where the target is eps, x_0 or the
//! velocity v (`ddpm_core::Prediction`). A network that learns its variance as well
//! (`ddpm_core::ModelVariance::LearnedRange`) trains on improved DDPM's hybrid loss ([`vlb_loss`]).
//!
//! [`Trainer`] takes one step (AdamW, global-norm clipping, EMA) and saves or resumes the whole
//! state; [`fit`] runs the loop with progress, metrics, checkpoints, a time limit and a stop flag;
//! [`train`] is the one-call version for data that fits in one tensor. Progress is reported to
//! [`FitHooks`]; this crate draws nothing and names no backend. It knows no network either: anything
//! that is a Burn `Module` and a `ddpm_core::Denoiser` trains, and an `ddpm_exec::Execution` says how
//! each batch is cut ([`Trainer::with_execution`]).
//!
//! ```
//! use burn::tensor::{Device, Tensor, TensorData};
//! use ddpm_core::{BetaSchedule, NoiseSchedule};
//! use ddpm_exec::Execution;
//! use ddpm_train::{NoHooks, TrainConfig, train};
//!
//! let device = Device::flex().autodiff();
//! let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100)?;
//! let model = ddpm_nets::MlpConfig::new().with_num_steps(100).init(&device);
//! let data = Tensor::<2>::from_data(TensorData::new(vec![1.0f32; 64], [64, 1]), &device);
//! let config = TrainConfig::new().with_steps(5);
//! let trained = train(model, data, &schedule, &config, &device, Execution::default(), &mut NoHooks)?;
//! assert!(trained.history.recent_mean(5).is_some_and(f32::is_finite));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod clip;
mod config;
mod dataset;
mod ema;
mod error;
mod fit;
mod history;
mod hybrid;
mod lr;
mod slices;
mod trainer;
mod upgrade;
mod weighting;

pub use checkpoint::{CHECKPOINT_DIR, CHECKPOINT_FORMAT, CheckpointState, ensure_new_run_dir, load_weights, read_state, resolve};
pub use clip::clip_global_norm;
pub use config::{ClassConditioning, TrainConfig};
pub use dataset::{Trained, train};
pub use ema::{EmaConfig, ema_update};
pub use error::TrainError;
pub use fit::{FitEnd, FitHooks, FitPlan, FitProgress, NoHooks, fit, logged_losses};
pub use history::{LossHistory, LossRecord};
pub use hybrid::{VLB_WEIGHT, vlb_loss};
pub use lr::LrSchedule;
pub use trainer::{Batch, Trainer};
pub use weighting::LossWeighting;
