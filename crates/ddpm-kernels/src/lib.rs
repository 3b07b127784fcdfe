//! The project's own CPU kernels for the U-Nets.
//!
//! Each op is a function over Burn modules and tensors that runs the project's kernel when the tensor
//! lives on flex (with or without autodiff) and the op's settings are ones the kernel covers, and Burn's
//! own op otherwise, so wgpu, CUDA and ndarray keep their kernels:
//! - [`conv2d`]: a `Conv2d` forward by GEMM straight into the output (see `gemm_conv`), with its own
//!   input, weight and bias gradients; the forward pass and input gradient of a 3x3 convolution of
//!   stride 1 by Winograd's F(2x2, 3x3), with 16 multiplications where the GEMM makes 36 (see
//!   `winograd`);
//! - [`group_norm_silu`]: GroupNorm, a per-channel shift (the time embedding) and SiLU in one pass
//!   over the activations, and its backward in two (see `group_norm`);
//! - [`upsample_nearest_cat`]: the U-Net decoder's nearest 2x upsampling and skip concatenation in
//!   one pass (see `upsample`);
//! - [`linear`] and [`linear_relu`]: a fully connected layer, and one followed by a ReLU, with the bias
//!   and the ReLU applied in one pass over the GEMM's output (see `linear`): the toy's MLP;
//!   [`linear_of_cat`] is the same layer over two column blocks of its input, not concatenated;
//! - [`multi_head_attention`]: `softmax(Q K^T / sqrt(d)) V` per head over blocks of queries, never
//!   holding a head's `[N, N]` weights whole, and its backward pass from each row's log-sum-exp, as
//!   flash attention does (see `attention`).
//!
//! `DDPM_KERNELS=burn` in the environment, or [`with_burn_ops`] around a call, runs Burn's ops
//! everywhere: the reference the kernels are tested and benchmarked against. `DDPM_KERNELS=conv2d`
//! (a comma-separated list of [`Kernel`] names) runs only those kernels.

#[cfg(feature = "flex")]
#[macro_use]
mod simd;

#[cfg(feature = "flex")]
mod attention;
#[cfg(feature = "flex")]
mod extension;
#[cfg(feature = "flex")]
mod gemm_conv;
#[cfg(feature = "flex")]
mod group_norm;
#[cfg(feature = "flex")]
mod linear;
#[cfg(feature = "flex")]
mod scratch;
#[cfg(feature = "flex")]
mod shares;
mod switch;
#[cfg(feature = "flex")]
mod upsample;
#[cfg(feature = "flex")]
mod winograd;

use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, Linear};
use burn::tensor::Tensor;
use burn::tensor::activation::{relu, silu, softmax};

pub use switch::{Kernel, enabled, with_burn_ops};

/// `conv.forward(x)`, by the GEMM kernel on flex when the convolution has a bias, one group, no
/// dilation, a square kernel and the same stride and padding on every side (every convolution of the
/// project's networks), and by Burn's op otherwise.
///
/// # Shapes
/// `x`: `[B, c_in, H, W]` -> `[B, c_out, h_out, w_out]`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some((stride, padding)) = gemm_settings(conv, &x) {
        use burn::backend::Dispatch;
        use extension::Kernels;
        let bias = conv.bias.as_ref().expect("gemm_settings requires a bias").val();
        let y =
            <Dispatch as Kernels>::conv2d_gemm(x.into_dispatch(), conv.weight.val().into_dispatch(), bias.into_dispatch(), stride, padding);
        return Tensor::from_dispatch(y);
    }
    conv.forward(x)
}

/// `silu(norm.forward(x) + shift)`, the shift (`[B, C]`, the projected time embedding) broadcast
/// over the pixels, or `silu(norm.forward(x))` without one; by the fused kernel on flex for an affine
/// GroupNorm (every one of the project's networks), by Burn's ops otherwise.
///
/// # Shapes
/// `x`: `[B, C, H, W]`, `shift`: `[B, C]` -> `[B, C, H, W]`
pub fn group_norm_silu(norm: &GroupNorm, x: Tensor<4>, shift: Option<Tensor<2>>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let (true, Some(gamma), Some(beta)) = (runs_on_kernels(Kernel::GroupNormSilu, &x), &norm.gamma, &norm.beta) {
        use burn::backend::Dispatch;
        use extension::Kernels;
        let [batch, channels, _, _] = x.dims();
        if channels == norm.num_channels && channels.is_multiple_of(norm.num_groups) {
            let shift = shift.unwrap_or_else(|| Tensor::zeros([batch, channels], &x.device()));
            let (gamma, beta) = (gamma.val().into_dispatch(), beta.val().into_dispatch());
            let y = <Dispatch as Kernels>::group_norm_silu(
                x.into_dispatch(),
                gamma,
                beta,
                shift.into_dispatch(),
                norm.num_groups,
                norm.epsilon,
            );
            return Tensor::from_dispatch(y);
        }
    }
    let normed = norm.forward(x);
    silu(match shift {
        Some(shift) => normed + shift.unsqueeze_dims(&[2, 3]),
        None => normed,
    })
}

/// Nearest-neighbour 2x upsampling: each pixel becomes a 2x2 block (Burn's ops, on every backend;
/// [`upsample_nearest_cat`] is the kernel where a skip follows).
///
/// # Shapes
/// `x`: `[B, C, H, W]` -> `[B, C, 2H, 2W]`
pub fn upsample_nearest(x: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    x.reshape([batch, channels, height, 1, width, 1]).expand([batch, channels, height, 2, width, 2]).reshape([
        batch,
        channels,
        2 * height,
        2 * width,
    ])
}

/// `cat([upsample_nearest(x), skip], 1)`, the U-Net decoder's input, by the one-pass kernel on flex
/// and by Burn's ops otherwise.
///
/// # Shapes
/// `x`: `[B, C, H, W]`, `skip`: `[B, C_skip, 2H, 2W]` -> `[B, C + C_skip, 2H, 2W]`
pub fn upsample_nearest_cat(x: Tensor<4>, skip: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if runs_on_kernels(Kernel::UpsampleCat, &x) && runs_on_kernels(Kernel::UpsampleCat, &skip) {
        use burn::backend::Dispatch;
        use extension::Kernels;
        let ([batch, _, height, width], [skip_batch, _, skip_height, skip_width]) = (x.dims(), skip.dims());
        assert!(
            [skip_batch, skip_height, skip_width] == [batch, 2 * height, 2 * width],
            "upsample_nearest_cat: a skip of {:?} cannot follow an upsampled {:?}",
            skip.dims(),
            x.dims()
        );
        return Tensor::from_dispatch(<Dispatch as Kernels>::upsample_cat(x.into_dispatch(), skip.into_dispatch()));
    }
    Tensor::cat(vec![upsample_nearest(x), skip], 1)
}

/// `layer.forward(x)`, by the kernel on flex for a layer with a bias, by Burn's op otherwise.
///
/// # Shapes
/// `x`: `[rows, d_input]` -> `[rows, d_output]`
pub fn linear(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    fused_linear(layer, x, false)
}

/// `relu(layer.forward(x))`, by the kernel on flex for a layer with a bias, by Burn's ops otherwise.
///
/// # Shapes
/// `x`: `[rows, d_input]` -> `[rows, d_output]`
pub fn linear_relu(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    fused_linear(layer, x, true)
}

/// `layer.forward(cat([a, b], 1))`, through a ReLU when `then_relu`: on flex by the kernel, which reads
/// `a` and `b` as the two column blocks of the input without concatenating them (the MLP's `x_t` and its
/// time input), by Burn's ops otherwise.
///
/// # Shapes
/// `a`: `[rows, d_a]`, `b`: `[rows, d_b]` -> `[rows, d_output]`, for a layer of `d_a + d_b` inputs
pub fn linear_of_cat(layer: &Linear, a: Tensor<2>, b: Tensor<2>, then_relu: bool) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if let Some((weight, bias)) = linear_parameters(layer, &[&a, &b]) {
        use burn::backend::Dispatch;
        use extension::Kernels;
        let ([rows, inputs_a], [rows_b, inputs_b]) = (a.dims(), b.dims());
        assert!(
            rows == rows_b && inputs_a + inputs_b == weight.dims()[0],
            "linear_of_cat: inputs of {:?} and {:?} for a layer of {:?}",
            a.dims(),
            b.dims(),
            weight.dims()
        );
        let [a, b, weight] = [a, b, weight].map(|t| t.into_dispatch());
        let y = <Dispatch as Kernels>::linear_of_cat_layer(a, b, weight, bias.into_dispatch(), then_relu);
        return Tensor::from_dispatch(y);
    }
    fused_linear(layer, Tensor::cat(vec![a, b], 1), then_relu)
}

/// `layer.forward(x)`, through a ReLU when `then_relu`.
fn fused_linear(layer: &Linear, x: Tensor<2>, then_relu: bool) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if let Some((weight, bias)) = linear_parameters(layer, &[&x]) {
        use burn::backend::Dispatch;
        use extension::Kernels;
        assert_eq!(x.dims()[1], weight.dims()[0], "linear: an input of {:?} for a layer of {:?}", x.dims(), weight.dims());
        let y = <Dispatch as Kernels>::linear_layer(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), then_relu);
        return Tensor::from_dispatch(y);
    }
    let y = layer.forward(x);
    if then_relu { relu(y) } else { y }
}

/// Multi-head attention `softmax(Q K^T / sqrt(d)) V` with `d = C / heads`, each head's columns of `q`,
/// `k` and `v` side by side in C (as the projections `to_q`, `to_k`, `to_v` produce them): by the
/// kernel on flex, which reads the heads through strides and never holds a head's `[N, N]` weights
/// whole, and by Burn's ops otherwise (split heads, matmul, softmax, matmul, merge).
///
/// # Shapes
/// `q`, `k`, `v`: `[B, N, C]` -> `[B, N, C]`
pub fn multi_head_attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize) -> Tensor<3> {
    let [batch, tokens, channels] = q.dims();
    assert!(
        heads > 0 && channels.is_multiple_of(heads) && k.dims() == q.dims() && v.dims() == q.dims(),
        "multi_head_attention: q {:?}, k {:?}, v {:?} with {heads} heads",
        q.dims(),
        k.dims(),
        v.dims()
    );
    #[cfg(feature = "flex")]
    if [&q, &k, &v].iter().all(|t| runs_on_kernels(Kernel::Attention, t)) {
        use burn::backend::Dispatch;
        use extension::Kernels;
        let [q, k, v] = [q, k, v].map(|t| t.into_dispatch());
        return Tensor::from_dispatch(<Dispatch as Kernels>::multi_head_attention(q, k, v, heads));
    }
    let head_dim = channels / heads;
    let split_heads = |t: Tensor<3>| t.reshape([batch, tokens, heads, head_dim]).swap_dims(1, 2); // [B, heads, N, d]
    let (q, k, v) = (split_heads(q), split_heads(k), split_heads(v));
    let weights = softmax(q.matmul(k.swap_dims(2, 3)).mul_scalar((head_dim as f64).powf(-0.5)), 3); // [B, heads, N, N]
    weights.matmul(v).swap_dims(1, 2).reshape([batch, tokens, channels])
}

/// The layer's weight and bias when the linear kernel covers it on `inputs`: every input may run on
/// the kernels (see [`runs_on_kernels`]), and the layer is a non-empty f32 one with a bias.
#[cfg(feature = "flex")]
fn linear_parameters(layer: &Linear, inputs: &[&Tensor<2>]) -> Option<(Tensor<2>, Tensor<1>)> {
    let weight = layer.weight.val();
    let covered = inputs.iter().all(|x| runs_on_kernels(Kernel::Linear, x))
        && weight.dtype() == burn::tensor::DType::F32
        && weight.shape().num_elements() > 0;
    let bias = layer.bias.as_ref().filter(|_| covered)?;
    Some((weight, bias.val()))
}

/// Whether `kernel` may take `x`: it is enabled, and `x` is an f32 tensor with no empty axis on flex
/// (with or without autodiff).
#[cfg(feature = "flex")]
fn runs_on_kernels<const D: usize>(kernel: Kernel, x: &Tensor<D>) -> bool {
    use burn::backend::DispatchDevice;
    enabled(kernel)
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        && x.dtype() == burn::tensor::DType::F32
        && x.shape().num_elements() > 0
}

/// `(stride, padding)` when the kernel covers this convolution of `x`.
#[cfg(feature = "flex")]
fn gemm_settings(conv: &Conv2d, x: &Tensor<4>) -> Option<(usize, usize)> {
    use burn::nn::PaddingConfig2d;
    let [_, _, height, width] = x.dims();
    let [kernel, kernel_w] = conv.kernel_size;
    let [stride, stride_w] = conv.stride;
    let padding = match conv.padding {
        PaddingConfig2d::Valid => Some(0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => [left, bottom, right].iter().all(|&p| p == top).then_some(top),
        PaddingConfig2d::Same => None,
    };
    let covered = runs_on_kernels(Kernel::Conv2d, x)
        && conv.weight.val().dtype() == burn::tensor::DType::F32
        && conv.bias.is_some()
        && conv.groups == 1
        && conv.dilation == [1, 1]
        && kernel == kernel_w
        && stride == stride_w
        && stride > 0;
    let padding = padding.filter(|&p| covered && height + 2 * p >= kernel && width + 2 * p >= kernel)?;
    Some((stride, padding))
}
