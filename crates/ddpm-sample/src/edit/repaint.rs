//! RePaint (Lugmayr et al. 2022): inpainting with an unconditionally trained denoiser. At every reverse
//! step the pixels to keep are drawn from q(x_{t-1} | x_0) of the given image and the others come from
//! the model's step; so the model only ever sees states of its training distribution. Because the
//! known pixels enter each state independently of the drawn ones, the two halves can disagree; RePaint
//! harmonises them by jumping back: after `jump_length` steps down it diffuses the state that many
//! levels up again with q, and goes down once more, `resamples` times in all.

use std::ops::Range;

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use ddpm_core::{Denoiser, NoiseRng};
use ddpm_exec::{Execution, run_slices};

use crate::ddim::{ddim_mean, ddim_sigma};
use crate::{Estimator, Spacing};

/// The resampling plan of a RePaint chain.
#[derive(Config, Debug, PartialEq)]
pub struct RepaintConfig {
    /// Noise levels of the chain (timesteps picked by the sampler's spacing, as for DDIM); the chain
    /// makes about `steps` x `resamples` model evaluations.
    #[config(default = 20)]
    pub steps: usize,
    /// Levels the chain goes down before each jump back up (the paper's j).
    #[config(default = 5)]
    pub jump_length: usize,
    /// How many times each stretch of `jump_length` levels is gone down (the paper's r; 1 is no jump).
    #[config(default = 3)]
    pub resamples: usize,
    /// The noise of each model step, as DDIM's eta: 1 is DDPM's posterior (the paper's), 0 deterministic
    /// (diffusers' default); the known pixels and the jumps up are noised either way.
    #[config(default = 1.0)]
    pub eta: f64,
}

/// One move of a RePaint chain between its noise levels `0..steps` (0 the least noisy; below it the
/// clean image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JumpMove {
    /// Evaluate the model at level k and step the state from level k down to k - 1 (the clean image
    /// from level 0).
    Denoise(usize),
    /// Diffuse the state from level k - 1 (the clean image for k = 0) up to level k with q.
    Renoise(usize),
}

/// RePaint's schedule of moves for `steps` levels, jumping back `jump_length` levels `resamples - 1`
/// times at every multiple of `jump_length` below `steps - jump_length`: the authors'
/// `get_schedule_jump` as diffusers' `RePaintScheduler.set_timesteps` writes it. (diffusers lists a
/// jump up to level k as timestep k + 1, the step whose input it becomes.)
///
/// # Panics
/// When `steps`, `jump_length` or `resamples` is 0.
pub fn jump_plan(steps: usize, jump_length: usize, resamples: usize) -> Vec<JumpMove> {
    assert!(steps > 0 && jump_length > 0 && resamples > 0, "steps, jump length and resamples must be at least 1");
    let mut jumps_left: Vec<usize> = vec![0; steps];
    for level in (0..steps.saturating_sub(jump_length)).step_by(jump_length) {
        jumps_left[level] = resamples - 1;
    }
    let (mut moves, mut level) = (Vec::new(), steps);
    while level >= 1 {
        level -= 1;
        moves.push(JumpMove::Denoise(level));
        if jumps_left[level] > 0 {
            jumps_left[level] -= 1;
            for _ in 0..jump_length {
                moves.push(JumpMove::Renoise(level));
                level += 1;
            }
        }
    }
    moves
}

/// A RePaint chain: its plan on a network's schedule.
#[derive(Debug, Clone)]
pub struct Repaint<'a> {
    estimator: Estimator<'a>,
    /// The timestep of each level, least noisy first.
    levels: Vec<usize>,
    moves: Vec<JumpMove>,
    eta: f64,
}

impl<'a> Repaint<'a> {
    /// The chain `config` plans, for a network read through `estimator`, its levels picked by `spacing`.
    ///
    /// # Panics
    /// When `config.steps` is 0 or above T, or the jump length or resamples 0.
    pub fn new(estimator: Estimator<'a>, config: &RepaintConfig, spacing: Spacing) -> Self {
        let mut levels = spacing.timesteps(estimator.schedule().num_steps(), config.steps);
        levels.reverse();
        Self { estimator, levels, moves: jump_plan(config.steps, config.jump_length, config.resamples), eta: config.eta }
    }

    pub fn moves(&self) -> &[JumpMove] {
        &self.moves
    }

    /// How many times the chain evaluates the model.
    pub fn model_evaluations(&self) -> usize {
        self.moves.iter().filter(|m| matches!(m, JumpMove::Denoise(_))).count()
    }

    /// abar at `level`, 1 (the clean image) below level 0.
    fn alpha_bar(&self, level: Option<usize>) -> f64 {
        level.map_or(1.0, |k| self.estimator.schedule().alphas_cumprod()[self.levels[k]])
    }

    /// Fills the pixels where `mask` is 0 of the images `known`, keeping those where it is 1 exactly.
    ///
    /// Shapes: `known`, `mask` (values 0 or 1): `[B, ...]`; `classes` one label per image or `None`;
    /// returns `[B, ...]`. The noise comes from `rng` row by row, so any `execution` gives the same
    /// images. `on_step(done, total)` counts the moves of the first slice.
    #[allow(clippy::too_many_arguments)]
    pub fn run<M: Denoiser<D>, const D: usize>(
        &self,
        model: &M,
        known: Tensor<D>,
        mask: Tensor<D>,
        classes: Option<&[usize]>,
        rng: &mut NoiseRng,
        execution: Execution,
        on_step: impl FnMut(usize, usize) + Send,
    ) -> Tensor<D> {
        let shape = known.dims();
        assert_eq!(mask.dims(), shape, "one mask value per pixel");
        // x_T, then two draws per move (the model step's noise, the known pixels' noise).
        let first_draw = rng.reserve_draws(1 + 2 * self.moves.len() as u64);
        let run = Rows { repaint: self, model, known: &known, mask: &mask, classes, rng: *rng, first_draw, execution };
        let slices = execution.row_slices(shape[0]);
        let parts = run_slices(slices.len(), || run.slice(slices[0].clone(), on_step), |i| run.slice(slices[i].clone(), |_, _| {}));
        Tensor::cat(parts, 0)
    }
}

/// Everything one slice of a RePaint batch needs.
struct Rows<'r, M, const D: usize> {
    repaint: &'r Repaint<'r>,
    model: &'r M,
    known: &'r Tensor<D>,
    mask: &'r Tensor<D>,
    classes: Option<&'r [usize]>,
    rng: NoiseRng,
    first_draw: u64,
    execution: Execution,
}

impl<M: Denoiser<D>, const D: usize> Rows<'_, M, D> {
    /// The rows of one slice, in the chunks its execution cuts.
    fn slice(&self, rows: Range<usize>, mut on_step: impl FnMut(usize, usize)) -> Tensor<D> {
        let shape = self.known.dims();
        let chunks = self.execution.chunks(rows, shape[1..].iter().product());
        let moves = self.repaint.moves.len();
        let total = chunks.len() * moves;
        let parts = chunks.into_iter().enumerate().map(|(k, chunk)| self.chunk(chunk, |done| on_step(k * moves + done, total))).collect();
        Tensor::cat(parts, 0)
    }

    fn chunk(&self, rows: Range<usize>, mut on_step: impl FnMut(usize)) -> Tensor<D> {
        let repaint = self.repaint;
        let mut shape = self.known.dims();
        shape[0] = rows.len();
        let device: Device = self.known.device();
        let noise = |draw: u64| self.rng.normal_rows(self.first_draw + draw, rows.start, shape, &device);
        let known = self.known.clone().slice(rows.clone());
        let mask = self.mask.clone().slice(rows.clone());
        let unknown_mask = mask.clone().neg().add_scalar(1.0);
        let classes = self.classes.map(|c| &c[rows.clone()]);
        let below = |level: usize| level.checked_sub(1);

        let mut x = noise(0);
        for (i, &step) in repaint.moves.iter().enumerate() {
            let draw = 1 + 2 * i as u64;
            x = match step {
                JumpMove::Denoise(level) => {
                    let timesteps = vec![repaint.levels[level]; rows.len()];
                    let (abar, abar_prev) = (repaint.alpha_bar(Some(level)), repaint.alpha_bar(below(level)));
                    let output = self.model.predict(x.clone(), &timesteps, classes);
                    let x0 = repaint.estimator.x0(x.clone(), &timesteps, output.clone());
                    let eps = repaint.estimator.eps(x, &timesteps, output);
                    // DDIM's step between the two levels (eta 1: the DDPM posterior); no noise onto the image.
                    let sigma = ddim_sigma(repaint.eta, abar, abar_prev);
                    let mut drawn = ddim_mean(x0, eps, abar_prev, sigma);
                    if sigma > 0.0 {
                        drawn = drawn + noise(draw).mul_scalar(sigma);
                    }
                    let kept = diffuse(known.clone(), abar_prev, || noise(draw + 1));
                    kept * mask.clone() + drawn * unknown_mask.clone()
                }
                JumpMove::Renoise(level) => {
                    let ratio = repaint.alpha_bar(Some(level)) / repaint.alpha_bar(below(level));
                    diffuse(x, ratio, || noise(draw))
                }
            };
            on_step(i + 1);
        }
        x
    }
}

/// x diffused by a forward factor `alpha_bar`: sqrt(abar) x + sqrt(1 - abar) z; x itself when abar is 1.
fn diffuse<const D: usize>(x: Tensor<D>, alpha_bar: f64, noise: impl FnOnce() -> Tensor<D>) -> Tensor<D> {
    if alpha_bar >= 1.0 { x } else { x.mul_scalar(alpha_bar.sqrt()) + noise().mul_scalar((1.0 - alpha_bar).sqrt()) }
}
