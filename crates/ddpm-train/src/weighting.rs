use burn::config::Config;
use ddpm_core::{NoiseSchedule, Prediction};

/// Per-example weights of the loss, by timestep: the hook for objectives that rebalance the timesteps.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum LossWeighting {
    /// Every timestep counts the same: the DDPM paper's simplified objective.
    Uniform,
    /// Min-SNR-gamma (Hang et al. 2023): the eps loss weighted by `min(SNR_t, gamma) / SNR_t`, which stops
    /// the nearly clean timesteps from dominating; for the other targets the same objective, i.e.
    /// `min(SNR_t, gamma)` for x_0 and `min(SNR_t, gamma) / (SNR_t + 1)` for v (the paper's eq. 9-11).
    MinSnr { gamma: f64 },
}

impl LossWeighting {
    /// The weight of an example at 0-based timestep `t` whose loss is on `prediction`.
    pub fn weight(&self, schedule: &NoiseSchedule, t: usize, prediction: Prediction) -> f64 {
        match *self {
            Self::Uniform => 1.0,
            Self::MinSnr { gamma } => {
                let snr = schedule.snr()[t];
                snr.min(gamma) / snr * prediction.eps_error_gain(schedule, t)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ddpm_core::BetaSchedule;

    use super::*;

    #[test]
    fn min_snr_has_the_papers_weight_for_each_target() {
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
        let weighting = LossWeighting::MinSnr { gamma: 5.0 };
        for t in [0, 100, 400, 999] {
            let snr = schedule.snr()[t];
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.max(1e-12);
            assert!(close(weighting.weight(&schedule, t, Prediction::Epsilon), snr.min(5.0) / snr), "eps at {t}");
            assert!(close(weighting.weight(&schedule, t, Prediction::Sample), snr.min(5.0)), "x0 at {t}");
            assert!(close(weighting.weight(&schedule, t, Prediction::V), snr.min(5.0) / (snr + 1.0)), "v at {t}");
        }
        assert_eq!(LossWeighting::Uniform.weight(&schedule, 3, Prediction::V), 1.0);
    }
}
