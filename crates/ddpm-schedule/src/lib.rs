//! Noise schedules for denoising diffusion (Ho et al. 2020, "Denoising Diffusion Probabilistic Models").
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

mod beta;
mod error;
mod forward;
mod noise;
mod prediction;
mod slices;
mod tables;

pub use beta::{BetaSchedule, NamedSchedule};
pub use error::ScheduleError;
pub use forward::{Posterior, per_example};
pub use noise::NoiseRng;
pub use prediction::Prediction;
pub use slices::{row_slices, run_slices};
pub use tables::NoiseSchedule;

/// The most diffusion steps T a schedule may have: 100 times the DDPM paper's 1000, and tables that
/// stay a few megabytes. A larger T (a typo, or an edited checkpoint) is refused before any allocation.
pub const MAX_TIMESTEPS: usize = 100_000;
