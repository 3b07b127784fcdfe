//! `single-image train`.

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_data::SingleImage;
use ddpm_data::image::write_grid;
use ddpm_nets::UNet;
use ddpm_run::{Execution, ImageRun, RunStart, print_model};
use ddpm_train::{FitEnd, NoHooks, TrainConfig};

use crate::cli::TrainArgs;
use crate::report::{Request, sample_and_report, write_summary};
use crate::run::{self, APP, SingleImageData, SingleImageRun, TARGET_NPY, image_shape, read_target};

/// Checkpoints every this many steps unless `--checkpoint-every` says otherwise.
const CHECKPOINT_EVERY: usize = 500;

pub fn run(args: &TrainArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let (start, image) = if args.run.resume {
        (RunStart::Resume, None)
    } else {
        let (run, train, image) = new_run(args)?;
        (RunStart::New { run, train }, Some(image))
    };
    let session = ImageRun::<SingleImageData>::open(APP, start, &args.out, &args.run, CHECKPOINT_EVERY)?;
    let spec = session.description();
    let autodiff = device.clone().autodiff();
    let model: UNet = session.init_model(&autodiff)?;
    if args.run.print_model {
        print_model(&model);
        return Ok(());
    }
    let target = match image {
        Some(image) => write_target(&image, spec, &args.out)?,
        None => read_target(&args.out, spec)?,
    };
    let batch_size = session.batch_size();
    if !session.is_resumed() {
        let [channels, size, _] = image_shape(spec);
        let preset = serde_json::to_value(spec.experiment.preset)?;
        println!(
            "single-image: {} ({} preset, {size}x{size}, {channels} channel(s)), {} of batch {batch_size}",
            spec.experiment.image.display(),
            preset.as_str().unwrap_or_default(),
            args.run.describe_steps(session.config().steps)
        );
    }

    // Every step sees the same image, each copy at its own t and noise.
    let from_unit = target.iter().map(|v| v * 2.0 - 1.0).collect::<Vec<f32>>().repeat(batch_size);
    let batch = Tensor::<4>::from_data(TensorData::new(from_unit, spec.batch_shape(batch_size)), &autodiff);
    let trained = session.train(model, || batch.clone(), &mut NoHooks, execution)?;
    let written = if session.is_resumed() { "" } else { "target.png, " };
    println!("  wrote {}/{{{written}checkpoint/, metrics.jsonl, loss.png}}", args.out.display());
    if trained.end != FitEnd::Finished || args.samples == 0 {
        return Ok(());
    }
    let request = Request { sampler: &spec.sampler, n: args.samples, seed: 0, target: &target, execution, init_noise: None };
    let steps = trained.trainer.step_count();
    let mut summary = sample_and_report(&trained.trainer.sampling_model(), spec, steps, &request, &args.out, device)?;
    summary.training = Some(serde_json::json!({
        "steps_this_session": trained.steps,
        "seconds_this_session": trained.seconds,
        "seconds_per_step": trained.seconds / trained.steps.max(1) as f64,
        "batch_size": batch_size,
        "final_loss_mean_of_last_100": trained.history.recent_mean(100),
    }));
    write_summary(&summary, &args.out)
}

/// A new run: the image and the network are checked before anything is trained or written.
fn new_run(args: &TrainArgs) -> anyhow::Result<(SingleImageRun, TrainConfig, SingleImage)> {
    let image_path = args.image.as_deref().expect("clap requires --image without --resume");
    let size = args.size.unwrap_or(args.preset.image_size());
    let spec =
        args.objective.apply_to_run(run::new_run(args.preset, image_path, args.channels, size, args.objective.prediction, args.run.seed));
    spec.network.validate().map_err(|e| anyhow::anyhow!("--size {size}: {e}"))?;
    let image = SingleImage::load(image_path, args.channels, size)?;
    let mut config = args.objective.apply(args.preset.train_config().with_seed(args.run.seed));
    config.steps = args.run.planned_steps(config.steps);
    if let Some(batch_size) = args.batch_size {
        config.batch_size = Some(batch_size);
    }
    if let Some(lr) = args.lr {
        config.learning_rate = lr;
    }
    Ok((spec, config, image))
}

/// Writes the target as trained on (`target.png`, `target.npy`) into the run folder; returns its pixels in [0, 1].
fn write_target(image: &SingleImage, spec: &SingleImageRun, out: &std::path::Path) -> anyhow::Result<Vec<f32>> {
    let target = image.unit_pixels();
    let [channels, size, _] = image_shape(spec);
    write_grid(&out.join("target.png"), &target, [1, channels, size, size], 1, 1)?;
    ddpm_data::write_npy_f32(&out.join(TARGET_NPY), &target, &image_shape(spec))?;
    Ok(target)
}
