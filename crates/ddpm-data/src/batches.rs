//! Seeded, shuffled minibatches assembled on a background thread.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// An endless stream of minibatches over `examples`, reshuffled every epoch.
///
/// Batch `k` is a pure function of `(seed, k)`: epoch `k / batches_per_epoch` is a permutation drawn
/// from ChaCha8 stream `epoch` of the seed, and the last partial batch of an epoch is dropped. So a
/// resumed run can start at batch `k` and see exactly the batches an uninterrupted run would.
/// A worker thread gathers the next batches while the caller trains on the current one, so copying
/// examples overlaps with compute on a second core.
pub struct ShuffledBatches {
    receiver: Receiver<Minibatch>,
    worker: Option<JoinHandle<()>>,
}

/// One batch of a [`ShuffledBatches`] stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Minibatch {
    /// The examples, one after another: `batch_size * example_len` values.
    pub values: Vec<f32>,
    /// Which example each one is (its index in the dataset), in the same order: to gather labels or
    /// anything else kept beside the examples.
    pub rows: Vec<usize>,
}

/// The parts of a batch stream a worker needs.
#[derive(Clone)]
struct Plan {
    examples: Arc<[f32]>,
    example_len: usize,
    batch_size: usize,
    seed: u64,
}

impl ShuffledBatches {
    /// Streams batches of `batch_size` examples of `example_len` values each, starting at batch `first_batch`.
    ///
    /// # Panics
    /// When `batch_size` is zero or larger than the number of examples.
    pub fn new(examples: Arc<[f32]>, example_len: usize, batch_size: usize, seed: u64, first_batch: u64) -> Self {
        let count = examples.len() / example_len;
        assert!(batch_size > 0 && batch_size <= count, "batch size {batch_size} must be between 1 and the {count} examples");
        let plan = Plan { examples, example_len, batch_size, seed };
        let (sender, receiver) = sync_channel(2);
        let worker = std::thread::Builder::new()
            .name("batches".into())
            .spawn(move || plan.produce(first_batch, sender))
            .expect("cannot start the batch thread");
        Self { receiver, worker: Some(worker) }
    }

    /// The example indices of batch `k`.
    pub fn rows(examples: usize, batch_size: usize, seed: u64, k: u64) -> Vec<usize> {
        let per_epoch = (examples / batch_size) as u64;
        let order = epoch_order(examples, seed, k / per_epoch);
        let start = (k % per_epoch) as usize * batch_size;
        order[start..start + batch_size].to_vec()
    }
}

impl Plan {
    fn produce(self, first_batch: u64, sender: SyncSender<Minibatch>) {
        let count = self.examples.len() / self.example_len;
        let per_epoch = (count / self.batch_size) as u64;
        let mut current: Option<(u64, Vec<usize>)> = None;
        for k in first_batch.. {
            let epoch = k / per_epoch;
            if current.as_ref().is_none_or(|(e, _)| *e != epoch) {
                current = Some((epoch, epoch_order(count, self.seed, epoch)));
            }
            let order = &current.as_ref().expect("set above").1;
            let start = (k % per_epoch) as usize * self.batch_size;
            let rows = order[start..start + self.batch_size].to_vec();
            let mut values = Vec::with_capacity(self.batch_size * self.example_len);
            for &row in &rows {
                values.extend_from_slice(&self.examples[row * self.example_len..(row + 1) * self.example_len]);
            }
            if sender.send(Minibatch { values, rows }).is_err() {
                return; // the consumer is gone
            }
        }
    }
}

/// The permutation of `0..count` that orders epoch `epoch`.
fn epoch_order(count: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    order.shuffle(&mut rng);
    order
}

impl Iterator for ShuffledBatches {
    type Item = Minibatch;

    fn next(&mut self) -> Option<Minibatch> {
        self.receiver.recv().ok()
    }
}

impl Drop for ShuffledBatches {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it returns.
        let (_, dummy) = sync_channel(0);
        drop(std::mem::replace(&mut self.receiver, dummy));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(count: usize, len: usize) -> Arc<[f32]> {
        (0..count * len).map(|i| (i / len) as f32).collect()
    }

    #[test]
    fn every_epoch_visits_each_example_once_in_a_new_order() {
        let batches: Vec<Minibatch> = ShuffledBatches::new(numbered(10, 3), 3, 5, 1, 0).take(4).collect();
        let ids = |b: &Minibatch| b.values.chunks(3).map(|c| c[0] as usize).collect::<Vec<_>>();
        assert!(batches.iter().all(|b| ids(b) == b.rows), "rows name the examples");
        let mut epoch0: Vec<usize> = batches[..2].iter().flat_map(ids).collect();
        let epoch1: Vec<usize> = batches[2..].iter().flat_map(ids).collect();
        assert_ne!(epoch0, epoch1, "each epoch is reshuffled");
        epoch0.sort();
        assert_eq!(epoch0, (0..10).collect::<Vec<_>>());
        assert_eq!(ids(&batches[3]), ShuffledBatches::rows(10, 5, 1, 3));
    }

    #[test]
    fn starting_at_batch_k_replays_the_same_stream() {
        let all: Vec<Minibatch> = ShuffledBatches::new(numbered(7, 2), 2, 3, 9, 0).take(6).collect();
        let resumed: Vec<Minibatch> = ShuffledBatches::new(numbered(7, 2), 2, 3, 9, 4).take(2).collect();
        assert_eq!(resumed, all[4..]);
    }
}
