//! `mnist-train train`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_data::{MnistSplit, ShuffledBatches};
use ddpm_eval::{Evaluator, Report};
use ddpm_nets::{ImageNetwork, ImageNetworkTask};
use ddpm_run::{Execution, ImageRun, RunStart, SampleGrids, print_model};
use ddpm_sample::{SamplerConfig, SamplerKind, Spacing};
use ddpm_train::{Batch, ClassConditioning, FitHooks, TrainConfig, TrainError, Trainer};

use crate::cli::TrainArgs;
use crate::run::{self, APP, MnistData, MnistRun};
use crate::sample::{digits, preview};

/// The step count when `--steps` is not given to a new run: about 55 minutes of batch 32 on 2 cores, more
/// than a `--minutes 30` plan takes, so a time-bounded run's plan is set by its time.
const DEFAULT_STEPS: usize = 6000;
/// Checkpoints every this many steps unless `--checkpoint-every` says otherwise (about 2 minutes on 2 cores).
const CHECKPOINT_EVERY: usize = 250;

pub fn run(args: &TrainArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let start = if args.run.resume {
        RunStart::Resume
    } else {
        let prediction = args.objective.prediction;
        let run = run::new_run(args.network, args.schedule, args.timesteps, prediction, args.run.seed, args.conditional);
        let run = args.objective.apply_to_run(run);
        RunStart::New { run, train: args.objective.apply(train_config(args)) }
    };
    let session = ImageRun::<MnistData>::open(APP, start, &args.out, &args.run, CHECKPOINT_EVERY)?;
    let task = TrainTask { args, session: &session, device, execution };
    session.description().network.run_image_task(task)?
}

/// Training the session's network, whatever its type.
struct TrainTask<'a> {
    args: &'a TrainArgs,
    session: &'a ImageRun<MnistData>,
    device: &'a Device,
    execution: Execution,
}

impl ImageNetworkTask for TrainTask<'_> {
    type Output = anyhow::Result<()>;

    fn run<N: ImageNetwork>(self) -> Self::Output {
        train_network::<N>(self.args, self.session, self.device, self.execution)
    }
}

/// Trains the session's network, of type `N`.
fn train_network<N: ImageNetwork>(
    args: &TrainArgs,
    session: &ImageRun<MnistData>,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<()> {
    let autodiff = device.clone().autodiff();
    let model: N = session.init_model(&autodiff)?;
    if args.run.print_model {
        print_model(&model);
        return Ok(());
    }

    let spec = session.description();
    let data = crate::run::load_mnist(MnistSplit::Train, args.data_dir.as_deref(), spec.experiment.padded)?;
    std::fs::create_dir_all(args.out.join("samples"))?;
    ddpm_data::write_atomically(&args.out.join("run.json"), serde_json::to_string_pretty(spec)?.as_bytes())?;
    let batch_size = session.batch_size();
    let shape = spec.batch_shape(batch_size);
    // Batch k is a pure function of (seed, k), so a resumed run picks the stream up at its step.
    let first_batch = session.first_step() as u64;
    let conditional = session.config().conditioning.is_some();
    let labels = data.labels;
    let mut batches = ShuffledBatches::new(Arc::from(data.images), data.size * data.size, batch_size, spec.seed, first_batch);
    let next_batch = || {
        let batch = batches.next().expect("the batch stream is endless");
        let classes = conditional.then(|| batch.rows.iter().map(|&row| usize::from(labels[row])).collect());
        Batch { x0: Tensor::<4>::from_data(TensorData::new(batch.values, shape), &autodiff), classes }
    };

    let eval = match args.eval_every {
        0 => None,
        every => {
            let evaluator = crate::eval::evaluator(args.data_dir.as_deref(), &args.classifier, device)?;
            Some(Evaluations { every, n: args.eval_samples, evaluator, log: args.out.join("metrics.jsonl"), last: None })
        }
    };
    let preview = |model: &N| preview(model, spec, 16, device, execution);
    let grids = SampleGrids { every: args.sample_every, dir: args.out.join("samples"), shape: spec.batch_shape(16), columns: 8, preview };
    let mut hooks = Hooks { grids, eval, spec, device, execution };
    let trained = session.train(model, next_batch, &mut hooks, execution)?;
    let last = trained.trainer.step_count();
    hooks.grids.draw(&trained.trainer, last)?;
    println!("  wrote {}/{{checkpoint/, metrics.jsonl, loss.png, samples/step-{last}.png}}", args.out.display());
    Ok(())
}

/// The new run's optimiser settings from the flags.
fn train_config(args: &TrainArgs) -> TrainConfig {
    let config = TrainConfig::new().with_steps(args.run.planned_steps(DEFAULT_STEPS)).with_batch_size(Some(args.batch_size));
    args.optimizer
        .apply(config)
        .with_conditioning(args.conditional.then(|| ClassConditioning::new(run::DIGITS).with_drop_probability(args.cond_drop)))
        .with_seed(args.run.seed)
}

/// The training hooks: 16 samples (the run's sampler, seed 0) of the EMA weights drawn every
/// `--sample-every` steps, and the EMA weights' digits scored every `--eval-every` steps when asked.
struct Hooks<'a, P> {
    grids: SampleGrids<P>,
    eval: Option<Evaluations>,
    spec: &'a MnistRun,
    device: &'a Device,
    execution: Execution,
}

/// `train --eval-every`: the evaluator, and the latest report for the progress line.
struct Evaluations {
    every: usize,
    n: usize,
    evaluator: Evaluator,
    /// metrics.jsonl, which gets one line per evaluation beside the losses.
    log: PathBuf,
    last: Option<Report>,
}

impl Evaluations {
    /// The cheap sampler evaluations use: 10 model evaluations, x_0 clipped as the run samples.
    fn sampler(spec: &MnistRun) -> SamplerConfig {
        SamplerConfig::new()
            .with_kind(SamplerKind::DpmSolver2m)
            .with_steps(10)
            .with_spacing(Spacing::Trailing)
            .with_clip_x0(spec.sampler.clip_x0)
    }

    fn evaluate<N: ImageNetwork>(
        &mut self,
        trainer: &Trainer<N>,
        spec: &MnistRun,
        device: &Device,
        execution: Execution,
    ) -> anyhow::Result<()> {
        let pixels = digits(&trainer.sampling_model(), spec, &Self::sampler(spec), self.n, device, execution)?;
        let images: Vec<f32> = pixels.iter().map(|v| v * 2.0 - 1.0).collect();
        let report = self.evaluator.evaluate(&images, None, 0);
        let line = serde_json::json!({ "step": trainer.step_count(), "eval": &report });
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(&self.log)?;
        writeln!(file, "{line}")?;
        self.last = Some(report);
        Ok(())
    }
}

impl<N: ImageNetwork, P: Fn(&N) -> anyhow::Result<Vec<f32>>> FitHooks<N> for Hooks<'_, P> {
    fn after_step(&mut self, trainer: &Trainer<N>) -> Result<(), TrainError> {
        self.grids.after_step(trainer)?;
        let step = trainer.step_count();
        if let Some(eval) = &mut self.eval
            && step.is_multiple_of(eval.every)
        {
            eval.evaluate(trainer, self.spec, self.device, self.execution).map_err(|e| TrainError::Hook(format!("{e:#}")))?;
        }
        Ok(())
    }

    fn progress_note(&self) -> Option<String> {
        let report = self.eval.as_ref()?.last.as_ref()?;
        Some(format!("FID {:.1} (floor {:.1})", report.fid, report.fid_floor))
    }
}
