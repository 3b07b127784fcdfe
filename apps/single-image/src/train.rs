//! `single-image train`.

use std::time::{Duration, Instant};

use anyhow::Context;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_data::SingleImage;
use ddpm_data::image::write_grid;
use ddpm_nets::UNet;
use ddpm_train::{FitEnd, FitPlan, NoHooks, TrainConfig, Trainer, ensure_new_run_dir, fit, logged_losses, read_state, stop_on_ctrl_c};

use crate::cli::TrainArgs;
use crate::report::{Request, sample_and_report, write_summary};
use crate::run::{SingleImageRun, TARGET_NPY, read_target};

pub fn run(args: &TrainArgs, device: &Device, batch_slices: usize) -> anyhow::Result<()> {
    let (spec, mut config, target) = if args.resume { resumed(args)? } else { new_run(args)? };
    if let Some(steps) = args.steps {
        config.steps = steps;
    }
    config.log_every = args.log_every;
    config.validate().map_err(anyhow::Error::msg)?;
    let batch_size = config.batch_size.unwrap_or(1);
    let schedule = spec.noise_schedule()?;

    let autodiff = device.clone().autodiff();
    autodiff.seed(config.seed);
    let model: UNet = spec.network.init(&autodiff);
    if args.print_model {
        println!("{model}");
        println!("parameters: {}", model.num_params());
        return Ok(());
    }
    let mut trainer = Trainer::new(model, &schedule, &config)?.with_batch_slices(batch_slices);
    if args.resume {
        trainer = trainer.resume(&args.out)?;
        println!("single-image: resuming {} at step {} of {}", args.out.display(), trainer.step_count(), config.steps);
    } else {
        println!(
            "single-image: {} ({} preset, {}x{}, {} channel(s)), {} steps of batch {batch_size}",
            spec.image.display(),
            serde_json::to_value(spec.preset)?.as_str().unwrap_or_default(),
            spec.image_size,
            spec.image_size,
            spec.channels,
            config.steps
        );
    }

    // Every step sees the same image, each copy at its own t and noise.
    let [channels, size, _] = spec.image_shape();
    let from_unit = target.iter().map(|v| v * 2.0 - 1.0).collect::<Vec<f32>>().repeat(batch_size);
    let batch = Tensor::<4>::from_data(TensorData::new(from_unit, [batch_size, channels, size, size]), &autodiff);
    let plan = FitPlan {
        time_limit: args.minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
        run_dir: Some(args.out.clone()),
        checkpoint_every: Some(args.checkpoint_every),
        run: serde_json::to_value(&spec)?,
        stop: Some(stop_on_ctrl_c()?),
        batch_size,
    };
    let started = Instant::now();
    let first_step = trainer.step_count();
    let (history, end) = fit(&mut trainer, || batch.clone(), &plan, &mut NoHooks)?;
    let seconds = started.elapsed().as_secs_f64();
    let steps = trainer.step_count() - first_step;
    let losses = logged_losses(&args.out);
    if !losses.is_empty() {
        ddpm_data::plot::loss_curve(&args.out.join("loss.png"), "single-image training loss", &losses, 50)?;
    }

    println!("single-image: {} at step {} of {}", end.describe(), trainer.step_count(), config.steps);
    println!("  {steps} steps in {seconds:.0} s ({:.3} s/step)", seconds / steps.max(1) as f64);
    if let Some(loss) = history.recent_mean(100) {
        println!("  loss (mean of the last 100 steps) {loss:.4}");
    }
    println!("  wrote {}/{{{}checkpoint/, metrics.jsonl, loss.png}}", args.out.display(), if args.resume { "" } else { "target.png, " });
    if end != FitEnd::Finished {
        println!("  continue with: single-image train --resume --out {}", args.out.display());
        return Ok(());
    }
    if args.samples > 0 {
        let request = Request { sampler: &spec.sampler, n: args.samples, seed: 0, target: &target, threads: batch_slices };
        let mut summary = sample_and_report(&trainer.sampling_model(), &spec, trainer.step_count(), &request, &args.out, device)?;
        summary.training = Some(serde_json::json!({
            "steps_this_session": steps,
            "seconds_this_session": seconds,
            "seconds_per_step": seconds / steps.max(1) as f64,
            "batch_size": batch_size,
            "final_loss_mean_of_last_100": history.recent_mean(100),
        }));
        write_summary(&summary, &args.out)?;
    }
    Ok(())
}

/// A new run: checks the image, the network and the folder before anything is trained, and
/// writes the target as trained on.
fn new_run(args: &TrainArgs) -> anyhow::Result<(SingleImageRun, TrainConfig, Vec<f32>)> {
    let image_path = args.image.as_deref().expect("clap requires --image without --resume");
    let size = args.size.unwrap_or(args.preset.image_size());
    let spec = SingleImageRun::new_run(args.preset, image_path, args.channels, size);
    spec.network.validate().map_err(|e| anyhow::anyhow!("--size {size}: {e}"))?;
    let image = SingleImage::load(image_path, args.channels, size)?;
    ensure_new_run_dir(&args.out)?;

    let mut config = args.preset.train_config().with_seed(args.seed);
    if let Some(batch_size) = args.batch_size {
        anyhow::ensure!(batch_size > 0, "--batch-size must be at least 1");
        config.batch_size = Some(batch_size);
    }
    if let Some(lr) = args.lr {
        config.learning_rate = lr;
    }
    let target = image.unit_pixels();
    write_grid(&args.out.join("target.png"), &target, [1, args.channels, size, size], 1, 1)?;
    ddpm_data::write_npy_f32(&args.out.join(TARGET_NPY), &target, &spec.image_shape())?;
    Ok((spec, config, target))
}

/// A resumed run: its settings and target come from the run folder; flags that would change them are refused.
fn resumed(args: &TrainArgs) -> anyhow::Result<(SingleImageRun, TrainConfig, Vec<f32>)> {
    let (_, state) = read_state(&args.out).context("--resume needs the --out folder of an earlier run")?;
    let spec = SingleImageRun::from_checkpoint(&state)?;
    anyhow::ensure!(
        args.size.is_none_or(|s| s == spec.image_size) && args.batch_size.is_none() && args.lr.is_none(),
        "--resume continues the run with its own settings; drop --size, --batch-size and --lr (only --steps and --minutes may change)"
    );
    let target = read_target(&args.out, &spec)?;
    Ok((spec, state.train, target))
}
