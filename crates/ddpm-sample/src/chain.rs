//! The reverse chain shared by every sampler: start from x_T ~ N(0, I) (or a given x_T), then at each
//! visited timestep ask the model for its output, take the sampler's step and add its noise.

use std::ops::Range;

use burn::tensor::{Device, Tensor};
use ddpm_core::{Denoiser, NoiseRng};
use ddpm_exec::{Execution, run_slices};

/// What a [`SamplingChain`] returns.
#[derive(Debug, Clone)]
pub struct Sampled<const D: usize> {
    /// x_0, `[B, ...]`.
    pub samples: Tensor<D>,
    /// `(t, x)` pairs from x_T down to x_0, when a trajectory was requested. `t` is the 0-based timestep
    /// at which the state is given to the model (the starting noise is the input of the first visited
    /// timestep, e.g. T - 1), and `None` for the final samples, which no step takes as input.
    pub trajectory: Vec<(Option<usize>, Tensor<D>)>,
}

/// Where a chain starts: fresh noise x_T ~ N(0, I) of a shape, a given x_T (to compare with another
/// implementation from the same noise, e.g. diffusers' pipelines), or given data diffused part way
/// (img2img). Arrays and tensors convert into it.
#[derive(Debug, Clone)]
pub enum ChainStart<const D: usize> {
    /// x_T drawn from the chain's noise generator, `[B, ...]`.
    Noise([usize; D]),
    /// This x_T, `[B, ...]`. The generator's draw for x_T is still reserved, so the noise of later
    /// (stochastic) steps is the same as from a drawn start.
    Given(Box<Tensor<D>>),
    /// Clean data `[B, ...]` diffused to the noise level `alpha_bar` with the chain's own draw for x_T:
    /// sqrt(abar) x_0 + sqrt(1 - abar) z, q(x_t | x_0) at the first visited timestep (SDEdit's start).
    Diffused { clean: Box<Tensor<D>>, alpha_bar: f64 },
}

impl<const D: usize> ChainStart<D> {
    fn shape(&self) -> [usize; D] {
        match self {
            Self::Noise(shape) => *shape,
            Self::Given(x_t) => x_t.dims(),
            Self::Diffused { clean, .. } => clean.dims(),
        }
    }
}

impl<const D: usize> From<[usize; D]> for ChainStart<D> {
    fn from(shape: [usize; D]) -> Self {
        Self::Noise(shape)
    }
}

impl<const D: usize> From<Tensor<D>> for ChainStart<D> {
    fn from(x_t: Tensor<D>) -> Self {
        Self::Given(Box::new(x_t))
    }
}

/// What one chain's earlier steps leave for its later ones: the x_0 estimates a multistep solver
/// extrapolates from, newest last, each `[B, ...]`. Single-step samplers leave it empty.
pub type StepMemory<const D: usize> = Vec<Tensor<D>>;

/// A sampler as a step rule: which timesteps it visits and what one step does. It knows nothing of
/// the network (it sees only its output) nor of how the batch is run ([`SamplingChain`] runs it).
pub trait Sampler: Sync {
    /// The 0-based timesteps at which the model is evaluated, noisiest first.
    fn timesteps(&self) -> &[usize];

    /// The deterministic part of the step at `timesteps()[position]`, given the model's output there:
    /// the next state before noise. `memory` starts empty for each chain and is the sampler's own.
    ///
    /// Shapes: `x_t`, `output`: `[B, ...]`; returns `[B, ...]`.
    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, memory: &mut StepMemory<D>) -> Tensor<D>;

    /// The standard deviation of the fresh noise that step adds (0 for a deterministic step).
    fn noise_std_at(&self, position: usize) -> f64;

    /// The standard deviations of that noise value by value when the network chose them (a learned
    /// variance, read from its `output` at `x_t`); `None`, the default, adds [`Sampler::noise_std_at`]
    /// to every value. Wrappers of a sampler pass it on.
    ///
    /// Shapes: `x_t`: `[B, ...]`; `output`: the network's; returns `[B, ...]`.
    fn learned_noise_std_at<const D: usize>(&self, position: usize, x_t: &Tensor<D>, output: &Tensor<D>) -> Option<Tensor<D>> {
        let _ = (position, x_t, output);
        None
    }

    /// Runs the chain from `start` to x_0, unconditionally, on the whole batch at once: a
    /// [`SamplingChain`] with the default [`Execution`]; see [`SamplingChain::run`] for the arguments.
    fn sample<const D: usize, M: Denoiser<D>>(
        &self,
        model: &M,
        start: impl Into<ChainStart<D>>,
        rng: &mut NoiseRng,
        device: &Device,
        trajectory_every: Option<usize>,
        on_step: impl FnMut(usize, usize) + Send,
    ) -> Sampled<D>
    where
        Self: Sized,
    {
        SamplingChain::default().with_trajectory_every(trajectory_every).run(self, model, start, None, rng, device, on_step)
    }
}

/// The runner of every sampler's reverse chain: noise, conditioning, trajectory and progress, with the
/// batch cut as its [`Execution`] says (slices at once, chunks one after another). The samples are the
/// same for any cut: the noise is counter-based (see [`NoiseRng`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SamplingChain {
    execution: Execution,
    trajectory_every: Option<usize>,
    first_row: usize,
}

impl SamplingChain {
    /// A chain that cuts its batch as `execution` says, keeping no trajectory.
    pub fn new(execution: Execution) -> Self {
        Self { execution, trajectory_every: None, first_row: 0 }
    }

    /// The batch is rows `first_row ..` of a larger one drawn with the same generator: its noise is
    /// those rows' noise, so shards of a batch run apart (on other machines) give the whole batch's
    /// samples, bit for bit. A given start and the class labels are the shard's own rows.
    pub fn with_first_row(mut self, first_row: usize) -> Self {
        self.first_row = first_row;
        self
    }

    /// `Some(k)` keeps the state every `k` steps (plus x_T and x_0) in [`Sampled::trajectory`].
    pub fn with_trajectory_every(mut self, every: Option<usize>) -> Self {
        self.trajectory_every = every;
        self
    }

    /// Runs `sampler` with `model` from `start` (x_T ~ N(0, I) of a shape, noise from `rng`, or a
    /// given x_T) to x_0.
    ///
    /// `classes`: one label per example (`classes.len()` = the batch) given to the model at every step,
    /// e.g. through [`crate::Guided`] for classifier-free guidance; `None` asks for the unconditional
    /// output. `on_step(done, total)` reports progress (from the first slice of the batch), e.g. to a
    /// progress bar.
    #[allow(clippy::too_many_arguments)]
    pub fn run<S: Sampler, M: Denoiser<D>, const D: usize>(
        &self,
        sampler: &S,
        model: &M,
        start: impl Into<ChainStart<D>>,
        classes: Option<&[usize]>,
        rng: &mut NoiseRng,
        device: &Device,
        on_step: impl FnMut(usize, usize) + Send,
    ) -> Sampled<D> {
        let start = start.into();
        let shape = start.shape();
        if let Some(classes) = classes {
            assert_eq!(classes.len(), shape[0], "one class label per sample");
        }
        // One draw for x_T and one per step, reserved up front so each slice reads its own rows.
        let first_draw = rng.reserve_draws(1 + sampler.timesteps().len() as u64);
        let chain = Chain { sampler, model, classes, rng: *rng, first_draw, start: &start, shape, device, settings: self };
        let slices = self.execution.row_slices(shape[0]);
        let parts = run_slices(slices.len(), || chain.run(slices[0].clone(), on_step), |i| chain.run(slices[i].clone(), |_, _| {}));
        Sampled::concat(parts)
    }
}

impl<const D: usize> Sampled<D> {
    /// Parts of one batch (consecutive rows) joined back into it.
    fn concat(mut parts: Vec<Self>) -> Self {
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let trajectory = (0..parts[0].trajectory.len())
            .map(|i| (parts[0].trajectory[i].0, Tensor::cat(parts.iter().map(|p| p.trajectory[i].1.clone()).collect(), 0)))
            .collect();
        Self { samples: Tensor::cat(parts.into_iter().map(|p| p.samples).collect(), 0), trajectory }
    }
}

/// Everything one slice of the batch needs to run the reverse chain.
struct Chain<'s, S, M, const D: usize> {
    sampler: &'s S,
    model: &'s M,
    classes: Option<&'s [usize]>,
    rng: NoiseRng,
    first_draw: u64,
    start: &'s ChainStart<D>,
    shape: [usize; D],
    device: &'s Device,
    /// The execution and trajectory settings of the [`SamplingChain`] that runs it.
    settings: &'s SamplingChain,
}

impl<S: Sampler, M: Denoiser<D>, const D: usize> Chain<'_, S, M, D> {
    /// The chain for a slice's `rows`, in the chunks its execution cuts, one after another; `on_step`
    /// counts the steps of every chunk.
    fn run(&self, rows: Range<usize>, mut on_step: impl FnMut(usize, usize)) -> Sampled<D> {
        let chunks = self.settings.execution.chunks(rows, self.shape[1..].iter().product());
        let steps = self.sampler.timesteps().len();
        let total = chunks.len() * steps;
        let parts =
            chunks.into_iter().enumerate().map(|(k, chunk)| self.run_rows(chunk, |done, _| on_step(k * steps + done, total))).collect();
        Sampled::concat(parts)
    }

    fn run_rows(&self, rows: Range<usize>, mut on_step: impl FnMut(usize, usize)) -> Sampled<D> {
        let timesteps = self.sampler.timesteps();
        let steps = timesteps.len();
        let mut shape = self.shape;
        shape[0] = rows.len();
        let noise = |draw: u64| self.rng.normal_rows(self.first_draw + draw, self.settings.first_row + rows.start, shape, self.device);
        let keep =
            |done: usize| self.settings.trajectory_every.is_some_and(|k| done == 0 || done == steps || done.is_multiple_of(k.max(1)));
        // The timestep at which the state after `done` steps is given to the model (none for the samples).
        let label = |done: usize| timesteps.get(done).copied();

        let mut x = match self.start {
            ChainStart::Noise(_) => noise(0),
            ChainStart::Given(x_t) => x_t.as_ref().clone().slice(rows.clone()),
            ChainStart::Diffused { clean, alpha_bar } => {
                let clean = clean.as_ref().clone().slice(rows.clone());
                if *alpha_bar >= 1.0 { clean } else { clean.mul_scalar(alpha_bar.sqrt()) + noise(0).mul_scalar((1.0 - alpha_bar).sqrt()) }
            }
        };
        let mut trajectory = Vec::new();
        if keep(0) {
            trajectory.push((label(0), x.clone()));
        }
        let classes = self.classes.map(|classes| &classes[rows.clone()]);
        let mut memory = StepMemory::new();
        let mut batch_timesteps = vec![0; rows.len()];
        for (position, &t) in timesteps.iter().enumerate() {
            batch_timesteps.fill(t);
            let output = self.model.predict(x.clone(), &batch_timesteps, classes);
            let learned_std = self.sampler.learned_noise_std_at(position, &x, &output);
            x = self.sampler.step_mean_at(position, x, output, &mut memory);
            match learned_std {
                Some(std) => x = x + noise(1 + position as u64) * std,
                None => {
                    let std = self.sampler.noise_std_at(position);
                    if std > 0.0 {
                        x = x + noise(1 + position as u64).mul_scalar(std);
                    }
                }
            }
            if keep(position + 1) {
                trajectory.push((label(position + 1), x.clone()));
            }
            on_step(position + 1, steps);
        }
        Sampled { samples: x, trajectory }
    }
}
