//! `mnist-train train`.

use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_data::{Mnist, MnistSplit, ShuffledBatches};
use ddpm_nets::UNet;
use ddpm_run::{ImageRun, Start, print_model};
use ddpm_train::{EmaConfig, FitHooks, LrSchedule, TrainConfig, TrainError, Trainer};

use crate::cli::TrainArgs;
use crate::run::{self, APP, MnistData, MnistRun};
use crate::sample::preview;

/// The step count when `--steps` is not given to a new run.
const DEFAULT_STEPS: usize = 3000;
/// Checkpoints every this many steps unless `--checkpoint-every` says otherwise (about 4 minutes on 2 cores).
const CHECKPOINT_EVERY: usize = 250;

pub fn run(args: &TrainArgs, device: &Device, batch_slices: usize) -> anyhow::Result<()> {
    let start = if args.run.resume {
        Start::Resume
    } else {
        let prediction = args.objective.prediction;
        let run = run::new_run(args.network, args.schedule, args.timesteps, prediction, args.run.seed);
        Start::New { run, train: args.objective.apply(train_config(args))? }
    };
    let session = ImageRun::<MnistData>::open(APP, start, &args.out, &args.run, CHECKPOINT_EVERY)?;
    let autodiff = device.clone().autodiff();
    let model = session.init_model(&autodiff)?;
    if args.run.print_model {
        print_model(&model);
        return Ok(());
    }

    let spec = session.description();
    let data = Mnist::load(MnistSplit::Train, args.data_dir.as_deref(), spec.experiment.padded)?;
    std::fs::create_dir_all(args.out.join("samples"))?;
    std::fs::write(args.out.join("run.json"), serde_json::to_string_pretty(spec)?)?;
    let batch_size = session.batch_size();
    let shape = spec.batch_shape(batch_size);
    // Batch k is a pure function of (seed, k), so a resumed run picks the stream up at its step.
    let first_batch = session.first_step() as u64;
    let mut batches = ShuffledBatches::new(Arc::from(data.images), data.size * data.size, batch_size, spec.seed, first_batch);
    let next_batch = || Tensor::<4>::from_data(TensorData::new(batches.next().expect("the batch stream is endless"), shape), &autodiff);

    let mut grids = SampleGrids { every: args.sample_every, dir: args.out.join("samples"), spec, device, batch_slices };
    let trained = session.train(model, next_batch, &mut grids, batch_slices)?;
    let last = trained.trainer.step_count();
    grids.draw(&trained.trainer, last)?;
    println!("  wrote {}/{{checkpoint/, metrics.jsonl, loss.png, samples/step-{last}.png}}", args.out.display());
    Ok(())
}

/// The new run's optimiser settings from the flags.
fn train_config(args: &TrainArgs) -> TrainConfig {
    TrainConfig::new()
        .with_steps(args.run.steps.unwrap_or(DEFAULT_STEPS))
        .with_batch_size(Some(args.batch_size))
        .with_learning_rate(args.lr)
        .with_lr_schedule(LrSchedule::Cosine { warmup_steps: args.warmup, min_lr: args.min_lr })
        .with_weight_decay(args.weight_decay)
        .with_grad_clip_norm((args.clip > 0.0).then_some(args.clip))
        .with_ema((args.ema_decay > 0.0).then(|| EmaConfig::new().with_decay(args.ema_decay)))
        .with_seed(args.run.seed)
}

/// Draws 16 samples (the run's sampler, seed 0) from the EMA weights every `every` steps into `dir/step-N.png`.
struct SampleGrids<'a> {
    every: usize,
    dir: PathBuf,
    spec: &'a MnistRun,
    device: &'a Device,
    batch_slices: usize,
}

impl SampleGrids<'_> {
    fn draw(&self, trainer: &Trainer<UNet>, step: usize) -> Result<(), TrainError> {
        let pixels = preview(&trainer.sampling_model(), self.spec, 16, self.device, self.batch_slices)
            .map_err(|e| TrainError::Hook(format!("{e:#}")))?;
        let shape = self.spec.batch_shape(16);
        ddpm_data::image::write_grid(&self.dir.join(format!("step-{step}.png")), &pixels, shape, 8, 2)
            .map_err(|e| TrainError::Hook(e.to_string()))
    }
}

impl FitHooks<UNet> for SampleGrids<'_> {
    fn after_step(&mut self, trainer: &Trainer<UNet>) -> Result<(), TrainError> {
        let step = trainer.step_count();
        if self.every > 0 && step.is_multiple_of(self.every) && step < trainer.config().steps {
            self.draw(trainer, step)?;
        }
        Ok(())
    }
}
