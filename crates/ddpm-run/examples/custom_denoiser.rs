//! Plug your own denoiser into the samplers: anything that implements `ddpm_core::Denoiser` samples with
//! every sampler, as a trained network does. Here it is the exact noise predictor of Gaussian data
//! N(mu, s^2), so DPM-Solver++(2M) in 10 steps should draw from N(mu, s^2) itself.
//!
//! ```text
//! cargo run --example custom_denoiser
//! ```

use burn::tensor::{Device, Tensor};
use ddpm_core::{BetaSchedule, Denoiser, NoiseRng, NoiseSchedule, Prediction};
use ddpm_sample::{DpmSolverPlusPlus, Estimator, Sampler, Spacing};

/// The Bayes-optimal eps for data N(mu, s^2): with abar = alpha-bar_t, x_t ~ N(sqrt(abar) mu, abar s^2 + 1 - abar),
/// and E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar).
struct GaussianOracle<'a> {
    schedule: &'a NoiseSchedule,
    mean: f64,
    std: f64,
}

impl Denoiser<2> for GaussianOracle<'_> {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], _classes: Option<&[usize]>) -> Tensor<2> {
        let abar = self.schedule.alphas_cumprod()[timesteps[0]]; // the samplers give one step per batch
        let variance = abar * self.std * self.std + 1.0 - abar;
        x_t.sub_scalar(abar.sqrt() * self.mean).mul_scalar((1.0 - abar).sqrt() / variance)
    }
}

fn main() -> anyhow::Result<()> {
    let device = Device::flex();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000)?;
    let oracle = GaussianOracle { schedule: &schedule, mean: 3.0, std: 2.0 };
    let solver = DpmSolverPlusPlus::new(Estimator::new(&schedule, Prediction::Epsilon), 2, 10, Spacing::Trailing);
    let sampled = solver.sample(&oracle, [4000, 1], &mut NoiseRng::new(0), &device, None, |_, _| {});
    let (mean, std) = ddpm_data::mean_std(&sampled.samples.into_data().try_to_vec::<f32>()?);
    println!("DPM-Solver++(2M)-10 with the oracle: mean {mean:.3} (3), std {std:.3} (2)");
    Ok(())
}
