//! One optimiser step of the DDPM objective (for any prediction target), and the state a run carries between steps.

use std::ops::Range;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use ddpm_core::{Denoiser, NoiseRng, NoiseSchedule, per_example};
use ddpm_exec::Execution;

use crate::slices::sliced_gradients;
use crate::{TrainConfig, TrainError, clip_global_norm, ema_update, vlb_loss};

/// One training batch: clean examples, and their class labels when the run is class-conditional.
#[derive(Debug, Clone)]
pub struct Batch<const D: usize> {
    /// `[B, ...]`.
    pub x0: Tensor<D>,
    /// `B` labels below the conditioning's class count.
    pub classes: Option<Vec<usize>>,
}

impl<const D: usize> From<Tensor<D>> for Batch<D> {
    /// An unlabelled batch.
    fn from(x0: Tensor<D>) -> Self {
        Self { x0, classes: None }
    }
}

/// A model being trained: its weights, their moving average, the optimiser's moments, the noise
/// stream and the step count. Everything a checkpoint must hold to resume exactly.
pub struct Trainer<M> {
    /// The online weights, on the autodiff device.
    pub model: M,
    /// The moving average of the weights (on the plain device), when the config asks for one.
    pub ema: Option<M>,
    pub(crate) optimizer: ModuleOptimizer,
    pub(crate) rng: NoiseRng,
    pub(crate) step: usize,
    pub(crate) config: TrainConfig,
    pub(crate) schedule: NoiseSchedule,
    /// How each batch is cut into slices whose forward and backward passes run at the same time
    /// (see [`Trainer::with_execution`]).
    execution: Execution,
}

impl<M> Trainer<M> {
    /// Optimiser steps taken so far (the 0-based index of the next one).
    pub fn step_count(&self) -> usize {
        self.step
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The learning rate of the next step.
    pub fn learning_rate(&self) -> f64 {
        self.config.lr_schedule.at(self.step, self.config.steps, self.config.learning_rate)
    }
}

impl<M: Module> Trainer<M> {
    /// Starts training `model`, which must live on an autodiff device (`Device::autodiff()`); the
    /// batches given to [`Trainer::step`] must be on the same device.
    pub fn new(model: M, schedule: &NoiseSchedule, config: &TrainConfig) -> Result<Self, TrainError> {
        config.validate()?;
        let optimizer = AdamWConfig::new().with_weight_decay(config.weight_decay as f32).with_epsilon(config.adam_epsilon as f32).init();
        let ema = config.ema.as_ref().map(|_| model.clone().valid());
        Ok(Self {
            model,
            ema,
            optimizer,
            rng: NoiseRng::new(config.seed),
            step: 0,
            config: config.clone(),
            schedule: schedule.clone(),
            execution: Execution::default(),
        })
    }

    /// Runs each step's forward and backward passes as the slices of the batch `execution` cuts, at the
    /// same time, one thread each, and sums their gradients: the same step up to rounding, but it keeps
    /// every core of a CPU busy where Burn's own per-op threading leaves them idle. The default is one
    /// slice (a GPU); batches smaller than the slice count use one slice per example.
    pub fn with_execution(mut self, execution: Execution) -> Self {
        self.execution = execution;
        self
    }

    /// The weights to sample from, on the plain device: the EMA when there is one.
    pub fn sampling_model(&self) -> M {
        self.ema.clone().unwrap_or_else(|| self.model.clone().valid())
    }

    /// Takes one step on a clean batch (`[B, ...]`, on the autodiff device; with class labels for a
    /// conditional run) and returns its loss (`[1]`, still on the device: reading it back would cost a
    /// sync per step).
    ///
    /// Draws t ~ U{0..T-1} and eps ~ N(0, I) per example from the trainer's seeded stream, forms
    /// x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, and minimises the (weighted) mean of
    /// (f_theta(x_t, t, c) - target)^2, the target being eps, x_0 or v as the config's `prediction` says
    /// (plus [`crate::vlb_loss`] when the network learns its variance); then clips, steps AdamW and
    /// updates the EMA. With [`TrainConfig::conditioning`], each label c is
    /// replaced by the null class with its drop probability (from the same stream). With
    /// [`Trainer::with_execution`], the slices' gradients are summed before the clipping.
    pub fn step<const D: usize>(&mut self, batch: impl Into<Batch<D>>) -> Tensor<1>
    where
        M: Denoiser<D>,
    {
        let Batch { x0, classes } = batch.into();
        let device = x0.device();
        let batch = x0.dims()[0];
        let timesteps = self.rng.uniform_indices(batch, self.schedule.num_steps());
        let noise_draw = self.rng.next_draw();
        let classes = self.config.conditioning.as_ref().map(|conditioning| {
            let labels = classes.as_deref().expect("a class-conditional run needs a label per example");
            assert_eq!(labels.len(), batch, "one class label per example");
            let keep = self.rng.uniform_vec(batch);
            labels
                .iter()
                .zip(keep)
                .map(|(&c, u)| if (u as f64) < conditioning.drop_probability { conditioning.classes } else { c })
                .collect::<Vec<_>>()
        });
        let (prediction, variance) = (self.config.prediction, self.config.variance);
        let weights: Option<Vec<f64>> = match self.config.loss_weighting {
            crate::LossWeighting::Uniform => None,
            weighting => Some(timesteps.iter().map(|&t| weighting.weight(&self.schedule, t, prediction)).collect()),
        };
        // The (weighted) mean over the examples in `range`, times their share of the batch. Each slice
        // draws its own rows of the noise and noises its own examples, on its own thread.
        let (rng, schedule) = (self.rng, &self.schedule);
        let loss_of = |model: &M, range: Range<usize>| {
            let x0 = if range.len() == batch { x0.clone() } else { x0.clone().narrow(0, range.start, range.len()) };
            let noise = rng.normal_rows(noise_draw, range.start, x0.dims(), &device);
            let steps = &timesteps[range.clone()];
            let x_t = schedule.q_sample(x0.clone(), steps, noise.clone());
            let target = prediction.target(schedule, x0.clone(), steps, noise);
            let labels = classes.as_ref().map(|c| &c[range.clone()]);
            let (output, variance_values) = variance.split(model.predict(x_t.clone(), steps, labels), x0.dims()[1]);
            let squared_error = (output.clone() - target).square();
            let simple = match &weights {
                None => squared_error.mean(),
                Some(weights) => (squared_error * per_example::<D>(&weights[range.clone()], &device)).mean(),
            };
            let loss = match variance_values {
                None => simple,
                Some(values) => simple + vlb_loss(schedule, prediction, x0, x_t, steps, output, values),
            };
            if range.len() == batch { loss } else { loss.mul_scalar(range.len() as f64 / batch as f64) }
        };

        let learning_rate = self.learning_rate();
        let ranges = self.execution.row_slices(batch);
        let (loss, mut grads) = if ranges.len() == 1 {
            let loss = loss_of(&self.model, 0..batch);
            (loss.clone().detach(), GradientsParams::from_grads(loss.backward(), &self.model))
        } else {
            sliced_gradients(&self.model, &device, ranges, loss_of)
        };
        if let Some(max_norm) = self.config.grad_clip_norm {
            grads = clip_global_norm(grads, &self.model, max_norm).0;
        }
        self.model = self.optimizer.step(learning_rate, self.model.clone(), grads);
        if let (Some(ema), Some(config)) = (self.ema.take(), &self.config.ema) {
            self.ema = Some(ema_update(ema, &self.model, config.decay_at(self.step)));
        }
        self.step += 1;
        loss
    }
}
