//! The kernels as a Burn backend extension: implemented on flex, differentiated through `Autodiff`
//! by the kernels' own gradients.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Bytes, DType, Flex, TensorMetadata, backend_extension};

use crate::gemm_conv::{self, ConvGeometry};

/// Convolution by GEMM (see [`gemm_conv`]). `stride` and `padding` apply to both axes.
#[backend_extension(Flex, Autodiff)]
pub trait ConvKernels: Backend {
    /// `[B, c_in, H, W]`, `[c_out, c_in, k, k]`, `[c_out]` -> `[B, c_out, h_out, w_out]`
    fn conv2d_gemm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// The gradients of [`ConvKernels::conv2d_gemm`], on the backend autodiff wraps (they are not
/// differentiated again).
pub trait ConvGradients: Backend {
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
}

fn geometry(x: [usize; 4], channels_out: usize, kernel: usize, stride: usize, padding: usize) -> ConvGeometry {
    let [batch, channels_in, height, width] = x;
    ConvGeometry { batch, channels_in, height, width, channels_out, kernel, stride, padding }
}

fn dims4(tensor: &FlexTensor) -> [usize; 4] {
    tensor.shape().dims()
}

fn flex_tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape.into()), DType::F32)
}

impl ConvKernels for Flex {
    fn conv2d_gemm(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        let (x, weight, bias) = (x.to_contiguous(), weight.to_contiguous(), bias.to_contiguous());
        let [channels_out, _, kernel, _] = dims4(&weight);
        let geometry = geometry(dims4(&x), channels_out, kernel, stride, padding);
        let y = gemm_conv::forward(&geometry, x.storage(), weight.storage(), bias.storage());
        flex_tensor(y, vec![geometry.batch, channels_out, geometry.height_out(), geometry.width_out()])
    }
}

impl ConvGradients for Flex {
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
        let dx = gemm_conv::input_grad(&geometry, dy.storage(), weight.storage());
        flex_tensor(dx, vec![geometry.batch, channels_in, height, width])
    }

    fn conv2d_gemm_weight_grad(dy: FlexTensor, x: FlexTensor, kernel: usize, stride: usize, padding: usize) -> (FlexTensor, FlexTensor) {
        let (dy, x) = (dy.to_contiguous(), x.to_contiguous());
        let channels_out = dims4(&dy)[1];
        let geometry = geometry(dims4(&x), channels_out, kernel, stride, padding);
        let (d_weight, d_bias) = gemm_conv::weight_grad(&geometry, dy.storage(), x.storage());
        (flex_tensor(d_weight, vec![channels_out, geometry.channels_in, kernel, kernel]), flex_tensor(d_bias, vec![channels_out]))
    }
}

/// The backward step of [`ConvKernels::conv2d_gemm`]: parents `[x, weight, bias]`.
#[derive(Debug)]
struct Conv2dGemmBackward;

impl<B: ConvKernels + ConvGradients> Backward<B, 3> for Conv2dGemmBackward {
    /// `(x, weight, stride, padding)`
    type State = (FloatTensor<B>, FloatTensor<B>, usize, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, weight, stride, padding) = ops.state;
        let [x_node, weight_node, bias_node] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let x_shape = x.shape();
        let kernel = weight.shape()[2];
        if weight_node.is_some() || bias_node.is_some() {
            let (d_weight, d_bias) = B::conv2d_gemm_weight_grad(dy.clone(), x, kernel, stride, padding);
            if let Some(node) = weight_node {
                grads.register::<B>(node.id, d_weight);
            }
            if let Some(node) = bias_node {
                grads.register::<B>(node.id, d_bias);
            }
        }
        if let Some(node) = x_node {
            grads.register::<B>(node.id, B::conv2d_gemm_input_grad(dy, weight, x_shape[2], x_shape[3], stride, padding));
        }
    }
}

impl<B: ConvKernels + ConvGradients, C: CheckpointStrategy> ConvKernels for Autodiff<B, C> {
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
}
