//! Data parallelism on the CPU (see [`ddpm_exec::Execution`]): the batch is cut into slices whose
//! forward and backward passes run at the same time, one per core, and whose gradients are summed.
//!
//! Each slice's loss is its mean scaled by its share of the batch, so the slices' losses, and
//! therefore their gradients, add up to the whole batch's: the step is the same up to rounding.

use std::ops::Range;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use ddpm_exec::run_slices;

/// Runs `loss_of(replica, range)` for each range on a fresh autodiff replica of `model` (so the
/// slices' graphs share no node and do not serialise on one lock), all at once (see [`run_slices`]),
/// and returns the summed detached loss and the summed gradients.
pub(crate) fn sliced_gradients<M, F>(model: &M, device: &Device, ranges: Vec<Range<usize>>, loss_of: F) -> (Tensor<1>, GradientsParams)
where
    M: Module + Sync,
    F: Fn(&M, Range<usize>) -> Tensor<1> + Sync,
{
    let gradients_of = |slice: usize| {
        let replica = model.clone().fork(device);
        let loss = loss_of(&replica, ranges[slice].clone());
        let grads = GradientsParams::from_grads(loss.backward(), &replica);
        (loss.detach(), grads)
    };
    let slices = run_slices(ranges.len(), || gradients_of(0), gradients_of);
    let (losses, grads): (Vec<_>, Vec<_>) = slices.into_iter().unzip();
    let loss = losses.into_iter().reduce(|a, b| a + b).expect("at least one slice");
    let mut sum = GradientSum { slices: grads, total: GradientsParams::new() };
    model.visit(&mut sum);
    (loss, sum.total)
}

/// Adds up, parameter by parameter, the gradients of every slice.
struct GradientSum {
    slices: Vec<GradientsParams>,
    total: GradientsParams,
}

impl ModuleVisitor for GradientSum {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let grads = self.slices.iter_mut().filter_map(|slice| slice.remove::<D>(param.id));
        if let Some(sum) = grads.reduce(|a, b| a + b) {
            self.total.register(param.id, sum);
        }
    }
}
