//! `mnist-train baseline`: the pre-DDPM baseline of the diffusers course. A [`BasicUNet`] without
//! time input learns to recover x from the blend `x (1 - a) + u a`, with u ~ U(0, 1) per pixel and
//! a ~ U(0, 1) per image, in one shot. Asked to "generate" from pure noise (a = 1), it can only
//! return a blurry average digit: the figure shows that beside DDPM's samples.

use std::sync::Arc;

use anyhow::Context;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::NoiseRng;
use ddpm_data::image::write_grid;
use ddpm_data::{MnistSplit, ShuffledBatches};
use ddpm_nets::{BasicUNet, BasicUNetConfig};
use ddpm_run::{Execution, LoadedRun, Weights, progress_bar};

use crate::cli::BaselineArgs;
use crate::run::{APP, MnistData};
use crate::sample::preview;

/// Images per row of the figure.
const COLUMNS: usize = 8;

pub fn run(args: &BaselineArgs, device: &Device) -> anyhow::Result<()> {
    let data = crate::run::load_mnist(MnistSplit::Train, args.data_dir.as_deref(), false)?;
    let ddpm = args.compare.as_ref().map(|run| ddpm_samples(run, device)).transpose()?;
    let autodiff = device.clone().autodiff();
    autodiff.seed(args.seed);
    let mut model = BasicUNetConfig::new().init(&autodiff);
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.0).with_epsilon(1e-8).init();
    // The course works on pixels in [0, 1].
    let unit: Arc<[f32]> = data.images.iter().map(|v| (v + 1.0) * 0.5).collect();
    let mut batches = ShuffledBatches::new(unit.clone(), 28 * 28, args.batch_size, args.seed, 0);
    let mut rng = NoiseRng::new(args.seed);
    let shape = [args.batch_size, 1, 28, 28];

    let bar = progress_bar(args.steps, "baseline");
    let mut last_loss = f32::NAN;
    for step in 0..args.steps {
        let clean = batches.next().expect("the batch stream is endless").values;
        let amounts = rng.uniform_vec(args.batch_size);
        let noisy = corrupt(&clean, &amounts, &rng.uniform_vec(clean.len()));
        let input = Tensor::<4>::from_data(TensorData::new(noisy, shape), &autodiff);
        let target = Tensor::<4>::from_data(TensorData::new(clean, shape), &autodiff);
        let loss = (model.forward(input) - target).square().mean();
        if step % 50 == 0 || step + 1 == args.steps {
            last_loss = loss.clone().into_scalar::<f32>();
            anyhow::ensure!(last_loss.is_finite(), "the baseline's loss became {last_loss} at step {step}: lower --lr");
            bar.set_message(format!("loss {last_loss:.4}"));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(args.lr, model, grads);
        bar.set_position(step as u64 + 1);
    }
    bar.finish();

    let model = model.valid();
    let rows = figure_rows(&model, &unit, &mut rng, device);
    let mut figure: Vec<f32> = rows.concat();
    if let Some(samples) = &ddpm {
        figure.extend_from_slice(samples);
    }
    let images = figure.len() / (28 * 28);
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    write_grid(&args.out.join("baseline.png"), &figure, [images, 1, 28, 28], COLUMNS, 2)?;
    model.save_file(args.out.join("baseline.bpk")).map_err(|e| anyhow::anyhow!("cannot save the model: {e:?}"))?;
    println!("mnist-train baseline: {} steps, final loss {last_loss:.4}", args.steps);
    println!(
        "  figure rows: clean digits | corrupted with a = 0 .. 1 | the baseline's predictions | its one-shot output from pure noise{}",
        if ddpm.is_some() { " | DDPM samples (the run's sampler)" } else { "" }
    );
    println!("  wrote {}/{{baseline.png, baseline.bpk}}", args.out.display());
    Ok(())
}

/// `x (1 - a) + u a` per image: `clean` holds images of 784 pixels, one amount each.
fn corrupt(clean: &[f32], amounts: &[f32], uniform: &[f32]) -> Vec<f32> {
    const PIXELS: usize = 28 * 28;
    clean
        .chunks_exact(PIXELS)
        .zip(uniform.chunks_exact(PIXELS))
        .zip(amounts)
        .flat_map(|((image, noise), &a)| image.iter().zip(noise).map(move |(&x, &u)| x * (1.0 - a) + u * a))
        .collect()
}

/// The figure's first four rows: clean digits, their corruptions at amounts 0 .. 1, the model's
/// predictions, and its outputs from pure noise.
fn figure_rows(model: &BasicUNet, unit: &[f32], rng: &mut NoiseRng, device: &Device) -> [Vec<f32>; 4] {
    let clean: Vec<f32> = unit[..COLUMNS * 28 * 28].to_vec();
    let amounts: Vec<f32> = (0..COLUMNS).map(|i| i as f32 / (COLUMNS - 1) as f32).collect();
    let corrupted = corrupt(&clean, &amounts, &rng.uniform_vec(clean.len()));
    let pure_noise = rng.uniform_vec(clean.len());
    let predict = |input: &[f32]| -> Vec<f32> {
        let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), [COLUMNS, 1, 28, 28]), device);
        model.forward(x).clamp(0.0, 1.0).into_data().try_into_vec().expect("f32 values")
    };
    let predictions = predict(&corrupted);
    let generated = predict(&pure_noise);
    [clean, corrupted, predictions, generated]
}

/// A row of DDPM samples (the run's own sampler) from the run in `run_dir`.
fn ddpm_samples(run_dir: &std::path::Path, device: &Device) -> anyhow::Result<Vec<f32>> {
    let loaded = LoadedRun::<MnistData>::open(APP, run_dir)?;
    anyhow::ensure!(!loaded.description().experiment.padded, "--compare needs a 28x28 run (the small network)");
    let model = loaded.sampling_network(device, Weights::Ema)?;
    preview(&model, loaded.description(), COLUMNS, device, Execution::default())
}
