use burn::config::Config;

/// How the learning rate moves over a run.
#[derive(Config, Debug, PartialEq)]
pub enum LrSchedule {
    /// The peak rate throughout.
    Constant,
    /// Linear warm-up over `warmup_steps`, then a half cosine from the peak down to `min_lr` at the
    /// last step (Loshchilov & Hutter's annealing without restarts).
    Cosine { warmup_steps: usize, min_lr: f64 },
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
                min_lr + 0.5 * (peak - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}
