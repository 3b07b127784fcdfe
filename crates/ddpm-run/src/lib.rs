//! What the apps stand on: backend selection, Ctrl-C, progress bars, timing, the shared command-line
//! flags, the typed run description checkpoints carry, and the image-run lifecycle (new or resumed run
//! -> `fit` with hooks -> report; sampling a run).
//!
//! The layers below (`ddpm-schedule`, `ddpm-nets`, `ddpm-data`, `ddpm-train`, `ddpm-sample`) take a
//! `&Device` and never name a backend; this crate is where a `--device` flag becomes one.

mod allocator;
mod args;
mod backend;
mod description;
mod diffusers;
mod export;
mod interrupt;
mod lifecycle;
pub mod numbers;
mod progress;
mod stopwatch;

pub use args::{ObjectiveArgs, OptimizerArgs, SamplerArgs, TrainRunArgs, WeightingKind, refuse_with_resume};
pub use backend::{BackendArgs, DeviceChoice, set_cpu_threads};
pub use description::{Experiment, ImageShape, LoadedRun, RunDescription, Weights};
pub use diffusers::{DiffusersPipeline, MODEL_INDEX, SampleSource};
pub use export::{ExportArgs, ExportFormat, export};
pub use interrupt::{exit_code, exit_quietly_on_broken_pipe, stop_on_ctrl_c, training_over};
pub use lifecycle::{ImageRun, SampleRequest, Start, Trained, print_model, sample_images};
pub use progress::{WithProgressBar, progress_bar, sample_with_progress};
pub use stopwatch::{Stopwatch, Timing, peak_memory_mib};
