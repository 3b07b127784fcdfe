//! Samplers: from x_T ~ N(0, I) back to data with a trained denoising network.
//!
//! A sampler is a step rule: it says which timesteps it visits and what one step does ([`Sampler`]),
//! and reads the network's output, whatever it predicts, through an [`Estimator`]. [`SamplingChain`]
//! runs any of them: noise, conditioning, trajectory, progress and how the batch is cut (an
//! `ddpm_exec::Execution`). A sampler never knows the network, which plugs in through
//! `ddpm_core::Denoiser`; this crate does not depend on any network.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use ddpm_core::{BetaSchedule, Denoiser, NoiseRng, NoiseSchedule};
//! use ddpm_sample::{DdimSampler, Sampler, Spacing};
//!
//! /// The exact denoiser of data that is always 0: it predicts eps = x_t / sqrt(1 - abar_t).
//! struct Zero<'a>(&'a NoiseSchedule);
//! impl Denoiser<2> for Zero<'_> {
//!     fn predict(&self, x_t: Tensor<2>, t: &[usize], _: Option<&[usize]>) -> Tensor<2> {
//!         x_t.div_scalar((1.0 - self.0.alphas_cumprod()[t[0]]).sqrt())
//!     }
//! }
//!
//! let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000).unwrap();
//! let sampler = DdimSampler::new(&schedule, 20, Spacing::Trailing);
//! let out = sampler.sample(&Zero(&schedule), [8, 1], &mut NoiseRng::new(0), &Device::flex(), None, |_, _| {});
//! let max = out.samples.abs().max().into_scalar::<f32>();
//! assert!(max < 1e-3, "DDIM lands on the data: {max}");
//! ```

mod bound;
mod chain;
mod choice;
mod ddim;
mod ddpm;
mod diffusers;
mod dpm_solver;
mod edit;
mod error;
mod estimate;
mod guidance;

pub use bound::{BoundParts, BoundPlan, VariationalBound};
pub use chain::{ChainStart, Sampled, Sampler, SamplingChain, StepMemory};
pub use choice::{AnySampler, SamplerConfig, SamplerKind};
pub use ddim::{DdimSampler, Spacing};
pub use ddpm::{DdpmSampler, VarianceType};
pub use diffusers::{DDIM_PIPELINE_STEPS, DiffusersScheduler};
pub use dpm_solver::DpmSolverPlusPlus;
pub use edit::{DdimInversion, JumpMove, Repaint, RepaintConfig, SamplerTail, infer_classes, jump_plan, slerp};
pub use error::SampleError;
pub use estimate::Estimator;
pub use guidance::Guided;
