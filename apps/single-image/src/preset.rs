//! The two experiments `train --preset` names.

use clap::ValueEnum;
use ddpm_core::BetaSchedule;
use ddpm_nets::UNetConfig;
use ddpm_sample::{SamplerConfig, SamplerKind, Spacing};
use ddpm_train::{LrSchedule, TrainConfig};
use serde::{Deserialize, Serialize};

#[derive(ValueEnum, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The reference experiment: 128x128, the improved U-Net (64-128-256, 512 bottleneck), clamped
    /// cosine schedule, AdamW 2e-4, clip 1, cosine LR with T_max 1000, batch 1, 15,000 steps,
    /// DDIM over all 1000 steps with eta 0.
    Reference,
    /// About 8 minutes on a 2-core CPU: 64x64, the improved U-Net at half width (32-64-128, 256
    /// bottleneck), batch 4, AdamW 1e-3 annealed to 0 over 2,000 steps, DDIM-100 with x_0 clipping.
    /// Chosen by measurement (BENCHMARKS.md).
    Quick,
}

impl Preset {
    /// Side of the training image.
    pub fn image_size(self) -> usize {
        match self {
            Self::Reference => 128,
            Self::Quick => 64,
        }
    }

    pub fn network(self, channels: usize, image_size: usize) -> UNetConfig {
        let network = UNetConfig::improved(channels, image_size);
        match self {
            Self::Reference => network,
            Self::Quick => network.with_base_channels(32),
        }
    }

    /// Both presets diffuse with the reference's clamped cosine over T = 1000.
    pub fn schedule(self) -> (BetaSchedule, usize) {
        (BetaSchedule::cosine_clamped(), 1000)
    }

    /// The optimiser settings; AdamW keeps PyTorch's defaults (weight decay 0.01, eps 1e-8) besides the rate.
    pub fn train_config(self) -> TrainConfig {
        let config = TrainConfig::new().with_weight_decay(0.01).with_grad_clip_norm(Some(1.0));
        match self {
            Self::Reference => config
                .with_steps(15_000)
                .with_batch_size(Some(1))
                .with_learning_rate(2e-4)
                .with_lr_schedule(LrSchedule::CosineAnnealing { t_max: 1000, min_lr: 0.0 }),
            // One half cosine over the whole run, so it ends at rate 0 whatever --steps says.
            Self::Quick => config
                .with_steps(2000)
                .with_batch_size(Some(4))
                .with_learning_rate(1e-3)
                .with_lr_schedule(LrSchedule::Cosine { warmup_steps: 0, min_lr: 0.0 }),
        }
    }

    /// How `train` samples at the end, and `sample` by default.
    pub fn sampler(self) -> SamplerConfig {
        let ddim = SamplerConfig::new().with_kind(SamplerKind::Ddim).with_eta(0.0).with_spacing(Spacing::Leading);
        match self {
            Self::Reference => ddim.with_steps(1000),
            Self::Quick => ddim.with_steps(100).with_clip_x0(true),
        }
    }
}
