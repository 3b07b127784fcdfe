//! The core of denoising diffusion (Ho et al. 2020, "Denoising Diffusion Probabilistic Models") that the
//! trainer (`ddpm-train`) and the samplers (`ddpm-sample`) stand on, with no network in it: the
//! schedules and their tables, the forward process and its posterior, the prediction targets, the
//! reverse step's variance (fixed, or learned: [`ModelVariance`]), the Gaussian likelihoods of the
//! variational bound, the counter-based noise and the [`Denoiser`] contract through which any network
//! plugs in from above (with [`non_finite_parameter`], the check every weight loader runs).
//!
//! A [`BetaSchedule`] says how much noise each forward step adds; a [`NoiseSchedule`] holds every table
//! derived from it, computed once in `f64`: alphas, alpha-bar, the posterior q(x_{t-1} | x_t, x_0) and SNR.
//! It also applies the forward process to tensors ([`NoiseSchedule::q_sample`]), gives the posterior
//! ([`NoiseSchedule::q_posterior`]), and converts between the targets a network may predict ([`Prediction`]).
//!
//! # Index convention
//! Timesteps are **0-based**, as in diffusers and most code: `t` runs over `0..T`, and index `t` here is the
//! paper's step `t + 1`. So `alphas_cumprod[t] = prod_{s <= t} (1 - betas[s])`, the first step's
//! `alphas_cumprod_prev[0]` is 1 (no noise yet), and sampling ends with the step out of `t = 0`.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule, Prediction};
//!
//! let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000)?;
//! let device = Device::flex();
//! let x0 = Tensor::<2>::ones([4, 1], &device);
//! let eps = NoiseRng::new(0).normal([4, 1], &device);
//! // x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, and the eps target a network learns back.
//! let x_t = schedule.q_sample(x0.clone(), &[0, 10, 500, 999], eps.clone());
//! let target = Prediction::Epsilon.target(&schedule, x0, &[0, 10, 500, 999], eps.clone());
//! assert_eq!(target.into_data(), eps.into_data());
//! assert!(schedule.alphas_cumprod()[999] < 1e-4);
//! # let _ = x_t;
//! # Ok::<(), ddpm_core::ScheduleError>(())
//! ```

mod beta;
mod denoiser;
mod error;
mod forward;
mod likelihood;
mod noise;
mod parameters;
mod prediction;
mod tables;
mod variance;

pub use beta::{BetaSchedule, NamedSchedule};
pub use denoiser::Denoiser;
pub use error::ScheduleError;
pub use forward::{Posterior, StepPosterior, per_example};
pub use likelihood::{approx_standard_normal_cdf, bits_per_dim, discretized_gaussian_log_likelihood, normal_kl};
pub use noise::NoiseRng;
pub use parameters::non_finite_parameter;
pub use prediction::Prediction;
pub use tables::NoiseSchedule;
pub use variance::{ModelVariance, Parameterization, learned_range_log_variance};

/// The most diffusion steps T a schedule may have: 100 times the DDPM paper's 1000, and tables that
/// stay a few megabytes. A larger T (a typo, or an edited checkpoint) is refused before any allocation.
pub const MAX_TIMESTEPS: usize = 100_000;
