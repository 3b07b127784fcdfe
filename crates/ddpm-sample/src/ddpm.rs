//! DDPM ancestral sampling (Ho et al. 2020, Algorithm 2).

use std::ops::Range;

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use ddpm_nets::Denoiser;
use ddpm_schedule::{NoiseRng, NoiseSchedule};

/// The variance sigma_t^2 of the noise added at each reverse step. Ho et al. found both give
/// similar results: the two extremes for data that is a point mass or N(0, I).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum VarianceType {
    /// sigma_t^2 = beta_t ("fixed_large" in diffusers).
    Beta,
    /// sigma_t^2 = beta-tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t), the true posterior
    /// variance given x_0 ("fixed_small").
    Posterior,
}

/// What [`DdpmSampler::sample`] returns.
#[derive(Debug, Clone)]
pub struct Sampled<const D: usize> {
    /// x_0, `[B, ...]`.
    pub samples: Tensor<D>,
    /// `(t, x_t)` pairs from x_T down to x_0, when a trajectory was requested; `t = T` labels the
    /// starting noise and `t = 0` the final samples.
    pub trajectory: Vec<(usize, Tensor<D>)>,
}

/// Ancestral sampling: x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z.
#[derive(Debug, Clone)]
pub struct DdpmSampler<'a> {
    schedule: &'a NoiseSchedule,
    variance: VarianceType,
    threads: usize,
}

impl<'a> DdpmSampler<'a> {
    pub fn new(schedule: &'a NoiseSchedule, variance: VarianceType) -> Self {
        Self { schedule, variance, threads: 1 }
    }

    /// Splits the batch into `threads` slices that run the whole reverse chain concurrently, one
    /// OS thread each. Worth it on CPU backends when single ops are too small to use every core
    /// (the toy MLP); the samples are identical for any thread count, because the noise is
    /// counter-based (see [`NoiseRng`]).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The standard deviation sigma_t of the noise added by the step out of (0-based) step `t`.
    pub fn sigma(&self, t: usize) -> f64 {
        match self.variance {
            VarianceType::Beta => self.schedule.betas[t],
            VarianceType::Posterior => self.schedule.posterior_variance[t],
        }
        .sqrt()
    }

    /// The mean of p(x_{t-1} | x_t) for every example at the same step `t`, given the predicted noise.
    ///
    /// Shapes: `x_t`, `noise_pred`: `[B, ...]`; returns `[B, ...]`.
    pub fn step_mean<const D: usize>(&self, x_t: Tensor<D>, t: usize, noise_pred: Tensor<D>) -> Tensor<D> {
        let s = self.schedule;
        let noise_coef = s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t];
        (x_t - noise_pred.mul_scalar(noise_coef)).mul_scalar(s.sqrt_recip_alphas[t])
    }

    /// Runs all T reverse steps from x_T ~ N(0, I) (noise from `rng`) to x_0.
    ///
    /// No noise is added by the last step (t = 0), as in the paper. `trajectory_every = Some(k)` keeps
    /// x_t every `k` steps (plus x_T and x_0); `on_step(done, total)` reports progress.
    pub fn sample<const D: usize, M: Denoiser<D> + Sync>(
        &self,
        model: &M,
        shape: [usize; D],
        rng: &mut NoiseRng,
        device: &Device,
        trajectory_every: Option<usize>,
        on_step: impl FnMut(usize, usize),
    ) -> Sampled<D> {
        // One draw for x_T and one per noisy step, reserved up front so each slice reads its rows.
        let first_draw = rng.reserve_draws(self.schedule.num_steps() as u64);
        let chain = Chain { sampler: self, model, rng: *rng, first_draw, shape, device, trajectory_every };
        let slices = row_slices(shape[0], self.threads);
        let mut parts: Vec<Sampled<D>> = std::thread::scope(|scope| {
            let others: Vec<_> = slices[1..].iter().map(|rows| scope.spawn(|| chain.run(rows.clone(), |_, _| {}))).collect();
            let first = chain.run(slices[0].clone(), on_step);
            std::iter::once(first).chain(others.into_iter().map(|h| h.join().expect("a sampling thread panicked"))).collect()
        });
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let trajectory = (0..parts[0].trajectory.len())
            .map(|i| (parts[0].trajectory[i].0, Tensor::cat(parts.iter().map(|p| p.trajectory[i].1.clone()).collect(), 0)))
            .collect();
        Sampled { samples: Tensor::cat(parts.into_iter().map(|p| p.samples).collect(), 0), trajectory }
    }
}

/// Everything one slice of the batch needs to run the reverse chain.
struct Chain<'s, 'a, M, const D: usize> {
    sampler: &'s DdpmSampler<'a>,
    model: &'s M,
    rng: NoiseRng,
    first_draw: u64,
    shape: [usize; D],
    device: &'s Device,
    trajectory_every: Option<usize>,
}

impl<M: Denoiser<D>, const D: usize> Chain<'_, '_, M, D> {
    fn run(&self, rows: Range<usize>, mut on_step: impl FnMut(usize, usize)) -> Sampled<D> {
        let num_steps = self.sampler.schedule.num_steps();
        let mut shape = self.shape;
        shape[0] = rows.len();
        let noise = |draw: u64| self.rng.normal_rows(self.first_draw + draw, rows.start, shape, self.device);
        let keep = |t: usize| self.trajectory_every.is_some_and(|k| t == num_steps || t == 0 || t % k.max(1) == 0);

        let mut x = noise(0);
        let mut trajectory = Vec::new();
        if keep(num_steps) {
            trajectory.push((num_steps, x.clone()));
        }
        let mut timesteps = vec![0; rows.len()];
        for t in (0..num_steps).rev() {
            timesteps.fill(t);
            let noise_pred = self.model.predict_noise(x.clone(), &timesteps);
            x = self.sampler.step_mean(x, t, noise_pred);
            if t > 0 {
                x = x + noise(t as u64).mul_scalar(self.sampler.sigma(t));
            }
            if keep(t) {
                trajectory.push((t, x.clone()));
            }
            on_step(num_steps - t, num_steps);
        }
        Sampled { samples: x, trajectory }
    }
}

/// `count` contiguous, near-equal, non-empty ranges covering `0..rows` (fewer when rows are few).
fn row_slices(rows: usize, count: usize) -> Vec<Range<usize>> {
    let count = count.clamp(1, rows.max(1));
    (0..count).map(|i| (i * rows / count)..((i + 1) * rows / count)).collect()
}
