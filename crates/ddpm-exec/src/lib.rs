//! How a batch is cut for the CPU, decided once and read by the two runners: the trainer
//! (`ddpm-train`) and the sampling chain (`ddpm-sample`).
//!
//! Burn's CPU backends parallelise inside each op, and many ops of a small network (the toy MLP's on
//! 1000 rows, the U-Net's GroupNorm, bias adds and packing) are too small or too serial to keep every
//! core busy. So on the CPU a batch is cut into contiguous slices of rows that run at the same time
//! ([`run_slices`]), and a long sampling batch runs in chunks the size of a benchmark batch. The noise is
//! counter-based (`ddpm_core::NoiseRng::normal_rows`), so the samples do not depend on either cut.
//!
//! An [`Execution`] is plain data: `ddpm-run` chooses it beside the `Device` (one slice on a GPU), and
//! step rules, losses and networks never see it.
//!
//! ```
//! use ddpm_exec::Execution;
//!
//! let execution = Execution::default().with_slices(2);
//! assert_eq!(execution.row_slices(5), vec![0..2, 2..5]);
//! // Rows of 1024 values run 64 at a time.
//! assert_eq!(execution.chunks(0..100, 1024), vec![0..64, 64..100]);
//! let doubled = ddpm_exec::run_slices(execution.slices(), || 0, |slice| slice * 2);
//! assert_eq!(doubled, vec![0, 2]);
//! ```

mod slices;

use std::ops::Range;

pub use slices::run_slices;

/// How the runners cut a batch: how many slices run at once, and how many values a chunk of a sampling
/// slice holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    slices: usize,
    chunk_values: usize,
}

impl Default for Execution {
    /// One slice (the whole batch on the calling thread: a GPU, or a test) and chunks of
    /// [`Execution::DEFAULT_CHUNK_VALUES`].
    fn default() -> Self {
        Self { slices: 1, chunk_values: Self::DEFAULT_CHUNK_VALUES }
    }
}

impl Execution {
    /// A sampling slice runs its rows in chunks of about this many values (64 images of 32 x 32), so
    /// that the activations of a large batch stay the size of a benchmark batch: a sweep of 500 digits at
    /// once (two slices of 250) took 4.2 ms per digit and U-Net step on 2 cores, where the benchmark's 64
    /// take 1.6 ms.
    pub const DEFAULT_CHUNK_VALUES: usize = 64 * 32 * 32;

    /// The policy for the CPU backends when their kernels run on `kernel_threads` threads of `cores`:
    /// every core runs a slice, so one slice per kernel thread when the kernels have every core, and
    /// `cores / kernel_threads` slices when they have fewer (the toy's single kernel thread).
    pub fn cpu(kernel_threads: usize, cores: usize) -> Self {
        let (kernel_threads, cores) = (kernel_threads.max(1), cores.max(1));
        Self::default().with_slices(kernel_threads.max(cores / kernel_threads))
    }

    /// `slices` slices at once (at least 1).
    pub fn with_slices(mut self, slices: usize) -> Self {
        self.slices = slices.max(1);
        self
    }

    /// Chunks of about `values` values (at least one row each).
    pub fn with_chunk_values(mut self, values: usize) -> Self {
        self.chunk_values = values.max(1);
        self
    }

    /// How many slices run at once.
    pub fn slices(&self) -> usize {
        self.slices
    }

    /// The slices of a batch of `rows`: contiguous, near-equal, non-empty ranges covering `0..rows`
    /// (fewer than [`Execution::slices`] when the rows are few).
    pub fn row_slices(&self, rows: usize) -> Vec<Range<usize>> {
        let count = self.slices.clamp(1, rows.max(1));
        (0..count).map(|i| (i * rows / count)..((i + 1) * rows / count)).collect()
    }

    /// The chunks a slice of `rows`, each of `row_len` values, runs one after another: consecutive
    /// ranges of at most `chunk_values / row_len` rows (at least one), and one empty chunk for no rows.
    pub fn chunks(&self, rows: Range<usize>, row_len: usize) -> Vec<Range<usize>> {
        if rows.is_empty() {
            return vec![rows];
        }
        let per_chunk = (self.chunk_values / row_len.max(1)).max(1);
        rows.clone().step_by(per_chunk).map(|start| start..(start + per_chunk).min(rows.end)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_slices_cover_the_rows_evenly() {
        let slices = |rows, count| Execution::default().with_slices(count).row_slices(rows);
        assert_eq!(slices(128, 2), vec![0..64, 64..128]);
        assert_eq!(slices(7, 3), vec![0..2, 2..4, 4..7]);
        assert_eq!(slices(2, 4), vec![0..1, 1..2]);
        assert_eq!(slices(5, 0), vec![0..5]);
        assert_eq!(slices(0, 2), vec![0..0]);
    }

    #[test]
    fn chunks_cover_a_slice_in_order() {
        let execution = Execution::default().with_chunk_values(10);
        assert_eq!(execution.chunks(3..10, 4), vec![3..5, 5..7, 7..9, 9..10]);
        assert_eq!(execution.chunks(0..3, 100), vec![0..1, 1..2, 2..3], "at least one row a chunk");
        assert_eq!(execution.chunks(0..3, 1), vec![0..3]);
        assert_eq!(execution.chunks(4..4, 1), vec![4..4]);
    }

    #[test]
    fn cpu_policy_keeps_every_core_busy() {
        assert_eq!(Execution::cpu(2, 2).slices(), 2, "every core in the kernel pool: a slice per thread");
        assert_eq!(Execution::cpu(1, 2).slices(), 2, "one kernel thread: the other core runs a slice");
        assert_eq!(Execution::cpu(1, 8).slices(), 8);
        assert_eq!(Execution::cpu(2, 8).slices(), 4);
        assert_eq!(Execution::cpu(16, 8).slices(), 16);
        assert_eq!(Execution::cpu(0, 0).slices(), 1);
    }
}
