//! The threads that run a batch's slices at the same time, one per core.

use std::sync::OnceLock;

use rayon::prelude::*;

/// Runs `first()` and `other(i)` for each `i` in `1..count` at the same time, and returns their results
/// in slice order.
///
/// The slices are tasks on the current rayon pool (the CPU kernels' threads) when it has a thread for
/// each, so that the ops of a slice split their work on that same thread instead of queueing it behind
/// the other slices'. A smaller pool (the toy's single kernel thread) runs `first` on the calling thread
/// and the others on its own threads (`slice_threads`).
pub fn run_slices<R: Send>(count: usize, first: impl FnOnce() -> R + Send, other: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if count <= 1 {
        return vec![first()];
    }
    let (first, others) = if rayon::current_num_threads() >= count {
        rayon::join(first, || (1..count).into_par_iter().map(&other).collect::<Vec<R>>())
    } else {
        let other = &other;
        let mut others: Vec<Option<R>> = Vec::new();
        others.resize_with(count - 1, || None);
        let first = slice_threads().in_place_scope(|scope| {
            for (i, result) in (1..count).zip(&mut others) {
                scope.spawn(move |_| *result = Some(other(i)));
            }
            first()
        });
        (first, others.into_iter().map(|result| result.expect("every slice ran")).collect())
    };
    std::iter::once(first).chain(others).collect()
}

/// The threads that run the slices after the first when the kernels' pool is too small for them: one
/// per core but the calling thread's, started once and kept. Spawning OS threads at each training step
/// left the calling thread waiting 0.17 ms a step for the other slice (17% of the toy's training), and
/// a fresh thread faults its heap's pages in anew.
fn slice_threads() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores.saturating_sub(1).max(1))
            .thread_name(|i| format!("ddpm-slice-{i}"))
            .build()
            .expect("cannot start the threads for the batch slices")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slice_runs_once_and_results_come_in_order() {
        for count in [1, 2, 3, 5] {
            let caller = std::thread::current().id();
            let results = run_slices(count, || (0, std::thread::current().id() == caller), |i| (i, true));
            let order: Vec<usize> = results.iter().map(|r| r.0).collect();
            assert_eq!(order, (0..count).collect::<Vec<_>>());
            if rayon::current_num_threads() < count {
                assert!(results[0].1, "{count} slices: the first runs on the calling thread");
            }
        }
    }
}
