use burn::config::Config;
use ddpm_schedule::NoiseSchedule;

/// Per-example weights of the noise-prediction loss, by timestep: the hook for objectives that
/// rebalance the timesteps.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum LossWeighting {
    /// Every timestep counts the same: the DDPM paper's simplified objective.
    Uniform,
    /// Min-SNR-gamma (Hang et al. 2023): weight `min(SNR_t, gamma) / SNR_t` for noise prediction,
    /// which stops the nearly clean timesteps from dominating.
    MinSnr { gamma: f64 },
}

impl LossWeighting {
    /// The weight of an example at 0-based timestep `t`.
    pub fn weight(&self, schedule: &NoiseSchedule, t: usize) -> f64 {
        match *self {
            Self::Uniform => 1.0,
            Self::MinSnr { gamma } => {
                let snr = schedule.snr[t];
                snr.min(gamma) / snr
            }
        }
    }
}
