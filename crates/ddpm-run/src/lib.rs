//! What the apps stand on: backend selection and the execution policy beside it
//! ([`BackendArgs::execution`]), Ctrl-C, progress bars, timing, the shared command-line flags, library
//! errors turned into flag-level advice ([`train_error`], [`data_error`]), the typed run description
//! checkpoints carry, and the image-run lifecycle (new or resumed run -> `fit` with hooks -> report;
//! sampling a run or a diffusers pipeline folder).
//!
//! The layers below (`ddpm-core`, `ddpm-exec`, `ddpm-nets`, `ddpm-data`, `ddpm-train`, `ddpm-sample`)
//! take a `&Device` and never name a backend or a flag; this crate is where a `--device` flag becomes
//! one. `examples/` shows the library from Rust: `sample_pipeline` (a diffusers pipeline folder into a
//! PNG grid), `train_toy` (a DDPM on a `Vec<f32>`), `custom_denoiser` (your own `Denoiser` sampled).

mod advice;
mod allocator;
mod app;
mod args;
mod backend;
mod bound;
mod description;
mod diffusers;
pub mod edit;
mod export;
mod grids;
mod interrupt;
mod lifecycle;
pub mod numbers;
mod progress;
mod run_lock;
mod shard;
mod stopwatch;
mod train_flags;

pub use advice::{data_error, train_error};
pub use app::run_app;
pub use args::{ObjectiveArgs, OptimizerArgs, SamplerArgs, TrainRunArgs, VarianceChoice, WeightingKind};
pub use backend::{BackendArgs, DeviceChoice, set_cpu_threads};
pub use bound::{BoundArgs, BoundReport, evaluate_bound};
pub use ddpm_exec::Execution;
pub use description::{Experiment, ImageShape, LoadedRun, RunDescription, Weights};
pub use diffusers::{DiffusersPipeline, MODEL_INDEX, SampleSource};
pub use export::{ExportArgs, ExportFormat, export};
pub use grids::SampleGrids;
pub use interrupt::{exit_code, exit_quietly_on_broken_pipe, stop_on_ctrl_c, training_over};
pub use lifecycle::{ImageRun, RunStart, SampleRequest, TrainedRun, print_model, sample_images};
pub use mimalloc::MiMalloc;
pub use progress::{WithProgressBar, progress_bar, sample_with_progress};
pub use run_lock::RunLock;
pub use shard::{CLASSES_FILE, MergeArgs, SHARD_FILE, Shard, ShardArgs, ShardRecord, merge};
pub use stopwatch::{Stopwatch, Timing, peak_memory_mib};
pub use train_flags::FlagValues;
