//! Gradient clipping by the global norm over all parameters, as `torch.nn.utils.clip_grad_norm_`
//! does. Burn's `GradientClippingConfig::Norm` clips each tensor on its own, which changes the
//! direction of the update; the references clip the whole gradient vector.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Scales every gradient by `min(1, max_norm / (norm + 1e-6))`, where `norm` is the L2 norm of all
/// gradients together, and returns the gradients with the norm before clipping (`[1]`; `None` when there are no gradients).
///
/// Everything stays on the device: no value is read back, so clipping costs no synchronisation.
pub fn clip_global_norm<M: Module>(grads: GradientsParams, model: &M, max_norm: f64) -> (GradientsParams, Option<Tensor<1>>) {
    let mut squares = SumOfSquares { grads: &grads, total: None };
    model.visit(&mut squares);
    let Some(total) = squares.total else { return (grads, None) };
    let norm = total.sqrt();
    let coef = norm.clone().add_scalar(1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    let mut scale = Scale { grads, coef };
    model.visit(&mut scale);
    (scale.grads, Some(norm))
}

struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let sum = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + sum,
                None => sum,
            });
        }
    }
}

struct Scale {
    grads: GradientsParams,
    coef: Tensor<1>,
}

impl ModuleVisitor for Scale {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let coef: Tensor<D> = self.coef.clone().reshape([1; D]);
            self.grads.register(param.id, grad * coef);
        }
    }
}
