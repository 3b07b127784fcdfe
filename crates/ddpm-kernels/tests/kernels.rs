//! Each kernel against Burn's own composition on flex (`with_burn_ops`), forward and every gradient:
//! - the GEMM convolution over odd sizes, batch 1, strides 1 and 2, and the kernel sizes and paddings
//!   the networks use (the 3x3 stride-1 cases, a 1x1 image among them, run their forward pass and
//!   input gradient by Winograd's F(2x2, 3x3));
//! - the fused GroupNorm + shift + SiLU over every group count the presets use, odd sizes, batch 1,
//!   with and without a shift;
//! - the upsample-and-concatenate over odd sizes and batch 1;
//! - the fully connected layer, with and without the ReLU after it, over the toy MLP's shapes, odd
//!   sizes, one row and a transposed (non-contiguous) input; and the layer over two column blocks,
//!   summed directly and by GEMM;
//! - multi-head attention over odd token counts (more than one block of queries among them), one and
//!   several heads, head widths from 1 to 64, batch 1, and inputs of very different scales.
#![cfg(feature = "flex")]

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Distribution, Tensor};

/// `|a - b| <= 1e-4 (1 + max |b|)` everywhere: f32 sums of up to a few hundred products taken in
/// another order differ by a few ulps of the largest partial sum.
fn assert_close<const D: usize>(what: &str, actual: Tensor<D>, expected: Tensor<D>) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shapes");
    let scale = expected.clone().abs().max().into_scalar::<f32>();
    let error = (actual - expected).abs().max().into_scalar::<f32>();
    assert!(error <= 1e-4 * (1.0 + scale), "{what}: max error {error} at scale {scale}");
}

struct Case {
    batch: usize,
    channels: [usize; 2],
    size: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
}

/// `[y, dx, dW, db]` of the loss `sum(y * probe)` through `run` (`db` as `[1, 1, 1, c_out]`).
fn run_case(conv: &Conv2d, x: &Tensor<4>, probe: &Tensor<4>, run: impl Fn(&Conv2d, Tensor<4>) -> Tensor<4>) -> [Tensor<4>; 4] {
    let x = x.clone().require_grad();
    let y = run(conv, x.clone());
    let grads = (y.clone() * probe.clone()).sum().backward();
    let dx = x.grad(&grads).expect("x requires a gradient");
    let d_weight = conv.weight.grad(&grads).expect("the weight requires a gradient");
    let d_bias = conv.bias.as_ref().expect("the conv has a bias").grad(&grads).expect("the bias requires a gradient");
    [y.inner(), dx, d_weight, d_bias.unsqueeze()]
}

#[test]
fn gemm_convolution_matches_burn_forward_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let cases = [
        Case { batch: 3, channels: [4, 6], size: [9, 7], kernel: 3, stride: 1, padding: 1 },
        Case { batch: 1, channels: [3, 5], size: [8, 8], kernel: 3, stride: 2, padding: 1 },
        Case { batch: 5, channels: [2, 3], size: [7, 5], kernel: 3, stride: 2, padding: 1 },
        Case { batch: 2, channels: [6, 4], size: [5, 6], kernel: 1, stride: 1, padding: 0 },
        Case { batch: 4, channels: [1, 8], size: [11, 11], kernel: 5, stride: 1, padding: 2 },
        Case { batch: 3, channels: [5, 2], size: [6, 9], kernel: 3, stride: 1, padding: 0 },
        Case { batch: 2, channels: [3, 3], size: [1, 1], kernel: 3, stride: 1, padding: 1 },
    ];
    for case in cases {
        let Case { batch, channels, size: [height, width], kernel, stride, padding } = case;
        let conv = Conv2dConfig::new(channels, [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
            .init(&device);
        let x = Tensor::<4>::random([batch, channels[0], height, width], Distribution::Normal(0.0, 1.0), &device);
        let probe_shape = ddpm_kernels::with_burn_ops(|| conv.forward(x.clone())).dims();
        let probe = Tensor::<4>::random(probe_shape, Distribution::Normal(0.0, 1.0), &device);
        let kernels = run_case(&conv, &x, &probe, ddpm_kernels::conv2d);
        let reference = ddpm_kernels::with_burn_ops(|| run_case(&conv, &x, &probe, ddpm_kernels::conv2d));
        let name = format!("{batch}x{channels:?}x{height}x{width}, k{kernel} s{stride} p{padding}");
        for ((what, actual), expected) in ["y", "dx", "dW", "db"].iter().zip(kernels).zip(reference) {
            assert_close(&format!("{name}: {what}"), actual, expected);
        }
    }
}

/// `[y, dx, dgamma, dbeta, dshift]` of the loss `sum(y * probe)` (the vectors as `[1, 1, 1, n]`,
/// `dshift` as `[1, 1, B, C]`; zeros without a shift).
fn run_norm(norm: &GroupNorm, x: &Tensor<4>, shift: Option<&Tensor<2>>, probe: &Tensor<4>) -> [Tensor<4>; 5] {
    let x = x.clone().require_grad();
    let shift = shift.map(|s| s.clone().require_grad());
    let y = ddpm_kernels::group_norm_silu(norm, x.clone(), shift.clone());
    let grads = (y.clone() * probe.clone()).sum().backward();
    let vector = |param: &Option<Param<Tensor<1>>>| param.as_ref().and_then(|p| p.grad(&grads)).expect("affine").unsqueeze();
    let d_shift = match &shift {
        Some(shift) => shift.grad(&grads).expect("the shift requires a gradient").unsqueeze(),
        None => Tensor::zeros([1, 1, 1, 1], &x.device().inner()),
    };
    [y.inner(), x.grad(&grads).expect("x requires a gradient"), vector(&norm.gamma), vector(&norm.beta), d_shift]
}

#[test]
fn fused_group_norm_silu_matches_burn_forward_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(11);
    // (batch, channels, groups, height, width, shifted): GroupNorm(8) and GroupNorm(32) as in the
    // presets, one channel per group, one group, odd sizes, batch 1, a 1x1 map.
    let cases = [(3, 16, 8, 7, 5, true), (1, 64, 32, 4, 4, false), (2, 6, 6, 3, 9, true), (4, 5, 1, 6, 6, false), (2, 8, 4, 1, 1, true)];
    for (batch, channels, groups, height, width, shifted) in cases {
        let mut norm: GroupNorm = GroupNormConfig::new(groups, channels).init(&device);
        // Learned-looking affine parameters, so that a kernel ignoring them fails.
        let parameter = |mean| Some(Param::from_tensor(Tensor::random([channels], Distribution::Normal(mean, 0.5), &device)));
        (norm.gamma, norm.beta) = (parameter(1.0), parameter(0.0));
        let x = Tensor::<4>::random([batch, channels, height, width], Distribution::Normal(1.0, 2.0), &device);
        let shift = shifted.then(|| Tensor::<2>::random([batch, channels], Distribution::Normal(0.0, 1.0), &device));
        let probe = Tensor::<4>::random([batch, channels, height, width], Distribution::Normal(0.0, 1.0), &device);
        let kernels = run_norm(&norm, &x, shift.as_ref(), &probe);
        let reference = ddpm_kernels::with_burn_ops(|| run_norm(&norm, &x, shift.as_ref(), &probe));
        let name = format!("{batch}x{channels}x{height}x{width}, {groups} groups, shift {shifted}");
        for ((what, actual), expected) in ["y", "dx", "dgamma", "dbeta", "dshift"].iter().zip(kernels).zip(reference) {
            assert_close(&format!("{name}: {what}"), actual, expected);
        }
    }
}

#[test]
fn nearest_upsampling_repeats_each_pixel_in_a_2x2_block() {
    let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &Device::flex());
    let y: Vec<f32> = ddpm_kernels::upsample_nearest(x).into_data().try_into_vec().unwrap();
    assert_eq!(y, vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]);
}

#[test]
fn upsample_cat_matches_burn_forward_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(11);
    for (batch, channels, skip_channels, height, width) in [(3, 4, 2, 3, 5), (1, 1, 3, 1, 1), (2, 8, 8, 7, 7)] {
        let x = Tensor::<4>::random([batch, channels, height, width], Distribution::Normal(0.0, 1.0), &device);
        let skip = Tensor::<4>::random([batch, skip_channels, 2 * height, 2 * width], Distribution::Normal(0.0, 1.0), &device);
        let probe_shape = [batch, channels + skip_channels, 2 * height, 2 * width];
        let probe = Tensor::<4>::random(probe_shape, Distribution::Normal(0.0, 1.0), &device);
        let run = || {
            let (x, skip) = (x.clone().require_grad(), skip.clone().require_grad());
            let y = ddpm_kernels::upsample_nearest_cat(x.clone(), skip.clone());
            let grads = (y.clone() * probe.clone()).sum().backward();
            [y.inner(), x.grad(&grads).expect("x requires a gradient"), skip.grad(&grads).expect("skip requires a gradient")]
        };
        let kernels = run();
        let reference = ddpm_kernels::with_burn_ops(run);
        let name = format!("{batch}x({channels}+{skip_channels})x{height}x{width}");
        for ((what, actual), expected) in ["y", "dx", "dskip"].iter().zip(kernels).zip(reference) {
            assert_close(&format!("{name}: {what}"), actual, expected);
        }
    }
}

/// `[y, dx, dW, db]` of the loss `sum(y * probe)` through the layer (`db` as `[1, d_output]`).
fn run_linear(layer: &Linear, x: &Tensor<2>, probe: &Tensor<2>, relu: bool) -> [Tensor<2>; 4] {
    let x = x.clone().require_grad();
    let y = if relu { ddpm_kernels::linear_relu(layer, x.clone()) } else { ddpm_kernels::linear(layer, x.clone()) };
    let grads = (y.clone() * probe.clone()).sum().backward();
    let d_bias = layer.bias.as_ref().expect("the layer has a bias").grad(&grads).expect("the bias requires a gradient");
    [
        y.inner(),
        x.grad(&grads).expect("x requires a gradient"),
        layer.weight.grad(&grads).expect("the weight requires a gradient"),
        d_bias.unsqueeze(),
    ]
}

#[test]
fn linear_layer_matches_burn_forward_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(5);
    // (rows, inputs, outputs, relu, transposed input): the toy MLP's three layers on a slice of its
    // batch, odd sizes, one row, and an input that is a transposed view.
    let cases = [
        (500, 2, 128, true, false),
        (500, 128, 128, true, false),
        (500, 128, 1, false, false),
        (7, 5, 3, true, false),
        (1, 4, 6, false, false),
        (9, 6, 5, true, true),
    ];
    for (rows, inputs, outputs, relu, transposed) in cases {
        let layer = LinearConfig::new(inputs, outputs).init(&device);
        let x = if transposed {
            Tensor::<2>::random([inputs, rows], Distribution::Normal(0.0, 1.0), &device).transpose()
        } else {
            Tensor::<2>::random([rows, inputs], Distribution::Normal(0.0, 1.0), &device)
        };
        let probe = Tensor::<2>::random([rows, outputs], Distribution::Normal(0.0, 1.0), &device);
        let kernels = run_linear(&layer, &x, &probe, relu);
        let reference = ddpm_kernels::with_burn_ops(|| run_linear(&layer, &x, &probe, relu));
        let name = format!("{rows}x{inputs} -> {outputs}, relu {relu}, transposed {transposed}");
        for ((what, actual), expected) in ["y", "dx", "dW", "db"].iter().zip(kernels).zip(reference) {
            assert_close(&format!("{name}: {what}"), actual, expected);
        }
    }
}

#[test]
fn linear_of_cat_matches_burn_forward_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(9);
    // (rows, inputs of a, inputs of b, outputs, relu): the toy's first layer (x_t and t/T, summed
    // directly), a sinusoidal time input (by GEMM), one row, and no ReLU.
    for (rows, inputs_a, inputs_b, outputs, relu) in [(500, 1, 1, 128, true), (7, 2, 16, 5, true), (1, 3, 1, 4, false), (9, 1, 3, 6, false)]
    {
        let layer = LinearConfig::new(inputs_a + inputs_b, outputs).init(&device);
        let a = Tensor::<2>::random([rows, inputs_a], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<2>::random([rows, inputs_b], Distribution::Normal(0.0, 1.0), &device);
        let probe = Tensor::<2>::random([rows, outputs], Distribution::Normal(0.0, 1.0), &device);
        let run = || {
            let (a, b) = (a.clone().require_grad(), b.clone().require_grad());
            let y = ddpm_kernels::linear_of_cat(&layer, a.clone(), b.clone(), relu);
            let grads = (y.clone() * probe.clone()).sum().backward();
            let d_bias = layer.bias.as_ref().expect("the layer has a bias").grad(&grads).expect("the bias requires a gradient");
            let d_weight = layer.weight.grad(&grads).expect("the weight requires a gradient");
            let (d_a, d_b) = (a.grad(&grads).expect("a requires a gradient"), b.grad(&grads).expect("b requires a gradient"));
            [y.inner(), d_a, d_b, d_weight, d_bias.unsqueeze()]
        };
        let kernels = run();
        let reference = ddpm_kernels::with_burn_ops(run);
        let name = format!("{rows}x({inputs_a}+{inputs_b}) -> {outputs}, relu {relu}");
        for ((what, actual), expected) in ["y", "da", "db", "dW", "dbias"].iter().zip(kernels).zip(reference) {
            assert_close(&format!("{name}: {what}"), actual, expected);
        }
    }
}

/// `[out, dq, dk, dv]` of the loss `sum(out * probe)`.
fn run_attention(inputs: &[Tensor<3>; 3], heads: usize, probe: &Tensor<3>) -> [Tensor<3>; 4] {
    let [q, k, v] = inputs.clone().map(|t| t.require_grad());
    let out = ddpm_kernels::multi_head_attention(q.clone(), k.clone(), v.clone(), heads);
    let grads = (out.clone() * probe.clone()).sum().backward();
    let grad = |t: &Tensor<3>| t.grad(&grads).expect("the input requires a gradient");
    [out.inner(), grad(&q), grad(&k), grad(&v)]
}

#[test]
fn attention_matches_burn_forward_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(11);
    // (batch, tokens, channels, heads, scale of q and k): 150 tokens are three blocks of queries, the
    // last partial; 7 x 7 = 49 and 14 x 14 = 196 are the seed UNet2DModel's maps, 8 heads of 8.
    let cases =
        [(2, 5, 6, 2, 1.0), (1, 150, 4, 1, 1.0), (3, 49, 64, 8, 1.0), (2, 196, 64, 8, 0.5), (1, 70, 128, 2, 4.0), (2, 9, 3, 3, 1.0)];
    for (batch, tokens, channels, heads, scale) in cases {
        let random = |std: f64| Tensor::<3>::random([batch, tokens, channels], Distribution::Normal(0.0, std), &device);
        let inputs = [random(scale), random(scale), random(1.0)];
        let probe = random(1.0);
        let kernels = run_attention(&inputs, heads, &probe);
        let reference = ddpm_kernels::with_burn_ops(|| run_attention(&inputs, heads, &probe));
        let name = format!("{batch}x{tokens}x{channels}, {heads} heads, q and k ~ N(0, {scale}^2)");
        for ((what, actual), expected) in ["out", "dq", "dk", "dv"].iter().zip(kernels).zip(reference) {
            assert_close(&format!("{name}: {what}"), actual, expected);
        }
    }
}
