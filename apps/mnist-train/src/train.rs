//! `mnist-train train`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_data::{Mnist, MnistSplit, ShuffledBatches};
use ddpm_nets::UNet;
use ddpm_schedule::NoiseSchedule;
use ddpm_train::{
    EmaConfig, FitEnd, FitHooks, FitPlan, LrSchedule, TrainConfig, TrainError, Trainer, ensure_new_run_dir, fit, logged_losses, read_state,
    stop_on_ctrl_c,
};

use crate::cli::TrainArgs;
use crate::run::MnistRun;

/// The step count when `--steps` is not given to a new run.
const DEFAULT_STEPS: usize = 3000;

pub fn run(args: &TrainArgs, device: &Device, batch_slices: usize) -> anyhow::Result<()> {
    let (spec, mut config) = if args.resume {
        let (_, state) = read_state(&args.out).context("--resume needs the --out folder of an earlier run")?;
        (MnistRun::from_checkpoint(&state)?, state.train)
    } else {
        let spec = MnistRun::new_run(args.network, args.schedule, args.timesteps, args.seed);
        (spec, train_config(args))
    };
    if let Some(steps) = args.steps {
        config.steps = steps;
    }
    spec.network.validate().map_err(anyhow::Error::msg)?;
    config.validate().map_err(anyhow::Error::msg)?;
    let schedule = spec.noise_schedule()?;

    let autodiff = device.clone().autodiff();
    autodiff.seed(spec.seed);
    let model: UNet = spec.network.init(&autodiff);
    if args.print_model {
        println!("{model}");
        println!("parameters: {}", model.num_params());
        return Ok(());
    }

    let data = Mnist::load(MnistSplit::Train, args.data_dir.as_deref(), spec.padded())?;
    let mut trainer = Trainer::new(model, &schedule, &config)?.with_batch_slices(batch_slices);
    if args.resume {
        trainer = trainer.resume(&args.out)?;
        eprintln!("resuming {} at step {} of {}", args.out.display(), trainer.step_count(), config.steps);
    } else {
        ensure_new_run_dir(&args.out)?;
    }
    std::fs::create_dir_all(args.out.join("samples")).with_context(|| format!("cannot create {}", args.out.display()))?;
    std::fs::write(args.out.join("run.json"), serde_json::to_string_pretty(&spec)?)?;

    let batch_size = config.batch_size.expect("train_config sets a batch size");
    let shape = [batch_size, spec.channels, spec.image_size, spec.image_size];
    let mut batches =
        ShuffledBatches::new(Arc::from(data.images), data.size * data.size, batch_size, spec.seed, trainer.step_count() as u64);
    let next_batch = || {
        let batch = batches.next().expect("the batch stream is endless");
        Tensor::<4>::from_data(TensorData::new(batch, shape), &autodiff)
    };

    let stop = stop_on_ctrl_c()?;
    let plan = FitPlan {
        time_limit: args.minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
        run_dir: Some(args.out.clone()),
        checkpoint_every: Some(args.checkpoint_every),
        run: serde_json::to_value(&spec)?,
        stop: Some(stop),
        batch_size,
    };
    let mut grids = SampleGrids { every: args.sample_every, dir: args.out.join("samples"), schedule: &schedule, spec: &spec, device };
    let started = std::time::Instant::now();
    let first_step = trainer.step_count();
    let (history, end) = fit(&mut trainer, next_batch, &plan, &mut grids)?;
    let seconds = started.elapsed().as_secs_f64();
    let steps = trainer.step_count() - first_step;
    grids.draw(&trainer, trainer.step_count())?;
    plot_losses(&args.out)?;

    println!("mnist-train: {} at step {} of {}", end.describe(), trainer.step_count(), config.steps);
    println!("  {steps} steps in {seconds:.0} s: {:.1} images/s", (steps * batch_size) as f64 / seconds.max(1e-9));
    if let Some(loss) = history.recent_mean(100) {
        println!("  loss (mean of the last 100 steps) {loss:.4}");
    }
    println!("  wrote {}/{{checkpoint/, metrics.jsonl, loss.png, samples/step-{}.png}}", args.out.display(), trainer.step_count());
    if end != FitEnd::Finished {
        println!("  continue with: mnist-train train --resume --out {}", args.out.display());
    }
    Ok(())
}

fn train_config(args: &TrainArgs) -> TrainConfig {
    TrainConfig::new()
        .with_steps(args.steps.unwrap_or(DEFAULT_STEPS))
        .with_batch_size(Some(args.batch_size))
        .with_learning_rate(args.lr)
        .with_lr_schedule(LrSchedule::Cosine { warmup_steps: args.warmup, min_lr: args.min_lr })
        .with_weight_decay(args.weight_decay)
        .with_grad_clip_norm((args.clip > 0.0).then_some(args.clip))
        .with_ema((args.ema_decay > 0.0).then(|| EmaConfig::new().with_decay(args.ema_decay)))
        .with_seed(args.seed)
        .with_log_every(args.log_every)
}

/// Draws 16 DDIM-50 samples from the EMA weights every `every` steps into `dir/step-N.png`.
struct SampleGrids<'a> {
    every: usize,
    dir: PathBuf,
    schedule: &'a NoiseSchedule,
    spec: &'a MnistRun,
    device: &'a Device,
}

impl SampleGrids<'_> {
    fn draw(&self, trainer: &Trainer<UNet>, step: usize) -> Result<(), TrainError> {
        let pixels = self.spec.preview(&trainer.sampling_model(), self.schedule, 16, self.device);
        let size = self.spec.image_size;
        ddpm_data::image::write_grid(&self.dir.join(format!("step-{step}.png")), &pixels, [16, self.spec.channels, size, size], 8, 2)
            .map_err(|e| TrainError::Hook(e.to_string()))
    }
}

impl FitHooks<UNet> for SampleGrids<'_> {
    fn after_step(&mut self, trainer: &Trainer<UNet>) -> Result<(), TrainError> {
        let step = trainer.step_count();
        if self.every > 0 && step % self.every == 0 && step < trainer.config().steps {
            self.draw(trainer, step)?;
        }
        Ok(())
    }
}

/// `loss.png` from the whole `metrics.jsonl` (earlier sessions of a resumed run included).
fn plot_losses(run_dir: &Path) -> anyhow::Result<()> {
    let losses = logged_losses(run_dir);
    if !losses.is_empty() {
        ddpm_data::plot::loss_curve(&run_dir.join("loss.png"), "MNIST U-Net training loss", &losses, 50)?;
    }
    Ok(())
}
