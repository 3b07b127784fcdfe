use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};

use super::*;

/// Parameters of the PyTorch benchmark's small UNet (`mnist_unet.py` of the team's PyTorch reference
/// workloads), counted layer by layer from its source: the count is written out here, so the test needs no file.
fn torch_small_unet_params() -> usize {
    let conv = |c_in: usize, c_out: usize, k: usize| c_in * c_out * k * k + c_out;
    let linear = |i: usize, o: usize| i * o + o;
    let block = |c_in: usize, c_out: usize| conv(c_in, c_out, 3) + 2 * c_out + linear(128, c_out);
    linear(32, 128)
        + linear(128, 128)
        + block(1, 32)
        + block(32, 32)
        + conv(32, 32, 3)
        + block(32, 64)
        + block(64, 64)
        + conv(64, 64, 3)
        + block(64, 128)
        + block(128, 128)
        + block(192, 64)
        + block(64, 64)
        + block(96, 32)
        + block(32, 32)
        + conv(32, 1, 1)
}

#[test]
fn small_preset_matches_the_pytorch_benchmark_network() {
    let model = UNetConfig::small(1, 28).init(&Device::flex());
    assert_eq!(model.num_params(), torch_small_unet_params());
    assert!((610_000..630_000).contains(&model.num_params()), "0.62 M parameters: {}", model.num_params());
    let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Normal(0.0, 1.0), &Device::flex());
    assert_eq!(model.forward(x, &[0, 999], None).dims(), [2, 1, 28, 28]);
}

/// Parameters of the single-image reference's "improved U-Net", counted layer by layer from its
/// description: time 32 -> Linear(32, 32) -> SiLU; each block Conv3x3-GroupNorm-(+ Linear(32, out))-SiLU-
/// Conv3x3-GroupNorm-SiLU; down 1->64->128->256, bottleneck 256->512, up on [upsampled, skip]
/// concatenations 768->256, 384->128, 192->64, then a 1x1 conv to the output.
fn reference_improved_unet_params(base: usize) -> usize {
    let conv = |c_in: usize, c_out: usize, k: usize| c_in * c_out * k * k + c_out;
    let block = |c_in: usize, c_out: usize| conv(c_in, c_out, 3) + 2 * c_out + (32 * c_out + c_out) + conv(c_out, c_out, 3) + 2 * c_out;
    let [w1, w2, w3, mid] = [base, 2 * base, 4 * base, 8 * base];
    (32 * 32 + 32)
        + block(1, w1)
        + block(w1, w2)
        + block(w2, w3)
        + block(w3, mid)
        + block(mid + w3, w3)
        + block(w3 + w2, w2)
        + block(w2 + w1, w1)
        + conv(w1, 1, 1)
}

#[test]
fn improved_preset_matches_the_single_image_reference_network() {
    let model = UNetConfig::improved(1, 128).init(&Device::flex());
    assert_eq!(model.num_params(), reference_improved_unet_params(64));
    assert_eq!(model.num_params(), 7_834_913);
    let half_width = UNetConfig::improved(1, 64).with_base_channels(32).init(&Device::flex());
    assert_eq!(half_width.num_params(), reference_improved_unet_params(32));
}

#[test]
fn every_preset_maps_images_to_images() {
    let device = Device::flex();
    for (name, config, size) in [("improved", UNetConfig::improved(3, 16), 16), ("ddpm", UNetConfig::ddpm(1, 32, 32), 32)] {
        let model = config.init(&device);
        let channels = config.in_channels;
        let x = Tensor::<4>::random([1, channels, size, size], Distribution::Normal(0.0, 1.0), &device);
        let y = model.forward(x, &[500], None);
        assert_eq!(y.dims(), [1, channels, size, size], "{name}");
        let values: Vec<f32> = y.into_data().try_into_vec().unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{name}");
    }
    let basic = BasicUNetConfig::new().init(&device);
    assert_eq!(basic.forward(Tensor::zeros([3, 1, 28, 28], &device)).dims(), [3, 1, 28, 28]);
}

#[test]
fn the_time_input_changes_the_output() {
    let device = Device::flex();
    let model = UNetConfig::small(1, 8).with_channel_mults(vec![1]).init(&device);
    let x = Tensor::<4>::random([1, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let a = model.forward(x.clone(), &[10], None);
    let b = model.forward(x, &[900], None);
    assert!(a.sub(b).abs().max().into_scalar::<f32>() > 1e-4);
}

#[test]
fn sizes_the_downsampling_cannot_divide_are_explained() {
    let err = UNetConfig::improved(1, 100).validate().unwrap_err().to_string();
    assert!(err.contains("multiple of 8") && err.contains("96"), "{err}");
    let err = UNetConfig::small(1, 28).with_groups(5).validate().unwrap_err().to_string();
    assert!(err.contains("5 groups"), "{err}");
    // Attention over 256 x 256 maps would need 17 GB per image and head; 128 x 128 is the largest allowed,
    // and a listed resolution no level has places no attention.
    let ddpm = |size: usize, resolutions: Vec<usize>| UNetConfig::ddpm(1, size, 32).with_attention_resolutions(resolutions);
    let err = ddpm(512, vec![256]).validate().unwrap_err().to_string();
    assert!(err.contains("256 x 256") && err.contains("17 GB"), "{err}");
    assert!(ddpm(512, vec![128]).validate().is_ok());
    assert!(ddpm(512, vec![384]).validate().is_ok());
}

#[test]
fn a_conditional_unet_answers_to_its_class_and_counts_the_null_class() {
    let device = Device::flex();
    let model = UNetConfig::small(1, 28).with_num_classes(Some(10)).init(&device);
    assert_eq!(model.num_classes(), Some(10));
    assert_eq!(UNetConfig::small(1, 28).init(&device).num_classes(), None);
    let x = Tensor::<4>::ones([2, 1, 28, 28], &device);
    let three = model.forward(x.clone(), &[500, 500], Some(&[3, 3]));
    let seven = model.forward(x.clone(), &[500, 500], Some(&[7, 7]));
    let null = model.forward(x.clone(), &[500, 500], Some(&[10, 10]));
    let none = model.forward(x, &[500, 500], None);
    let gap = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>();
    assert!(gap(three.clone(), seven) > 1e-4, "the class must change the output");
    assert_eq!(gap(null.clone(), none), 0.0, "no labels is the null class");
    assert!(gap(three, null) > 1e-4);
}
