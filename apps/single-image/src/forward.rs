//! `single-image forward`: the forward process q(x_t | x_0) on one image, as in the DDPM tutorials,
//! one row per schedule so schedules can be compared.

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{NoiseRng, NoiseSchedule};
use ddpm_data::SingleImage;
use ddpm_data::image::{to_unit_range, write_grid};

use crate::cli::ForwardArgs;

pub fn run(args: &ForwardArgs, device: &Device) -> anyhow::Result<()> {
    anyhow::ensure!(!args.schedule.is_empty(), "give at least one --schedule");
    anyhow::ensure!(args.timesteps >= 2, "--timesteps must be at least 2");
    let image = SingleImage::load(&args.image, args.channels, args.size)?;
    let [channels, size, _] = image.shape();
    // One noise draw shared by every column and row, so only t and the schedule differ.
    let x0 = Tensor::<4>::from_data(TensorData::new(image.pixels.clone(), [1, channels, size, size]), device);
    let noise =
        Tensor::<4>::from_data(TensorData::new(NoiseRng::new(args.seed).normal_vec(image.pixels.len()), [1, channels, size, size]), device);

    let mut rows = Vec::new();
    for (row, name) in args.schedule.iter().enumerate() {
        let schedule = NoiseSchedule::new(&name.betas(), args.timesteps)?;
        let timesteps = schedule.evenly_spaced(args.columns);
        if row == 0 {
            println!("single-image forward: {} at t = {timesteps:?}", args.image.display());
        }
        let noised: Vec<f32> =
            schedule.q_sample_levels(x0.clone(), &timesteps, noise.clone()).into_data().try_into_vec().expect("f32 values");
        rows.extend(to_unit_range(&noised));
        let last = schedule.alphas_cumprod()[args.timesteps - 1];
        println!("  row {}: {name:?} (signal left at t = T: sqrt(abar_T) = {:.3})", row + 1, last.sqrt());
    }
    let scale = (128 / size).max(1);
    write_grid(&args.out, &rows, [args.columns * args.schedule.len(), channels, size, size], args.columns, scale)?;
    println!("  wrote {}", args.out.display());
    Ok(())
}
