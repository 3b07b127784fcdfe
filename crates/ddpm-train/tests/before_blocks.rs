//! A checkpoint written before the network blocks became one family (format 2, by
//! `fixtures/before-blocks/make.rs` at commit 212ba81): a tiny residual U-Net with attention, whose
//! fused `qkv` projections the current code splits into `to_q`, `to_k`, `to_v`. It must load to the same
//! predictions, and resume to the same weights as the code that wrote it reached.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{BetaSchedule, NoiseSchedule};
use ddpm_data::{ShuffledBatches, read_npy_f32};
use ddpm_nets::{BlockStyle, UNet, UNetConfig};
use ddpm_train::{EmaConfig, TrainConfig, Trainer, load_weights, read_state};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/before-blocks")
}

/// `make.rs`'s network, with other initial weights (the checkpoint must overwrite them all).
fn tiny_residual_unet(device: &Device) -> UNet {
    device.seed(99);
    UNetConfig::small(1, 8)
        .with_base_channels(8)
        .with_channel_mults(vec![1, 2])
        .with_mid_mult(2)
        .with_groups(4)
        .with_block(BlockStyle::Residual)
        .with_attention_resolutions(vec![4, 2])
        .with_num_steps(50)
        .init(device)
}

/// `make.rs`'s training config.
fn config() -> TrainConfig {
    TrainConfig::new()
        .with_steps(4)
        .with_batch_size(Some(4))
        .with_learning_rate(2e-3)
        .with_adam_epsilon(1.0)
        .with_ema(Some(EmaConfig::new().with_decay(0.9)))
        .with_seed(7)
}

/// `make.rs`'s batches, from the third on.
fn batches_from_step_2(device: &Device) -> impl FnMut() -> Tensor<4> {
    let images: std::sync::Arc<[f32]> = (0..16 * 64).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let mut batches = ShuffledBatches::new(images, 64, 4, 3, 2);
    let device = device.clone();
    move || Tensor::from_data(TensorData::new(batches.next().unwrap().values, [4, 1, 8, 8]), &device)
}

/// The predictions of `online` and `ema` on `make.rs`'s fixed input, `[2, 4, 1, 8, 8]` flattened.
fn predictions(online: &UNet, ema: &UNet, device: &Device) -> Vec<f32> {
    let x: Vec<f32> = (0..4 * 64).map(|i| ((i * 13 % 29) as f32 / 14.0) - 1.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [4, 1, 8, 8]), device);
    let timesteps = [0, 17, 33, 49];
    let (online, ema) = (online.forward(x.clone(), &timesteps, None), ema.forward(x, &timesteps, None));
    Tensor::cat(vec![online, ema], 0).into_data().convert::<f32>().try_into_vec().unwrap()
}

/// The largest difference from the fixture `name`, relative to its largest value.
fn relative_difference(values: &[f32], name: &str) -> f32 {
    let (expected, _) = read_npy_f32(&fixtures().join(name)).unwrap();
    assert_eq!(values.len(), expected.len());
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    values.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max) / scale
}

#[test]
fn a_format_2_checkpoint_loads_to_the_same_predictions() {
    let device = Device::flex();
    let (dir, state) = read_state::<serde_json::Value>(&fixtures().join("run")).unwrap();
    assert_eq!((state.format, state.step), (2, 2), "the fixture is a format-2 checkpoint of step 2");
    let online = load_weights(tiny_residual_unet(&device), &dir, false).unwrap();
    let ema = load_weights(tiny_residual_unet(&device), &dir, true).unwrap();
    // The same weights; the attention's three projections are separate products now, and its scale a
    // product instead of a quotient, so only rounding may differ (measured: 8e-7).
    let difference = relative_difference(&predictions(&online, &ema, &device), "predictions-step-2.npy");
    assert!(difference < 1e-5, "predictions differ by up to {difference} of their largest");
}

#[test]
fn a_format_2_checkpoint_resumes_where_its_run_left_off() {
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 50).unwrap();
    let trainer = Trainer::new(tiny_residual_unet(&device), &schedule, &config()).unwrap();
    let mut trainer = trainer.resume(&fixtures().join("run")).unwrap();
    assert_eq!(trainer.step_count(), 2);
    let mut next = batches_from_step_2(&device);
    for _ in 0..2 {
        trainer.step(next());
    }
    let predictions = predictions(&trainer.model, trainer.ema.as_ref().unwrap(), &device);
    let difference = relative_difference(&predictions, "predictions-step-4.npy");
    // Measured: 1e-6 here; 1.8e-4 when AdamW's moments of the three projections restart from zero
    // instead of being split from the fused projection's.
    assert!(difference < 1e-5, "predictions after resuming differ by up to {difference} of their largest");
}
