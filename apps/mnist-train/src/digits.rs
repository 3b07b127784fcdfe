//! `mnist-train digits`: real MNIST digits in the layout `sample` writes (samples.npy, classes.json,
//! grid.png), as inputs of the editing commands and as the real-digit reference of `eval`.

use ddpm_core::NoiseRng;
use ddpm_data::MnistSplit;
use ddpm_data::image::{to_unit_range, write_grid};

use crate::cli::DigitsArgs;
use crate::sample::CLASSES_FILE;

pub fn run(args: &DigitsArgs) -> anyhow::Result<()> {
    let split = if args.train { MnistSplit::Train } else { MnistSplit::Test };
    let data = crate::run::load_mnist(split, args.data_dir.as_deref(), false)?;
    anyhow::ensure!(args.n <= data.len(), "--n {} is more than the {} digits of the {split:?} split", args.n, data.len());
    // A random subset without repeats: the digits in the order of one uniform draw each.
    let keys = NoiseRng::new(args.seed).uniform_vec(data.len());
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    let chosen = &order[..args.n];
    let pixels: Vec<f32> = chosen.iter().flat_map(|&i| to_unit_range(data.image(i))).collect();
    let labels: Vec<usize> = chosen.iter().map(|&i| data.labels[i] as usize).collect();
    ddpm_data::ensure_writable_dir(&args.out)?;
    let shape = [args.n, 1, 28, 28];
    ddpm_data::write_npy_f32(&args.out.join("samples.npy"), &pixels, &shape)?;
    ddpm_data::write_atomically(&args.out.join(CLASSES_FILE), serde_json::to_string(&labels)?.as_bytes())?;
    write_grid(&args.out.join("grid.png"), &pixels, shape, args.n.isqrt().max(8), 2)?;
    println!("mnist-train digits: {} random {split:?} digits (seed {})", args.n, args.seed);
    println!("  wrote {}/{{samples.npy, {CLASSES_FILE} (their labels), grid.png}}", args.out.display());
    Ok(())
}
