//! The training loop: steps, progress, metrics, periodic checkpoints, time limits and Ctrl-C.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::tensor::Tensor;
use ddpm_core::Denoiser;
use serde::{Deserialize, Serialize};

use crate::{Batch, LossHistory, LossRecord, TrainError, Trainer};

/// What a call to [`fit`] does besides stepping. The default only trains, quietly.
///
/// `R` is the app's description of the run, stored in every checkpoint (see [`crate::CheckpointState`]).
#[derive(Debug, Clone, Default)]
pub struct FitPlan<R = ()> {
    /// Stop after this long (then checkpoint, when a folder is set). The learning-rate plan is then laid
    /// over the steps that fit in it, estimated from the step rate as the run goes (see [`fit`]).
    pub time_limit: Option<Duration>,
    /// Where checkpoints and `metrics.jsonl` go.
    pub run_dir: Option<PathBuf>,
    /// Checkpoint every this many steps (and always at the end).
    pub checkpoint_every: Option<usize>,
    /// The app's description of the run, stored in every checkpoint.
    pub run: R,
    /// Set (e.g. by a Ctrl-C handler) to stop after the current step, checkpoint and return.
    pub stop: Option<Arc<AtomicBool>>,
    /// Examples per step, for the images/s figure.
    pub batch_size: usize,
}

/// Why [`fit`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitEnd {
    /// All configured steps are done.
    Finished,
    /// The time limit was reached.
    TimeLimit,
    /// The stop flag was set.
    Stopped,
}

impl FitEnd {
    /// How the run ended, for a "training finished at step N" line.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::TimeLimit => "stopped at the time limit",
            Self::Stopped => "interrupted",
        }
    }
}

/// Where a run stands, reported each time the losses are read back (every `log_every` steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitProgress {
    /// Optimiser steps taken so far.
    pub step: usize,
    /// The run's configured steps.
    pub total: usize,
    /// The last step's loss.
    pub loss: f32,
    pub learning_rate: f64,
    /// Since this call to [`fit`] started.
    pub images_per_second: f64,
}

/// Called by [`fit`]: after every step (e.g. to draw sample grids every N steps), and with the progress
/// each time the losses are read back (e.g. for a progress bar).
pub trait FitHooks<M> {
    fn after_step(&mut self, _trainer: &Trainer<M>) -> Result<(), TrainError> {
        Ok(())
    }

    fn on_progress(&mut self, _progress: &FitProgress) {}

    /// A few words a progress display shows after the loss (e.g. the latest sample-quality figure).
    fn progress_note(&self) -> Option<String> {
        None
    }
}

/// Hooks that do nothing.
pub struct NoHooks;
impl<M> FitHooks<M> for NoHooks {}

const METRICS_FILE: &str = "metrics.jsonl";

/// One line of `metrics.jsonl`.
#[derive(Serialize, Deserialize)]
struct MetricsLine {
    step: usize,
    loss: f32,
    learning_rate: f64,
    images_per_second: f64,
    elapsed_seconds: f64,
}

/// Trains until `trainer.config().steps` steps are done, the time limit passes or the stop flag is
/// set, calling `next_batch()` for each step's clean batch (a tensor, or a [`Batch`] with labels). Losses are read back every
/// `log_every` steps (one sync), checked for NaN/inf, reported to `hooks.on_progress` and appended to
/// `run_dir/metrics.jsonl`. Checkpoints are written after a flush, so none holds a diverged model.
///
/// With a time limit, the run's total (`config().steps`, which the learning-rate plan decays over) becomes
/// the configured steps or the steps the limit leaves room for, whichever is fewer, re-estimated at every
/// read-back from the rate so far; so a run cut by time ends annealed, as one cut by steps does, and
/// its checkpoint records the total it reached.
pub fn fit<M, R, B, const D: usize>(
    trainer: &mut Trainer<M>,
    mut next_batch: impl FnMut() -> B,
    plan: &FitPlan<R>,
    hooks: &mut impl FitHooks<M>,
) -> Result<(LossHistory, FitEnd), TrainError>
where
    M: Module + Denoiser<D>,
    R: Serialize,
    B: Into<Batch<D>>,
{
    let mut total = trainer.config.steps;
    let log_every = trainer.config.log_every.max(1);
    let mut metrics = Metrics::open(plan, trainer.step)?;
    let mut history = LossHistory::default();
    let mut pending: Vec<(usize, f64, Tensor<1>)> = Vec::with_capacity(log_every);
    let started = Instant::now();
    let first_step = trainer.step;
    let requested_steps = total;
    let mut end = FitEnd::Finished;
    // A resumed run's folder holds the checkpoint it started from.
    let mut last_checkpoint = plan.run_dir.as_deref().filter(|dir| first_step > 0 && crate::resolve(dir).is_ok()).map(|_| first_step);

    while trainer.step < total {
        let (step, learning_rate) = (trainer.step, trainer.learning_rate());
        let loss = trainer.step(next_batch());
        pending.push((step, learning_rate, loss));
        hooks.after_step(trainer)?;

        // The last planned step finishes the run, whatever else happened during it.
        if trainer.step < total {
            if plan.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                end = FitEnd::Stopped;
            } else if plan.time_limit.is_some_and(|limit| started.elapsed() >= limit) {
                end = FitEnd::TimeLimit;
            }
        }
        let last = end != FitEnd::Finished || trainer.step == total;
        let checkpoint_due = plan.checkpoint_every.is_some_and(|n| trainer.step.is_multiple_of(n.max(1)));
        if pending.len() >= log_every || last || checkpoint_due {
            let elapsed = started.elapsed().as_secs_f64();
            let images_per_second = ((trainer.step - first_step) * plan.batch_size) as f64 / elapsed.max(1e-9);
            if let Some(limit) = plan.time_limit
                && !last
            {
                total = steps_within(limit, elapsed, trainer.step - first_step, trainer.step).clamp(trainer.step + 1, requested_steps);
                trainer.config.steps = total;
            }
            let flushed = flush(&mut pending, trainer.config.learning_rate, last_checkpoint)?;
            metrics.append(&flushed, images_per_second, elapsed)?;
            if let Some(record) = flushed.last() {
                let (loss, learning_rate) = (record.loss, record.learning_rate);
                hooks.on_progress(&FitProgress { step: trainer.step, total, loss, learning_rate, images_per_second });
            }
            history.records.extend(flushed);
        }
        if let Some(dir) = &plan.run_dir
            && (checkpoint_due || last)
        {
            trainer.save(dir, &plan.run)?;
            last_checkpoint = Some(trainer.step);
        }
        if end != FitEnd::Finished {
            break;
        }
    }
    Ok((history, end))
}

/// Steps measured before the rate is trusted for a time-bounded plan (the first ones include warm-up).
const STEPS_BEFORE_ESTIMATE: usize = 20;

/// The total a run at step `step` reaches by the time `limit`, having taken `steps_taken` steps in the
/// `elapsed` seconds so far; `usize::MAX` until enough steps were measured.
fn steps_within(limit: Duration, elapsed: f64, steps_taken: usize, step: usize) -> usize {
    if steps_taken < STEPS_BEFORE_ESTIMATE || elapsed <= 0.0 {
        return usize::MAX;
    }
    let remaining = (limit.as_secs_f64() - elapsed).max(0.0);
    step + (remaining * steps_taken as f64 / elapsed) as usize
}

/// Reads the buffered losses back in one transfer and stops on the first non-finite one, naming the
/// step of the run's last checkpoint.
fn flush(pending: &mut Vec<(usize, f64, Tensor<1>)>, peak_lr: f64, last_checkpoint: Option<usize>) -> Result<Vec<LossRecord>, TrainError> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let losses: Vec<Tensor<1>> = pending.iter().map(|(_, _, loss)| loss.clone()).collect();
    let values = Tensor::cat(losses, 0).into_data().try_into_vec::<f32>().expect("losses are stored as f32");
    let mut records = Vec::with_capacity(values.len());
    for ((step, learning_rate, _), loss) in pending.drain(..).zip(values) {
        if !loss.is_finite() {
            return Err(TrainError::NonFiniteLoss { step, loss, suggested_lr: peak_lr / 10.0, last_checkpoint });
        }
        records.push(LossRecord { step, loss, learning_rate });
    }
    Ok(records)
}

/// The losses a run folder's `metrics.jsonl` holds, in step order (every session of a resumed run);
/// empty when there is none yet.
pub fn logged_losses(run_dir: &Path) -> Vec<f32> {
    std::fs::read_to_string(run_dir.join(METRICS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<MetricsLine>(line).ok())
        .map(|line| line.loss)
        .collect()
}

/// `metrics.jsonl` in the run folder: one JSON object per step.
struct Metrics {
    file: Option<(PathBuf, std::fs::File)>,
}

impl Metrics {
    /// Opens the file for appending, first dropping lines from steps at or after `first_step` (left by
    /// a run that went on past its last checkpoint), so a resumed run's log has each step once.
    fn open<R>(plan: &FitPlan<R>, first_step: usize) -> Result<Self, TrainError> {
        let Some(dir) = &plan.run_dir else { return Ok(Self { file: None }) };
        let path = dir.join(METRICS_FILE);
        let error = |e: std::io::Error| TrainError::Checkpoint { path: path.clone(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(error)?;
        let kept: String = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|line| {
                let step = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v["step"].as_u64());
                step.is_some_and(|s| (s as usize) < first_step)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        crate::checkpoint::write_synced(&path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(&path).map_err(error)?;
        Ok(Self { file: Some((path, file)) })
    }

    fn append(&mut self, records: &[LossRecord], images_per_second: f64, elapsed_seconds: f64) -> Result<(), TrainError> {
        let Some((path, file)) = &mut self.file else { return Ok(()) };
        let mut text = String::new();
        for r in records {
            let line = MetricsLine { step: r.step, loss: r.loss, learning_rate: r.learning_rate, images_per_second, elapsed_seconds };
            text.push_str(&serde_json::to_string(&line).expect("metrics serialise"));
            text.push('\n');
        }
        file.write_all(text.as_bytes()).map_err(|e| TrainError::Checkpoint { path: path.clone(), reason: e.to_string() })
    }
}
