//! `mnist-train forward`: the forward process q(x_t | x_0) on one digit, as in the DDPM tutorials.

use anyhow::Context;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_data::image::{to_unit_range, write_grid};
use ddpm_data::{Mnist, MnistSplit};
use ddpm_schedule::{NoiseRng, NoiseSchedule};

use crate::cli::ForwardArgs;
use crate::run::beta_schedule;

pub fn run(args: &ForwardArgs, device: &Device) -> anyhow::Result<()> {
    let data = Mnist::load(MnistSplit::Test, args.data_dir.as_deref(), false)?;
    anyhow::ensure!(args.index < data.len(), "--index {} is past the {} test digits", args.index, data.len());
    anyhow::ensure!(args.columns >= 2, "--columns must be at least 2");
    let schedule = NoiseSchedule::new(&beta_schedule(args.schedule), args.timesteps)?;
    // Evenly spaced t from 0 (almost clean) to T - 1 (almost pure noise), one shared noise draw.
    let timesteps: Vec<usize> = (0..args.columns).map(|i| i * (args.timesteps - 1) / (args.columns - 1)).collect();
    let image = data.image(args.index);
    let x0 = Tensor::<4>::from_data(TensorData::new(image.repeat(args.columns), [args.columns, 1, 28, 28]), device);
    let noise = Tensor::<4>::from_data(TensorData::new(NoiseRng::new(args.seed).normal_vec(28 * 28).repeat(args.columns), [args.columns, 1, 28, 28]), device);
    let noised: Vec<f32> = schedule.q_sample(x0, &timesteps, noise).into_data().try_into_vec().expect("f32 values");
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_grid(&args.out, &to_unit_range(&noised), [args.columns, 1, 28, 28], args.columns, 3)?;
    println!("mnist-train forward: digit {} (label {}) at t = {timesteps:?}", args.index, data.labels[args.index]);
    println!("  wrote {}", args.out.display());
    Ok(())
}
