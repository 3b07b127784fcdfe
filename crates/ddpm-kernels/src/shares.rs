//! The batch split into one contiguous share of images per thread. Each share accumulates its own
//! parameter gradients, and the shares are summed in share order, so a result depends only on the
//! thread count, not on scheduling.

/// Images per share when `batch` images are split into `threads` contiguous shares.
pub(crate) fn images_per_share(batch: usize, threads: usize) -> usize {
    batch.div_ceil(threads.max(1)).max(1)
}

/// The sum, in share order, of each share's pair of gradient vectors.
pub(crate) fn sum_in_order(shares: Vec<(Vec<f32>, Vec<f32>)>) -> (Vec<f32>, Vec<f32>) {
    let mut shares = shares.into_iter();
    let (mut first, mut second) = shares.next().expect("a batch has at least one image");
    for (a, b) in shares {
        first.iter_mut().zip(a).for_each(|(sum, v)| *sum += v);
        second.iter_mut().zip(b).for_each(|(sum, v)| *sum += v);
    }
    (first, second)
}
