//! One seed, the same numbers on every backend: noise and timesteps come from the project's own host
//! RNG, not the backend's, so flex, ndarray and wgpu agree up to float rounding.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{BetaSchedule, NoiseRng, NoiseSchedule};
use ddpm_nets::{UNet, UNetConfig};
use ddpm_sample::{DdimSampler, Sampler, Spacing};
use ddpm_train::{TrainConfig, Trainer};

fn network() -> UNetConfig {
    UNetConfig::small(1, 8).with_base_channels(8).with_channel_mults(vec![1]).with_mid_mult(2).with_num_steps(100)
}

/// The same weights on `device`: initialised on flex, saved, and loaded.
fn same_weights(device: &Device, file: &std::path::Path) -> UNet {
    if !file.exists() {
        network().init(&Device::flex()).save_file(file).unwrap();
    }
    network().init(device).load_file(file)
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Three training steps from the weights in `file`, then a DDIM sample (eta 1, so the sampler's own
/// noise is used too): the losses and the samples.
fn train_and_sample(device: Device, file: &std::path::Path) -> (Vec<f32>, Vec<f32>) {
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100).unwrap();
    let batch: Vec<f32> = (0..4 * 64).map(|i| ((i * 29 % 97) as f32 / 48.0) - 1.0).collect();
    let config = TrainConfig::new().with_learning_rate(1e-3).with_grad_clip_norm(Some(1.0)).with_seed(5);
    let autodiff = device.clone().autodiff();
    let mut trainer = Trainer::new(same_weights(&autodiff, file), &schedule, &config).unwrap();
    let losses: Vec<f32> = (0..3)
        .map(|_| trainer.step(Tensor::<4>::from_data(TensorData::new(batch.clone(), [4, 1, 8, 8]), &autodiff)).into_scalar::<f32>())
        .collect();
    let model = trainer.model.valid();
    let samples = DdimSampler::new(&schedule, 10, Spacing::Leading).with_eta(1.0).sample(
        &model,
        [3, 1, 8, 8],
        &mut NoiseRng::new(1),
        &device,
        None,
        |_, _| {},
    );
    (losses, samples.samples.into_data().try_into_vec().unwrap())
}

#[test]
fn flex_and_ndarray_train_and_sample_alike_from_one_seed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weights.bpk");
    let (flex_losses, flex_samples) = train_and_sample(Device::flex(), &file);
    #[allow(deprecated)] // ndarray is deprecated in Burn 0.22 but still supported here, so it is tested.
    let (ndarray_losses, ndarray_samples) = train_and_sample(Device::ndarray(), &file);
    assert!(max_difference(&flex_losses, &ndarray_losses) < 1e-4, "losses {flex_losses:?} vs {ndarray_losses:?}");
    assert!(
        max_difference(&flex_samples, &ndarray_samples) < 1e-3,
        "samples differ by {}",
        max_difference(&flex_samples, &ndarray_samples)
    );
    // And the seed matters: another one gives other samples.
    assert!(flex_samples.iter().any(|v| v.abs() > 1e-3));
}

/// The GPU path: the same U-Net steps and sampler on wgpu give the CPU's numbers. CI runs it on Mesa's
/// software Vulkan (`mesa-vulkan-drivers`): `cargo test -p mnist-train --features wgpu --test backends`.
///
/// It is why the apps build wgpu without Burn's kernel fusion: with fusion and autotune both on (Burn's
/// default features), every op alone and the U-Net's forward pass and loss matched flex to 1e-6, but after
/// `Trainer::step`'s backward pass and AdamW the loss and weights were wrong (first loss 0.65 against
/// flex's 1.29), as in Burn's reports tracel-ai/burn#5079 and #5257. Without fusion it passes.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_trains_and_samples_like_flex() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weights.bpk");
    let (flex_losses, flex_samples) = train_and_sample(Device::flex(), &file);
    let (gpu_losses, gpu_samples) = train_and_sample(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice), &file);
    assert!(max_difference(&flex_losses, &gpu_losses) < 1e-4, "losses {flex_losses:?} vs {gpu_losses:?}");
    assert!(max_difference(&flex_samples, &gpu_samples) < 1e-3, "samples differ by {}", max_difference(&flex_samples, &gpu_samples));
}
