//! `mnist-train forward`: the forward process q(x_t | x_0) on one digit, as in the DDPM tutorials.

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{NoiseRng, NoiseSchedule};
use ddpm_data::MnistSplit;
use ddpm_data::image::{to_unit_range, write_grid};

use crate::cli::ForwardArgs;

pub fn run(args: &ForwardArgs, device: &Device) -> anyhow::Result<()> {
    let data = crate::run::load_mnist(MnistSplit::Test, args.data_dir.as_deref(), false)?;
    anyhow::ensure!(args.index < data.len(), "--index {} is past the {} test digits", args.index, data.len());
    let schedule = NoiseSchedule::new(&args.schedule.betas(), args.timesteps)?;
    let timesteps = schedule.evenly_spaced(args.columns);
    let x0 = Tensor::<4>::from_data(TensorData::new(data.image(args.index).to_vec(), [1, 1, 28, 28]), device);
    let noise = Tensor::<4>::from_data(TensorData::new(NoiseRng::new(args.seed).normal_vec(28 * 28), [1, 1, 28, 28]), device);
    let noised: Vec<f32> = schedule.q_sample_levels(x0, &timesteps, noise).into_data().try_into_vec().expect("f32 values");
    write_grid(&args.out, &to_unit_range(&noised), [args.columns, 1, 28, 28], args.columns, 3)?;
    println!("mnist-train forward: digit {} (label {}) at t = {timesteps:?}", args.index, data.labels[args.index]);
    println!("  wrote {}", args.out.display());
    Ok(())
}
