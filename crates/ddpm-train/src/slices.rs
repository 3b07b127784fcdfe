//! Data parallelism on the CPU: the batch is cut into slices whose forward and backward passes run at
//! the same time, one per core, and whose gradients are summed.
//!
//! Why: Burn's CPU backends parallelise inside each op, and most ops of a small U-Net (GroupNorm,
//! SiLU, bias adds, im2col packing, memory zeroing) are too small or too serial to keep two cores
//! busy, so one core idles a good part of each step. Two slices of the batch keep both busy all the time.
//!
//! Each slice's loss is its mean scaled by its share of the batch, so the slices' losses, and
//! therefore their gradients, add up to the whole batch's: the step is the same up to rounding.

use std::ops::Range;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

/// Runs `loss_of(replica, range)` for each range on a fresh autodiff replica of `model` (so the
/// slices' graphs share no node and do not serialise on one lock), and returns the summed detached
/// loss and the summed gradients.
///
/// Each slice is a rayon task on the CPU kernels' own pool when it has a thread for each, so that the
/// ops of a slice split their work on that same thread instead of queueing it behind the other
/// slices'. A smaller pool (the toy's single kernel thread) runs each slice on an OS thread of its own,
/// as the samplers do.
pub(crate) fn sliced_gradients<M, F>(model: &M, device: &Device, ranges: Vec<Range<usize>>, loss_of: F) -> (Tensor<1>, GradientsParams)
where
    M: Module,
    F: Fn(&M, Range<usize>) -> Tensor<1> + Sync,
{
    let replicas: Vec<(M, Range<usize>)> = ranges.into_iter().map(|range| (model.clone().fork(device), range)).collect();
    let gradients_of = |(replica, range): (M, Range<usize>)| {
        let loss = loss_of(&replica, range);
        let grads = GradientsParams::from_grads(loss.backward(), &replica);
        (loss.detach(), grads)
    };
    let slices: Vec<(Tensor<1>, GradientsParams)> = if rayon::current_num_threads() >= replicas.len() {
        replicas.into_par_iter().map(gradients_of).collect()
    } else {
        // The first slice on this thread, each other one on a thread of its own.
        let gradients_of = &gradients_of;
        std::thread::scope(|scope| {
            let mut replicas = replicas.into_iter();
            let first = replicas.next().expect("at least one slice");
            let others: Vec<_> = replicas.map(|slice| scope.spawn(move || gradients_of(slice))).collect();
            let first = gradients_of(first);
            std::iter::once(first).chain(others.into_iter().map(|thread| thread.join().expect("a training slice panicked"))).collect()
        })
    };
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
