use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};

use super::*;

#[test]
fn the_mnist_preset_has_diffusers_parameter_count() {
    // diffusers 0.42.1: sum(p.numel() for p in UNet2DModel(<the seed's config>).parameters())
    assert_eq!(UNet2DConfig::mnist().init(&Device::flex()).num_params(), 1_707_009);
}

#[test]
fn a_class_embedded_network_reads_no_label_as_its_last_class() {
    let device = Device::flex();
    let config = UNet2DConfig::new(8, vec![8, 16], vec![DownBlockType::DownBlock2D; 2], vec![UpBlockType::UpBlock2D; 2])
        .with_in_channels(1)
        .with_out_channels(1)
        .with_norm_num_groups(4)
        .with_num_class_embeds(Some(3));
    let model = config.init(&device);
    assert_eq!(model.num_classes(), Some(2));
    let x = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let unlabelled = model.forward(x.clone(), &[10, 10], None);
    let null_class = model.forward(x.clone(), &[10, 10], Some(&[2, 2]));
    let first_class = model.forward(x, &[10, 10], Some(&[0, 0]));
    assert_eq!(unlabelled.clone().into_data(), null_class.into_data());
    assert!(unlabelled.sub(first_class).abs().max().into_scalar::<f32>() > 1e-4, "the class changes the output");
}

#[test]
fn bad_configurations_are_refused_naming_the_field() {
    let with = |sample_size: usize, widths: Vec<usize>, down: DownBlockType| {
        UNet2DConfig::new(sample_size, widths, vec![down; 2], vec![UpBlockType::UpBlock2D; 2]).with_norm_num_groups(8)
    };
    let base = || with(16, vec![16, 24], DownBlockType::DownBlock2D);
    assert!(base().validate().is_ok());
    let cases = [
        (base().with_norm_num_groups(5), "norm_num_groups 5"),
        (with(16, vec![16], DownBlockType::DownBlock2D), "one entry per level"),
        (with(15, vec![16, 24], DownBlockType::DownBlock2D), "sample_size 15"),
        (with(16, vec![16, 24], DownBlockType::AttnDownBlock2D).with_attention_head_dim(Some(5)), "attention_head_dim 5"),
        (base().with_downsample_padding(2), "downsample_padding"),
        (base().with_dropout(1.0), "dropout"),
        (base().with_norm_eps(f64::NAN), "norm_eps"),
        (base().with_layers_per_block(0), "layers_per_block"),
        (with(16, vec![1 << 20, 1 << 20], DownBlockType::DownBlock2D).with_norm_num_groups(1), "too large"),
        // The first level of a 1024-pixel model attends over 1024 x 1024 maps: 4 TB per image and head.
        (with(1024, vec![16, 24], DownBlockType::AttnDownBlock2D), "1024 x 1024 feature maps"),
        (with(256, vec![16, 24], DownBlockType::AttnDownBlock2D), "256 x 256 feature maps"),
    ];
    for (config, expected) in cases {
        let problem = config.validate().expect_err(expected).to_string();
        assert!(problem.contains(expected), "{problem:?} should mention {expected:?}");
    }
}
