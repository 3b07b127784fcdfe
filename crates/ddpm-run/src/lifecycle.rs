//! The image-run lifecycle both image apps stand on: a new run or a resumed one, `fit` with the app's
//! hooks and a progress bar, checkpoints, the loss curve and the closing report; and sampling a run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use burn::tensor::{Device, Tensor};
use ddpm_core::{NoiseRng, NoiseSchedule};
use ddpm_exec::Execution;
use ddpm_nets::{ImageDenoiser, ImageNetwork};
use ddpm_sample::{ChainStart, Guided, Sampled, SamplerConfig, SamplingChain};
use ddpm_train::{Batch, FitEnd, FitHooks, FitPlan, LossHistory, TrainConfig, Trainer, ensure_new_run_dir, fit, logged_losses};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::advice::train_error;
use crate::{
    Experiment, LoadedRun, RunDescription, RunLock, Shard, TrainRunArgs, WithProgressBar, sample_with_progress, stop_on_ctrl_c, train_flags,
};

/// How a `train` command starts.
#[expect(clippy::large_enum_variant, reason = "made once per command and moved once")]
pub enum RunStart<E> {
    /// A new run with this description and training config.
    New { run: RunDescription<E>, train: TrainConfig },
    /// The run in the output folder, continued with its own settings.
    Resume,
}

/// A training run about to start or continue: its settings, checked, and its folder.
pub struct ImageRun<E> {
    out: PathBuf,
    description: RunDescription<E>,
    config: TrainConfig,
    schedule: NoiseSchedule,
    resumed: bool,
    first_step: usize,
    time_limit: Option<Duration>,
    checkpoint_every: usize,
    /// Held while this run may write its folder.
    _lock: RunLock,
}

/// What [`ImageRun::train`] leaves: the trainer at its last step and how this session went.
pub struct TrainedRun<N> {
    pub trainer: Trainer<N>,
    /// This session's losses.
    pub history: LossHistory,
    pub end: FitEnd,
    /// Steps taken in this session, and how long they took.
    pub steps: usize,
    pub seconds: f64,
}

impl<E: Serialize + DeserializeOwned + Experiment> ImageRun<E> {
    /// Checks everything before any work: for a new run, that `out` holds no run yet and that the
    /// network and training settings can work; for a resumed one, that `out` holds a run of `app`. Then
    /// locks `out` for this process (see [`RunLock`]): another `train` writing it is refused.
    /// `--steps` replaces the step count either way; `checkpoint_every` is the app's default.
    pub fn open(app: &str, start: RunStart<E>, out: &Path, args: &TrainRunArgs, checkpoint_every: usize) -> anyhow::Result<Self> {
        let (description, mut config, resumed, first_step) = match start {
            RunStart::New { mut run, train } => {
                ensure_new_run_dir(out).map_err(train_error)?;
                run.train_flags = train_flags::this_command().map(|command| command.values.clone());
                (run, train, false, 0)
            }
            RunStart::Resume => {
                let loaded = LoadedRun::<E>::open(app, out).context("--resume needs the --out folder of an earlier run")?;
                if let Some(command) = train_flags::this_command() {
                    train_flags::check_resume(command, loaded.state.run.train_flags.as_ref()).map_err(anyhow::Error::msg)?;
                }
                (loaded.state.run, loaded.state.train, true, loaded.state.step)
            }
        };
        if let Some(steps) = args.steps {
            config.steps = steps;
        }
        config.log_every = args.log_every;
        description.validate().map_err(anyhow::Error::msg)?;
        config.validate().map_err(train_error)?;
        anyhow::ensure!(config.batch_size.is_some_and(|b| b > 0), "the batch size must be at least 1");
        let time_limit = args
            .minutes
            .map(|minutes| {
                Duration::try_from_secs_f64(minutes * 60.0)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| anyhow::anyhow!("--minutes must be a positive number of minutes (got {minutes:?})"))
            })
            .transpose()?;
        let checkpoint_every = args.checkpoint_every.unwrap_or(checkpoint_every);
        anyhow::ensure!(checkpoint_every > 0, "--checkpoint-every must be at least 1");
        let schedule = description.noise_schedule()?;
        // Last, so that a refused command leaves no folder behind.
        let lock = RunLock::acquire(out)?;
        if !resumed {
            // Another train may have made its first checkpoint here since the check above.
            ensure_new_run_dir(out).map_err(train_error)?;
        }
        Ok(Self { out: out.to_path_buf(), description, config, schedule, resumed, first_step, time_limit, checkpoint_every, _lock: lock })
    }

    pub fn description(&self) -> &RunDescription<E> {
        &self.description
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Whether this continues an earlier run.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// The optimiser step training starts from: 0, or the checkpoint's when resumed.
    pub fn first_step(&self) -> usize {
        self.first_step
    }

    /// The examples in each step's batch.
    pub fn batch_size(&self) -> usize {
        self.config.batch_size.expect("open() checked the batch size")
    }

    /// The network with its initial weights, seeded by the run's seed, on the autodiff `device`. `N`
    /// must be the run's kind of network (see [`ddpm_nets::NetworkConfig`]).
    pub fn init_model<N: ImageNetwork>(&self, device: &Device) -> anyhow::Result<N> {
        device.seed(self.description.seed);
        N::init_from(&self.description.network, device).map_err(anyhow::Error::msg)
    }

    /// Trains `model` (from [`ImageRun::init_model`]) on `next_batch()`'s clean batches (labelled ones for
    /// a class-conditional run) until the
    /// steps are done, the time limit passes or Ctrl-C, writing checkpoints, `metrics.jsonl` and
    /// `loss.png` into the run folder and printing how it went. `execution` is
    /// [`crate::BackendArgs::execution`].
    pub fn train<N: ImageNetwork, B: Into<Batch<4>>>(
        &self,
        model: N,
        next_batch: impl FnMut() -> B,
        hooks: &mut impl FitHooks<N>,
        execution: Execution,
    ) -> anyhow::Result<TrainedRun<N>> {
        let app = &self.description.app;
        let mut trainer = Trainer::new(model, &self.schedule, &self.config).map_err(train_error)?.with_execution(execution);
        if self.resumed {
            trainer = trainer.resume(&self.out).map_err(train_error)?;
            println!("{app}: resuming {} at step {} of {}", self.out.display(), trainer.step_count(), self.config.steps);
        }
        std::fs::create_dir_all(&self.out).with_context(|| format!("cannot create {}", self.out.display()))?;
        let plan = FitPlan {
            time_limit: self.time_limit,
            run_dir: Some(self.out.clone()),
            checkpoint_every: Some(self.checkpoint_every),
            run: &self.description,
            stop: Some(stop_on_ctrl_c()?),
            batch_size: self.batch_size(),
        };
        let first_step = trainer.step_count();
        let started = Instant::now();
        let mut hooks = WithProgressBar::new(first_step, self.config.steps, hooks);
        let fitted = fit(&mut trainer, next_batch, &plan, &mut hooks);
        crate::training_over();
        let (history, end) = fitted.map_err(train_error)?;
        hooks.finish();
        let trained =
            TrainedRun { steps: trainer.step_count() - first_step, seconds: started.elapsed().as_secs_f64(), trainer, history, end };
        let losses = logged_losses(&self.out);
        if !losses.is_empty() {
            ddpm_data::plot::loss_curve(&self.out.join("loss.png"), &format!("{app}: training loss"), &losses, 50)?;
        }
        self.report(&trained);
        Ok(trained)
    }

    /// The closing lines: how the run ended, its speed and loss, and how to continue it.
    fn report<N>(&self, trained: &TrainedRun<N>) {
        let app = &self.description.app;
        let (steps, seconds) = (trained.steps, trained.seconds.max(1e-9));
        let planned = trained.trainer.config().steps;
        let fitted = if self.time_limit.is_some() && planned < self.config.steps { " (the plan laid over --minutes)" } else { "" };
        println!("{app}: {} at step {} of {planned}{fitted}", trained.end.describe(), trained.trainer.step_count());
        let images_per_second = (steps * self.batch_size()) as f64 / seconds;
        println!("  {steps} steps in {seconds:.0} s ({:.3} s/step, {images_per_second:.1} images/s)", seconds / steps.max(1) as f64);
        if let Some(loss) = trained.history.recent_mean(100) {
            println!("  loss (mean of the last 100 steps) {loss:.4}");
        }
        if trained.end != FitEnd::Finished {
            println!("  continue with: {app} train --resume --out {}", self.out.display());
        }
    }
}

/// What one sampling run is asked to do.
#[derive(Debug, Clone)]
pub struct SampleRequest<'a> {
    pub sampler: &'a SamplerConfig,
    pub n: usize,
    pub seed: u64,
    /// How the batch is cut ([`crate::BackendArgs::execution`]).
    pub execution: Execution,
    /// Keep the chain's state every this many steps (see [`SamplingChain::with_trajectory_every`]).
    pub trajectory_every: Option<usize>,
    /// Draw a progress bar.
    pub progress: bool,
    /// Class labels, one per sample, for a class-conditional network, with the guidance scale.
    pub classes: Option<(&'a [usize], f64)>,
    /// The x_T to start from (`sample --init-noise`), `[n, channels, size, size]`; `None` draws it.
    pub init_noise: Option<&'a Tensor<4>>,
    /// Which of the `n` samples to draw ([`Shard::WHOLE`]: all); `classes` and `init_noise` still hold all `n`.
    pub shard: Shard,
}

/// Samples `request.n` images (the rows of them that `request.shard` holds) of the run `run` describes
/// from `model`, with the run's schedule and prediction target. The samples are in the run's data range,
/// `[rows, channels, size, size]`; samples
/// holding a NaN or an infinity are an error, so that no caller writes them as a result.
pub fn sample_images<E>(
    model: &impl ImageDenoiser,
    run: &RunDescription<E>,
    request: &SampleRequest,
    device: &Device,
) -> anyhow::Result<Sampled<4>> {
    anyhow::ensure!(request.n > 0, "the number of samples must be at least 1 (--n)");
    let schedule = run.noise_schedule()?;
    let sampler = request.sampler.init(&schedule, run.parameterization()).map_err(|e| anyhow::anyhow!("{e} (--steps, --eta)"))?;
    let rows = request.shard.rows(request.n);
    anyhow::ensure!(
        !rows.is_empty(),
        "shard {} of {} samples holds none: use at most {} shards (--shard) or more samples (--n)",
        request.shard,
        request.n,
        request.n
    );
    let chain = SamplingChain::new(request.execution).with_trajectory_every(request.trajectory_every).with_first_row(rows.start);
    let (shape, mut rng) = (run.batch_shape(request.n), NoiseRng::new(request.seed));
    let start = match request.init_noise {
        Some(x_t) if x_t.dims() != shape => {
            anyhow::bail!("the initial noise is {:?}, but {} samples of this model are {shape:?}", x_t.dims(), request.n)
        }
        Some(x_t) => ChainStart::Given(Box::new(x_t.clone().slice(rows.clone()))),
        None => ChainStart::Noise(run.batch_shape(rows.len())),
    };
    let (classes, scale) = request.classes.map_or((None, 1.0), |(classes, scale)| (Some(classes), scale));
    if let Some(classes) = classes {
        let known = model
            .classes()
            .ok_or_else(|| anyhow::anyhow!("this run was trained unconditionally: it cannot sample a class (train with --conditional)"))?;
        anyhow::ensure!(classes.len() == request.n, "one class per sample: {} classes for {} samples", classes.len(), request.n);
        if let Some(bad) = classes.iter().find(|&&c| c >= known) {
            anyhow::bail!("class {bad} is out of range: this run knows classes 0 to {}", known - 1);
        }
    }
    let classes = classes.map(|classes| &classes[rows]);
    let guided = Guided::new(model, scale, model.classes().unwrap_or(0));
    let sampled = if request.progress {
        sample_with_progress("sampling", &chain, &sampler, &guided, start, classes, &mut rng, device)
    } else {
        chain.run(&sampler, &guided, start, classes, &mut rng, device, |_, _| {})
    };
    let non_finite = sampled.samples.clone().is_finite().bool_not().int().sum().into_scalar::<i64>();
    anyhow::ensure!(
        non_finite == 0,
        "{non_finite} of the {} sample values are NaN or infinite: the network's predictions overflowed \
         (weights far from any trained model, or an --init-noise of huge values); nothing was written",
        sampled.samples.shape().num_elements()
    );
    Ok(sampled)
}

/// Prints the network's layers and parameter count (`train --print-model`).
pub fn print_model(model: &impl ImageNetwork) {
    println!("{model}");
    println!("parameters: {}", model.num_params());
}
