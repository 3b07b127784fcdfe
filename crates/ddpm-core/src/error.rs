use thiserror::Error;

/// Why a schedule was rejected. Every variant names the offending value and how to fix it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ScheduleError {
    #[error("the number of diffusion steps T must be at least 1 (got 0); the DDPM paper uses 1000")]
    NoSteps,
    #[error("T = {0} diffusion steps is more than the {max} this toolkit builds tables for; the DDPM paper uses 1000", max = crate::MAX_TIMESTEPS)]
    TooManySteps(usize),
    #[error("beta[{index}] = {value} is not a finite number; check the schedule's parameters")]
    NonFiniteBeta { index: usize, value: f64 },
    #[error(
        "beta[{index}] = {value} is outside (0, 1); every beta must satisfy 0 < beta < 1 \
         (for linear schedules pick 0 < start <= end < 1)"
    )]
    BetaOutOfRange { index: usize, value: f64 },
    #[error(
        "alpha-bar is not strictly decreasing at t = {index} ({previous} -> {value}); \
         it has underflowed to zero: use fewer steps or smaller betas"
    )]
    AlphaBarNotDecreasing { index: usize, previous: f64, value: f64 },
    #[error("invalid schedule parameter: {0}")]
    InvalidParameter(String),
}
