//! `image-train train`.

use std::path::Path;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_data::{ShuffledBatches, random_horizontal_flips};
use ddpm_nets::{ImageNetwork, ImageNetworkTask};
use ddpm_run::{Execution, ImageRun, RunStart, SampleGrids, print_model};
use ddpm_train::TrainConfig;

use crate::cli::TrainArgs;
use crate::run::{self, APP, FolderData, FolderRun, RunOptions, read_folder};
use crate::sample::preview;

/// The step count when `--steps` is not given to a new run.
const DEFAULT_STEPS: usize = 5000;
/// Checkpoints every this many steps unless `--checkpoint-every` says otherwise.
const CHECKPOINT_EVERY: usize = 250;

pub fn run(args: &TrainArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let (start, folder) = if args.run.resume {
        (RunStart::Resume, None)
    } else {
        let data_dir =
            args.data_dir.clone().ok_or_else(|| anyhow::anyhow!("a new run needs --data-dir, a folder of PNG or JPEG images"))?;
        anyhow::ensure!([1, 3].contains(&args.channels), "--channels must be 1 (grayscale) or 3 (RGB), not {}", args.channels);
        refuse_out_inside_data(&args.out, &data_dir)?;
        let folder = read_folder(&data_dir, args.channels, args.size, args.skip_bad)?;
        let options = RunOptions {
            schedule: args.schedule,
            timesteps: args.timesteps,
            prediction: args.objective.prediction,
            seed: args.run.seed,
            flip: args.flip,
            skip_bad: args.skip_bad,
        };
        let run = args.objective.apply_to_run(run::new_run(args.network, &folder, data_dir, options));
        (RunStart::New { run, train: args.objective.apply(train_config(args)) }, Some(folder))
    };
    let session = ImageRun::<FolderData>::open(APP, start, &args.out, &args.run, CHECKPOINT_EVERY)?;
    let folder = match folder {
        Some(folder) => folder,
        None => reread_folder(session.description(), args.data_dir.as_deref(), &args.out)?,
    };
    let task = TrainTask { args, session: &session, folder, device, execution };
    session.description().network.run_image_task(task)?
}

/// Training the session's network, whatever its type.
struct TrainTask<'a> {
    args: &'a TrainArgs,
    session: &'a ImageRun<FolderData>,
    folder: ddpm_data::ImageFolder,
    device: &'a Device,
    execution: Execution,
}

impl ImageNetworkTask for TrainTask<'_> {
    type Output = anyhow::Result<()>;

    fn run<N: ImageNetwork>(self) -> Self::Output {
        train_network::<N>(self.args, self.session, self.folder, self.device, self.execution)
    }
}

/// A resumed run's images: its folder (or the one `--data-dir` moves it to), which must hold the same files.
fn reread_folder(spec: &FolderRun, data_dir: Option<&Path>, out: &Path) -> anyhow::Result<ddpm_data::ImageFolder> {
    let data = &spec.experiment;
    let dir = data_dir.unwrap_or(&data.data_dir);
    refuse_out_inside_data(out, dir)?;
    let folder = read_folder(dir, spec.data.channels, spec.data.image_size, data.skip_bad)?;
    anyhow::ensure!(
        folder.fingerprint == data.fingerprint
            && data.content_fingerprint.as_ref().is_none_or(|contents| *contents == folder.content_fingerprint),
        "{} no longer holds the {} images the run trained on (files were added, removed or changed); \
         resume with the same images, or start a new run",
        dir.display(),
        data.images
    );
    Ok(folder)
}

/// Trains the session's network, of type `N`, on `folder`.
fn train_network<N: ImageNetwork>(
    args: &TrainArgs,
    session: &ImageRun<FolderData>,
    folder: ddpm_data::ImageFolder,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<()> {
    let spec = session.description();
    let autodiff = device.clone().autodiff();
    let model: N = session.init_model(&autodiff)?;
    if args.run.print_model {
        print_model(&model);
        return Ok(());
    }
    let batch_size = session.batch_size();
    anyhow::ensure!(
        batch_size <= folder.count,
        "--batch-size {batch_size} is larger than the {} images in {}; pass a smaller --batch-size",
        folder.count,
        spec.experiment.data_dir.display()
    );
    if !session.is_resumed() {
        let [c, s] = [spec.data.channels, spec.data.image_size];
        println!(
            "{APP}: {} images from {} ({s}x{s}, {c} channel(s){}), the {} network, {} of batch {batch_size}",
            folder.count,
            spec.experiment.data_dir.display(),
            if spec.experiment.flip { ", random flips" } else { "" },
            spec.network.name(),
            args.run.describe_steps(session.config().steps)
        );
    }
    std::fs::create_dir_all(args.out.join("samples"))?;
    ddpm_data::write_atomically(&args.out.join("run.json"), serde_json::to_string_pretty(spec)?.as_bytes())?;

    let shape = spec.batch_shape(batch_size);
    let example_len = shape[1..].iter().product();
    // Batch k, its flips included, is a pure function of (seed, k), so a resumed run picks the stream up at its step.
    let mut next_index = session.first_step() as u64;
    let mut batches = ShuffledBatches::new(Arc::from(folder.pixels), example_len, batch_size, spec.seed, next_index);
    let next_batch = || {
        let mut values = batches.next().expect("the batch stream is endless").values;
        if spec.experiment.flip {
            random_horizontal_flips(&mut values, shape, spec.seed, next_index);
        }
        next_index += 1;
        Tensor::<4>::from_data(TensorData::new(values, shape), &autodiff)
    };
    let preview = |model: &N| preview(model, spec, 16, device, execution);
    let mut grids =
        SampleGrids { every: args.sample_every, dir: args.out.join("samples"), shape: spec.batch_shape(16), columns: 4, preview };
    let trained = session.train(model, next_batch, &mut grids, execution)?;
    let last = trained.trainer.step_count();
    grids.draw(&trained.trainer, last)?;
    println!("  wrote {}/{{checkpoint/, metrics.jsonl, loss.png, samples/step-{last}.png}}", args.out.display());
    Ok(())
}

/// The new run's optimiser settings from the flags.
fn train_config(args: &TrainArgs) -> TrainConfig {
    let config = TrainConfig::new().with_steps(args.run.planned_steps(DEFAULT_STEPS)).with_batch_size(Some(args.batch_size));
    args.optimizer.apply(config).with_seed(args.run.seed)
}

/// Refuses a run folder equal to or inside the image folder: its grids would become training images,
/// and the folder would no longer be the one the run trained on when it is resumed.
fn refuse_out_inside_data(out: &Path, data_dir: &Path) -> anyhow::Result<()> {
    // A data folder that cannot be resolved is reported by the read that follows.
    let Ok(data_dir) = data_dir.canonicalize() else { return Ok(()) };
    anyhow::ensure!(
        !resolved(out).starts_with(&data_dir),
        "--out {} is inside --data-dir {}: the run's sample grids would become training images. \
         Put the run folder elsewhere (e.g. --out ../runs/images)",
        out.display(),
        data_dir.display()
    );
    Ok(())
}

/// `path` made absolute with its symbolic links resolved, as far as it exists (a new run folder does not yet).
fn resolved(path: &Path) -> std::path::PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (mut existing, mut missing) = (absolute.as_path(), Vec::new());
    loop {
        if let Ok(real) = existing.canonicalize() {
            return missing.iter().rev().fold(real, |path, part| path.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}
