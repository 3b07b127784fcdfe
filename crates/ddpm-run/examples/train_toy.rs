//! Train a DDPM on your own tensors from Rust: 1-D data from a `Vec<f32>`, the toy MLP, then ancestral
//! sampling, with the mean and standard deviation of the samples against the data's.
//!
//! ```text
//! cargo run --example train_toy
//! ```

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule};
use ddpm_exec::Execution;
use ddpm_nets::MlpConfig;
use ddpm_sample::{DdpmSampler, Sampler, VarianceType};
use ddpm_train::{NoHooks, TrainConfig, train};

fn main() -> anyhow::Result<()> {
    // 1000 points from N(3, 2^2), drawn with the toolkit's seeded noise.
    let data: Vec<f32> = NoiseRng::new(7).normal_vec(1000).into_iter().map(|z| 3.0 + 2.0 * z).collect();

    let device = Device::flex();
    let train_device = device.clone().autodiff();
    train_device.seed(0);
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000)?;
    let model = MlpConfig::new().init(&train_device); // Linear(2, 128) - ReLU - Linear(128, 128) - ReLU - Linear(128, 1)
    let tensor = Tensor::<2>::from_data(TensorData::new(data.clone(), [data.len(), 1]), &train_device);
    let config = TrainConfig::new().with_steps(1500).with_learning_rate(1e-3);
    let trained = train(model, tensor, &schedule, &config, &train_device, Execution::default(), &mut NoHooks)?;

    let model = trained.model.valid();
    let sampled =
        DdpmSampler::new(&schedule, VarianceType::Beta).sample(&model, [1000, 1], &mut NoiseRng::new(1), &device, None, |_, _| {});
    let samples = sampled.samples.into_data().try_to_vec::<f32>()?;
    let (data_mean, data_std) = ddpm_data::mean_std(&data);
    let (mean, std) = ddpm_data::mean_std(&samples);
    println!("data    mean {data_mean:.3} std {data_std:.3}");
    println!("samples mean {mean:.3} std {std:.3} (final loss {:.4})", trained.history.recent_mean(50).unwrap_or(f32::NAN));
    Ok(())
}
