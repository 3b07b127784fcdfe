//! The kernels as a Burn backend extension: implemented on flex, differentiated through `Autodiff`
//! by the kernels' own gradients.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Bytes, DType, Flex, TensorMetadata, backend_extension};

use crate::attention::{self, AttentionGeometry};
use crate::gemm_conv::{self, ConvGeometry};
use crate::group_norm::{self, NormGeometry};
use crate::linear::{self, LinearGeometry};
use crate::switch::{Kernel, enabled};
use crate::upsample::{self, UpsampleGeometry};
use crate::winograd;

/// The kernels' ops.
#[backend_extension(Flex, Autodiff)]
pub trait Kernels: Backend {
    /// Convolution by GEMM (see [`gemm_conv`]); `stride` and `padding` apply to both axes.
    /// `[B, c_in, H, W]`, `[c_out, c_in, k, k]`, `[c_out]` -> `[B, c_out, h_out, w_out]`
    fn conv2d_gemm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
    /// `silu(GroupNorm(x) + shift)` (see [`group_norm`]).
    /// `x` `[B, C, H, W]`, `gamma` and `beta` `[C]`, `shift` `[B, C]` -> `[B, C, H, W]`
    fn group_norm_silu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> FloatTensor<Self>;
    /// `cat([upsample_2x(x), skip], 1)` (see [`upsample`]).
    /// `x` `[B, C, H, W]`, `skip` `[B, C_skip, 2H, 2W]` -> `[B, C + C_skip, 2H, 2W]`
    fn upsample_cat(x: FloatTensor<Self>, skip: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `x W + b`, through a ReLU when `relu` (see [`linear`]).
    /// `x` `[rows, inputs]`, `weight` `[inputs, outputs]`, `bias` `[outputs]` -> `[rows, outputs]`
    fn linear_layer(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, relu: bool) -> FloatTensor<Self>;
    /// `[a b] W + bias`, through a ReLU when `relu`: the layer over `cat([a, b], 1)` without the copy
    /// (see [`linear::forward_of_cat`]).
    /// `a` `[rows, inputs_a]`, `b` `[rows, inputs_b]`, `weight` `[inputs_a + inputs_b, outputs]`, `bias` `[outputs]` -> `[rows, outputs]`
    fn linear_of_cat_layer(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;
    /// Multi-head `softmax(Q K^T / sqrt(d)) V` (see [`attention`]), the heads side by side in C.
    /// `q`, `k`, `v` `[B, N, C]` -> `[B, N, C]`
    fn multi_head_attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>, heads: usize) -> FloatTensor<Self>;
}

/// What autodiff needs of the backend it wraps for [`Kernels`]: the gradients, and the forward
/// passes that also return what the gradients need. They are not differentiated again.
pub trait KernelGradients: Backend {
    /// [`Kernels::group_norm_silu`] and its statistics `[B, G, 2]` (mean, rstd).
    fn group_norm_silu_with_stats(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// `(dx, dgamma, dbeta, dshift)` of [`Kernels::group_norm_silu`] from `dy` and the statistics.
    #[allow(clippy::type_complexity)]
    fn group_norm_silu_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        params: [FloatTensor<Self>; 3],
        stats: FloatTensor<Self>,
        groups: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// `(dx [B, channels, height, width], dskip)` of [`Kernels::upsample_cat`] from `dy`.
    fn upsample_cat_backward(dy: FloatTensor<Self>, channels: usize, height: usize, width: usize)
    -> (FloatTensor<Self>, FloatTensor<Self>);
    /// `dy` `[B, c_out, h_out, w_out]`, `weight` -> `dx` `[B, c_in, height, width]`
    fn conv2d_gemm_input_grad(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        height: usize,
        width: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
    /// `dy`, `x` -> `(dW [c_out, c_in, kernel, kernel], db [c_out])`
    fn conv2d_gemm_weight_grad(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// `dy` where the ReLU's output `y` is positive, 0 elsewhere: the gradient at the ReLU's input.
    fn relu_grad(dy: FloatTensor<Self>, y: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `dz` `[rows, outputs]` (the gradient at `x W + b`), `weight` `[inputs, outputs]` -> `dx` `[rows, inputs]`
    fn linear_input_grad(dz: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `dz` `[rows, outputs]`, `x` `[rows, inputs]` -> `(dW [inputs, outputs], db [outputs])`
    fn linear_weight_grad(dz: FloatTensor<Self>, x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// `dz` `[rows, outputs]`, `a`, `b` -> `(dW [inputs_a + inputs_b, outputs], db [outputs])` of [`Kernels::linear_of_cat_layer`]
    fn linear_of_cat_weight_grad(
        dz: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// `dz`, `weight` -> `(da [rows, inputs_a], db [rows, inputs_b])` of [`Kernels::linear_of_cat_layer`]
    fn linear_of_cat_input_grads(
        dz: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        inputs_a: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// [`Kernels::multi_head_attention`] and each row's log-sum-exp `[B, N, heads]`.
    fn attention_with_logsumexp(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        heads: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// `(dq, dk, dv)` of [`Kernels::multi_head_attention`] from `d_out`, the inputs, the output and the log-sum-exp.
    #[allow(clippy::type_complexity)]
    fn attention_backward(
        d_out: FloatTensor<Self>,
        inputs: [FloatTensor<Self>; 3],
        out: FloatTensor<Self>,
        logsumexp: FloatTensor<Self>,
        heads: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

fn geometry(x: [usize; 4], channels_out: usize, kernel: usize, stride: usize, padding: usize) -> ConvGeometry {
    let [batch, channels_in, height, width] = x;
    ConvGeometry { batch, channels_in, height, width, channels_out, kernel, stride, padding }
}

/// Whether a convolution runs by Winograd's F(2x2, 3x3) (its forward pass and input gradient) rather
/// than by the GEMM over patches: one it covers, with the `winograd` kernel enabled.
fn runs_winograd(geometry: &ConvGeometry) -> bool {
    winograd::covers(geometry) && enabled(Kernel::Winograd)
}

fn dims4(tensor: &FlexTensor) -> [usize; 4] {
    tensor.shape().dims()
}

fn flex_tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape.into()), DType::F32)
}

impl Kernels for Flex {
    fn conv2d_gemm(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        let (x, weight, bias) = (x.to_contiguous(), weight.to_contiguous(), bias.to_contiguous());
        let [channels_out, _, kernel, _] = dims4(&weight);
        let geometry = geometry(dims4(&x), channels_out, kernel, stride, padding);
        let y = if runs_winograd(&geometry) {
            winograd::forward(&geometry, x.storage(), weight.storage(), bias.storage())
        } else {
            gemm_conv::forward(&geometry, x.storage(), weight.storage(), bias.storage())
        };
        flex_tensor(y, vec![geometry.batch, channels_out, geometry.height_out(), geometry.width_out()])
    }

    fn group_norm_silu(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, shift: FlexTensor, groups: usize, eps: f64) -> FlexTensor {
        Self::group_norm_silu_with_stats(x, gamma, beta, shift, groups, eps).0
    }

    fn upsample_cat(x: FlexTensor, skip: FlexTensor) -> FlexTensor {
        let (x, skip) = (x.to_contiguous(), skip.to_contiguous());
        let ([batch, channels, height, width], skip_channels) = (dims4(&x), dims4(&skip)[1]);
        let geometry = UpsampleGeometry { batch, channels, skip_channels, height, width };
        let y = upsample::forward(&geometry, x.storage(), skip.storage());
        flex_tensor(y, vec![batch, channels + skip_channels, 2 * height, 2 * width])
    }

    fn linear_layer(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        let (x, weight, bias) = (x.to_contiguous(), weight.to_contiguous(), bias.to_contiguous());
        let geometry = linear_geometry(&x, &weight);
        let y = linear::forward(&geometry, x.storage(), weight.storage(), bias.storage(), relu);
        flex_tensor(y, vec![geometry.rows, geometry.outputs])
    }

    fn linear_of_cat_layer(a: FlexTensor, b: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        let [a, b, weight, bias] = [a, b, weight, bias].map(|t| t.to_contiguous());
        let rows = dims2(&a)[0];
        let y = linear::forward_of_cat(rows, a.storage(), b.storage(), weight.storage(), bias.storage(), relu);
        flex_tensor(y, vec![rows, bias.shape()[0]])
    }

    fn multi_head_attention(q: FlexTensor, k: FlexTensor, v: FlexTensor, heads: usize) -> FlexTensor {
        Self::attention_with_logsumexp(q, k, v, heads).0
    }
}

fn dims3(tensor: &FlexTensor) -> [usize; 3] {
    tensor.shape().dims()
}

fn attention_geometry(q: &FlexTensor, heads: usize) -> AttentionGeometry {
    let [batch, tokens, channels] = dims3(q);
    AttentionGeometry { batch, tokens, channels, heads }
}

fn dims2(tensor: &FlexTensor) -> [usize; 2] {
    tensor.shape().dims()
}

/// The sizes of a layer from its input `[rows, inputs]` and weight `[inputs, outputs]`.
fn linear_geometry(x: &FlexTensor, weight: &FlexTensor) -> LinearGeometry {
    let ([rows, inputs], outputs) = (dims2(x), dims2(weight)[1]);
    LinearGeometry { rows, inputs, outputs }
}

fn norm_geometry(x: &FlexTensor, groups: usize) -> NormGeometry {
    let [batch, channels, height, width] = dims4(x);
    NormGeometry { batch, channels, pixels: height * width, groups }
}

impl KernelGradients for Flex {
    fn group_norm_silu_with_stats(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        shift: FlexTensor,
        groups: usize,
        eps: f64,
    ) -> (FlexTensor, FlexTensor) {
        let [x, gamma, beta, shift] = [x, gamma, beta, shift].map(|t| t.to_contiguous());
        let geometry = norm_geometry(&x, groups);
        let (y, stats) = group_norm::forward(&geometry, x.storage(), gamma.storage(), beta.storage(), shift.storage(), eps);
        (flex_tensor(y, x.shape().to_vec()), flex_tensor(stats, vec![geometry.batch, groups, 2]))
    }

    fn group_norm_silu_backward(
        dy: FlexTensor,
        x: FlexTensor,
        [gamma, beta, shift]: [FlexTensor; 3],
        stats: FlexTensor,
        groups: usize,
    ) -> (FlexTensor, FlexTensor, FlexTensor, FlexTensor) {
        let [dy, x, gamma, beta, shift, stats] = [dy, x, gamma, beta, shift, stats].map(|t| t.to_contiguous());
        let geometry = norm_geometry(&x, groups);
        let (dx, d_gamma, d_beta, d_shift) =
            group_norm::backward(&geometry, dy.storage(), x.storage(), gamma.storage(), beta.storage(), shift.storage(), stats.storage());
        let channels = geometry.channels;
        (
            flex_tensor(dx, x.shape().to_vec()),
            flex_tensor(d_gamma, vec![channels]),
            flex_tensor(d_beta, vec![channels]),
            flex_tensor(d_shift, vec![geometry.batch, channels]),
        )
    }

    fn upsample_cat_backward(dy: FlexTensor, channels: usize, height: usize, width: usize) -> (FlexTensor, FlexTensor) {
        let dy = dy.to_contiguous();
        let [batch, channels_out, _, _] = dims4(&dy);
        let geometry = UpsampleGeometry { batch, channels, skip_channels: channels_out - channels, height, width };
        let (dx, d_skip) = upsample::backward(&geometry, dy.storage());
        (
            flex_tensor(dx, vec![batch, channels, height, width]),
            flex_tensor(d_skip, vec![batch, channels_out - channels, 2 * height, 2 * width]),
        )
    }

    fn conv2d_gemm_input_grad(
        dy: FlexTensor,
        weight: FlexTensor,
        height: usize,
        width: usize,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let (dy, weight) = (dy.to_contiguous(), weight.to_contiguous());
        let [channels_out, channels_in, kernel, _] = dims4(&weight);
        let geometry = geometry([dims4(&dy)[0], channels_in, height, width], channels_out, kernel, stride, padding);
        let dx = if runs_winograd(&geometry) {
            winograd::input_grad(&geometry, dy.storage(), weight.storage())
        } else {
            gemm_conv::input_grad(&geometry, dy.storage(), weight.storage())
        };
        flex_tensor(dx, vec![geometry.batch, channels_in, height, width])
    }

    fn conv2d_gemm_weight_grad(dy: FlexTensor, x: FlexTensor, kernel: usize, stride: usize, padding: usize) -> (FlexTensor, FlexTensor) {
        let (dy, x) = (dy.to_contiguous(), x.to_contiguous());
        let channels_out = dims4(&dy)[1];
        let geometry = geometry(dims4(&x), channels_out, kernel, stride, padding);
        let (d_weight, d_bias) = gemm_conv::weight_grad(&geometry, dy.storage(), x.storage());
        (flex_tensor(d_weight, vec![channels_out, geometry.channels_in, kernel, kernel]), flex_tensor(d_bias, vec![channels_out]))
    }

    fn relu_grad(dy: FlexTensor, y: FlexTensor) -> FlexTensor {
        let (dy, y) = (dy.to_contiguous(), y.to_contiguous());
        flex_tensor(linear::relu_grad(dy.storage(), y.storage()), dy.shape().to_vec())
    }

    fn linear_input_grad(dz: FlexTensor, weight: FlexTensor) -> FlexTensor {
        let (dz, weight) = (dz.to_contiguous(), weight.to_contiguous());
        let [inputs, outputs] = dims2(&weight);
        let geometry = LinearGeometry { rows: dims2(&dz)[0], inputs, outputs };
        flex_tensor(linear::input_grad(&geometry, dz.storage(), weight.storage()), vec![geometry.rows, inputs])
    }

    fn linear_weight_grad(dz: FlexTensor, x: FlexTensor) -> (FlexTensor, FlexTensor) {
        let (dz, x) = (dz.to_contiguous(), x.to_contiguous());
        let ([rows, inputs], outputs) = (dims2(&x), dims2(&dz)[1]);
        let geometry = LinearGeometry { rows, inputs, outputs };
        let (d_weight, d_bias) = linear::weight_grad(&geometry, dz.storage(), x.storage());
        (flex_tensor(d_weight, vec![inputs, outputs]), flex_tensor(d_bias, vec![outputs]))
    }

    fn linear_of_cat_weight_grad(dz: FlexTensor, a: FlexTensor, b: FlexTensor) -> (FlexTensor, FlexTensor) {
        let [dz, a, b] = [dz, a, b].map(|t| t.to_contiguous());
        let ([rows, outputs], inputs) = (dims2(&dz), dims2(&a)[1] + dims2(&b)[1]);
        let (d_weight, d_bias) = linear::weight_grad_of_cat(rows, dz.storage(), a.storage(), b.storage());
        (flex_tensor(d_weight, vec![inputs, outputs]), flex_tensor(d_bias, vec![outputs]))
    }

    fn linear_of_cat_input_grads(dz: FlexTensor, weight: FlexTensor, inputs_a: usize) -> (FlexTensor, FlexTensor) {
        let (dz, weight) = (dz.to_contiguous(), weight.to_contiguous());
        let ([rows, outputs], inputs) = (dims2(&dz), dims2(&weight)[0]);
        let (weight_a, weight_b) = weight.storage().split_at(inputs_a * outputs);
        let grad = |inputs, weight| {
            let geometry = LinearGeometry { rows, inputs, outputs };
            flex_tensor(linear::input_grad(&geometry, dz.storage(), weight), vec![rows, inputs])
        };
        (grad(inputs_a, weight_a), grad(inputs - inputs_a, weight_b))
    }

    fn attention_with_logsumexp(q: FlexTensor, k: FlexTensor, v: FlexTensor, heads: usize) -> (FlexTensor, FlexTensor) {
        let [q, k, v] = [q, k, v].map(|t| t.to_contiguous());
        let geometry = attention_geometry(&q, heads);
        let (out, logsumexp) = attention::forward(&geometry, q.storage(), k.storage(), v.storage());
        (flex_tensor(out, q.shape().to_vec()), flex_tensor(logsumexp, vec![geometry.batch, geometry.tokens, heads]))
    }

    fn attention_backward(
        d_out: FlexTensor,
        [q, k, v]: [FlexTensor; 3],
        out: FlexTensor,
        logsumexp: FlexTensor,
        heads: usize,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [d_out, q, k, v, out, logsumexp] = [d_out, q, k, v, out, logsumexp].map(|t| t.to_contiguous());
        let geometry = attention_geometry(&q, heads);
        let inputs = [q.storage(), k.storage(), v.storage()];
        let (dq, dk, dv) = attention::backward(&geometry, d_out.storage(), inputs, out.storage(), logsumexp.storage());
        let shape = q.shape().to_vec();
        (flex_tensor(dq, shape.clone()), flex_tensor(dk, shape.clone()), flex_tensor(dv, shape))
    }
}

/// Registers each gradient whose parent is tracked (`ids` as `ops.parents.map(|node| node.map(|node|
/// node.id))`: `None` for a parent that needs no gradient); the others are dropped.
fn register_tracked<B: Backend, const N: usize>(grads: &mut Gradients, ids: [Option<NodeId>; N], gradients: [FloatTensor<B>; N]) {
    for (id, grad) in ids.into_iter().zip(gradients) {
        if let Some(id) = id {
            grads.register::<B>(id, grad);
        }
    }
}

/// The gradient at a layer's pre-activation from the one at its output: `dy` masked by the ReLU's
/// output `y` when the layer had one.
fn before_relu<B: KernelGradients>(dy: FloatTensor<B>, relu_output: Option<FloatTensor<B>>) -> FloatTensor<B> {
    match relu_output {
        Some(y) => B::relu_grad(dy, y),
        None => dy,
    }
}

/// The backward step of [`Kernels::conv2d_gemm`]: parents `[x, weight, bias]`.
#[derive(Debug)]
struct Conv2dGemmBackward;

impl<B: Kernels + KernelGradients> Backward<B, 3> for Conv2dGemmBackward {
    /// `(x, weight, stride, padding)`
    type State = (FloatTensor<B>, FloatTensor<B>, usize, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, weight, stride, padding) = ops.state;
        let [x_id, weight_id, bias_id] = ops.parents.map(|node| node.map(|node| node.id));
        let dy = grads.consume::<B>(&ops.node);
        let x_shape = x.shape();
        let kernel = weight.shape()[2];
        if weight_id.is_some() || bias_id.is_some() {
            let (d_weight, d_bias) = B::conv2d_gemm_weight_grad(dy.clone(), x, kernel, stride, padding);
            register_tracked::<B, 2>(grads, [weight_id, bias_id], [d_weight, d_bias]);
        }
        if let Some(id) = x_id {
            grads.register::<B>(id, B::conv2d_gemm_input_grad(dy, weight, x_shape[2], x_shape[3], stride, padding));
        }
    }
}

impl<B: Kernels + KernelGradients, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn conv2d_gemm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let parents = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
        let y = B::conv2d_gemm(x.clone(), weight.clone(), bias, stride, padding);
        match Conv2dGemmBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((x, weight, stride, padding), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn group_norm_silu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> FloatTensor<Self> {
        let parents = [x.node(), gamma.node(), beta.node(), shift.node()];
        let [x, gamma, beta, shift] = [x, gamma, beta, shift].map(|t| t.into_primitive());
        let (y, stats) = B::group_norm_silu_with_stats(x.clone(), gamma.clone(), beta.clone(), shift.clone(), groups, eps);
        match GroupNormSiluBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(GroupNormSiluState { x, params: [gamma, beta, shift], stats, groups }, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn upsample_cat(x: FloatTensor<Self>, skip: FloatTensor<Self>) -> FloatTensor<Self> {
        let parents = [x.node(), skip.node()];
        let [_, channels, height, width] = x.shape().dims();
        let y = B::upsample_cat(x.into_primitive(), skip.into_primitive());
        match UpsampleCatBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish([channels, height, width], y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn linear_layer(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, relu: bool) -> FloatTensor<Self> {
        let parents = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
        let y = B::linear_layer(x.clone(), weight.clone(), bias, relu);
        match LinearBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(LinearState { x, weight, relu_output: relu.then(|| y.clone()) }, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn linear_of_cat_layer(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let parents = [a.node(), b.node(), weight.node(), bias.node()];
        let [a, b, weight, bias] = [a, b, weight, bias].map(|t| t.into_primitive());
        let y = B::linear_of_cat_layer(a.clone(), b.clone(), weight.clone(), bias, relu);
        match LinearOfCatBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(LinearOfCatState { inputs: [a, b], weight, relu_output: relu.then(|| y.clone()) }, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn multi_head_attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        let parents = [q.node(), k.node(), v.node()];
        let [q, k, v] = [q, k, v].map(|t| t.into_primitive());
        match AttentionBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, logsumexp) = B::attention_with_logsumexp(q.clone(), k.clone(), v.clone(), heads);
                prep.finish(AttentionState { inputs: [q, k, v], out: out.clone(), logsumexp, heads }, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::multi_head_attention(q, k, v, heads)),
        }
    }
}

/// The backward step of [`Kernels::multi_head_attention`]: parents `[q, k, v]`.
#[derive(Debug)]
struct AttentionBackward;

/// What [`AttentionBackward`] keeps: the inputs, the output and each row's log-sum-exp.
#[derive(Debug, Clone)]
struct AttentionState<B: Backend> {
    inputs: [FloatTensor<B>; 3],
    out: FloatTensor<B>,
    logsumexp: FloatTensor<B>,
    heads: usize,
}

impl<B: Kernels + KernelGradients> Backward<B, 3> for AttentionBackward {
    type State = AttentionState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let AttentionState { inputs, out, logsumexp, heads } = ops.state;
        let d_out = grads.consume::<B>(&ops.node);
        let (dq, dk, dv) = B::attention_backward(d_out, inputs, out, logsumexp, heads);
        register_tracked::<B, 3>(grads, ops.parents.map(|node| node.map(|node| node.id)), [dq, dk, dv]);
    }
}

/// The backward step of [`Kernels::linear_layer`]: parents `[x, weight, bias]`.
#[derive(Debug)]
struct LinearBackward;

/// What [`LinearBackward`] keeps: the input, the weight and, after a ReLU, the output (its mask).
#[derive(Debug, Clone)]
struct LinearState<B: Backend> {
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    relu_output: Option<FloatTensor<B>>,
}

impl<B: Kernels + KernelGradients> Backward<B, 3> for LinearBackward {
    type State = LinearState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let LinearState { x, weight, relu_output } = ops.state;
        let [x_id, weight_id, bias_id] = ops.parents.map(|node| node.map(|node| node.id));
        let dz = before_relu::<B>(grads.consume::<B>(&ops.node), relu_output);
        if weight_id.is_some() || bias_id.is_some() {
            let (d_weight, d_bias) = B::linear_weight_grad(dz.clone(), x);
            register_tracked::<B, 2>(grads, [weight_id, bias_id], [d_weight, d_bias]);
        }
        if let Some(id) = x_id {
            grads.register::<B>(id, B::linear_input_grad(dz, weight));
        }
    }
}

/// The backward step of [`Kernels::linear_of_cat_layer`]: parents `[a, b, weight, bias]`.
#[derive(Debug)]
struct LinearOfCatBackward;

/// What [`LinearOfCatBackward`] keeps: the two input blocks, the weight and, after a ReLU, the output.
#[derive(Debug, Clone)]
struct LinearOfCatState<B: Backend> {
    inputs: [FloatTensor<B>; 2],
    weight: FloatTensor<B>,
    relu_output: Option<FloatTensor<B>>,
}

impl<B: Kernels + KernelGradients> Backward<B, 4> for LinearOfCatBackward {
    type State = LinearOfCatState<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let LinearOfCatState { inputs: [a, b], weight, relu_output } = ops.state;
        let [a_id, b_id, weight_id, bias_id] = ops.parents.map(|node| node.map(|node| node.id));
        let dz = before_relu::<B>(grads.consume::<B>(&ops.node), relu_output);
        let inputs_a = a.shape()[1];
        if weight_id.is_some() || bias_id.is_some() {
            let (d_weight, d_bias) = B::linear_of_cat_weight_grad(dz.clone(), a, b);
            register_tracked::<B, 2>(grads, [weight_id, bias_id], [d_weight, d_bias]);
        }
        if a_id.is_some() || b_id.is_some() {
            let (d_a, d_b) = B::linear_of_cat_input_grads(dz, weight, inputs_a);
            register_tracked::<B, 2>(grads, [a_id, b_id], [d_a, d_b]);
        }
    }
}

/// The backward step of [`Kernels::upsample_cat`]: parents `[x, skip]`.
#[derive(Debug)]
struct UpsampleCatBackward;

impl<B: Kernels + KernelGradients> Backward<B, 2> for UpsampleCatBackward {
    /// `[channels, height, width]` of `x`.
    type State = [usize; 3];

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [channels, height, width] = ops.state;
        let dy = grads.consume::<B>(&ops.node);
        let (dx, d_skip) = B::upsample_cat_backward(dy, channels, height, width);
        register_tracked::<B, 2>(grads, ops.parents.map(|node| node.map(|node| node.id)), [dx, d_skip]);
    }
}

/// The backward step of [`Kernels::group_norm_silu`]: parents `[x, gamma, beta, shift]`.
#[derive(Debug)]
struct GroupNormSiluBackward;

/// What [`GroupNormSiluBackward`] keeps: the input, `[gamma, beta, shift]` and the statistics.
#[derive(Debug, Clone)]
struct GroupNormSiluState<B: Backend> {
    x: FloatTensor<B>,
    params: [FloatTensor<B>; 3],
    stats: FloatTensor<B>,
    groups: usize,
}

impl<B: Kernels + KernelGradients> Backward<B, 4> for GroupNormSiluBackward {
    type State = GroupNormSiluState<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let GroupNormSiluState { x, params, stats, groups } = ops.state;
        let dy = grads.consume::<B>(&ops.node);
        let (dx, d_gamma, d_beta, d_shift) = B::group_norm_silu_backward(dy, x, params, stats, groups);
        register_tracked::<B, 4>(grads, ops.parents.map(|node| node.map(|node| node.id)), [dx, d_gamma, d_beta, d_shift]);
    }
}
