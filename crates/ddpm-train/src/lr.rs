use burn::config::Config;

/// How the learning rate moves over a run.
#[derive(Config, Debug, PartialEq)]
pub enum LrSchedule {
    /// The peak rate throughout.
    Constant,
    /// Linear warm-up over `warmup_steps`, then a half cosine from the peak down to `min_lr` at the
    /// last step (Loshchilov & Hutter's annealing without restarts).
    Cosine { warmup_steps: usize, min_lr: f64 },
    /// PyTorch's `CosineAnnealingLR(T_max = t_max, eta_min = min_lr)`, independent of the run's length:
    /// a half cosine from the peak down to `min_lr` over `t_max` steps, back up over the next `t_max`,
    /// and so on. The single-image reference uses it with `t_max` = 1000 over 15,000 steps.
    CosineAnnealing { t_max: usize, min_lr: f64 },
}

impl LrSchedule {
    /// The learning rate for 0-based `step` of a `total_steps` run peaking at `peak`.
    pub fn at(&self, step: usize, total_steps: usize, peak: f64) -> f64 {
        match *self {
            Self::Constant => peak,
            Self::Cosine { warmup_steps, min_lr } => {
                if step < warmup_steps {
                    return peak * (step + 1) as f64 / warmup_steps as f64;
                }
                let decay_steps = total_steps.saturating_sub(warmup_steps).max(1);
                let progress = (step - warmup_steps) as f64 / decay_steps as f64;
                half_cosine(peak, min_lr, progress)
            }
            Self::CosineAnnealing { t_max, min_lr } => half_cosine(peak, min_lr, step as f64 / t_max.max(1) as f64),
        }
    }
}

/// `min + (peak - min) (1 + cos(pi progress)) / 2`: the peak at progress 0, `min` at 1, the peak again at 2.
fn half_cosine(peak: f64, min: f64, progress: f64) -> f64 {
    min + 0.5 * (peak - min) * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_annealing_follows_pytorch() {
        // torch.optim.lr_scheduler.CosineAnnealingLR(AdamW(lr=2e-4), T_max=1000), stepped once per
        // optimiser step: 2e-4 at 0, 1e-4 at 500, 0 at 1000, 1e-4 at 1500, 2e-4 at 2000; 0 at 15,000.
        let schedule = LrSchedule::CosineAnnealing { t_max: 1000, min_lr: 0.0 };
        let expected = [(0, 2e-4), (500, 1e-4), (1000, 0.0), (1500, 1e-4), (2000, 2e-4), (15_000, 0.0)];
        for (step, lr) in expected {
            assert!((schedule.at(step, 15_000, 2e-4) - lr).abs() < 1e-12, "step {step}");
        }
        // PyTorch's recursive form at step 250 (computed in double precision):
        // 2e-4 * (1 + cos(pi / 4)) / 2 = 1.7071067811865476e-4.
        assert!((schedule.at(250, 15_000, 2e-4) - 1.707_106_781_186_547_6e-4).abs() < 1e-15);
    }
}
