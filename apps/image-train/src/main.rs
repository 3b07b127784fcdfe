//! `image-train`: DDPM on a folder of your own images. Run with `--help`, or `<subcommand> --help`.
// The doc comments of the flags are their --help text, where <name> stands for a value.
#![allow(rustdoc::invalid_html_tags)]

mod cli;
mod eval;
mod run;
mod sample;
mod train;

use std::process::ExitCode;

use burn::tensor::Device;
use ddpm_run::Execution;

/// What `train --resume` may change; every other `train` flag contradicts the run and is refused.
const RESUME_MAY_CHANGE: [&str; 8] =
    ["out", "steps", "minutes", "checkpoint_every", "log_every", "sample_every", "data_dir", "print_model"];

/// mimalloc, tuned by `BackendArgs::init` (see `ddpm_run`'s allocator notes).
#[global_allocator]
static ALLOCATOR: ddpm_run::MiMalloc = ddpm_run::MiMalloc;

fn main() -> ExitCode {
    ddpm_run::run_app(&RESUME_MAY_CHANGE, |args: &cli::Args| &args.backend, dispatch)
}

fn dispatch(args: cli::Args, device: &Device, execution: Execution) -> anyhow::Result<()> {
    match args.command {
        cli::Command::Train(train) => train::run(&train, device, execution),
        cli::Command::Sample(sample) => sample::run(&sample, device, execution),
        cli::Command::Merge(merge) => ddpm_run::merge(run::APP, &merge),
        cli::Command::Export(export) => ddpm_run::export::<run::FolderData>(run::APP, &export, device),
        cli::Command::Eval(eval) => eval::run(&eval, device),
        cli::Command::Inpaint(args) => ddpm_run::edit::inpaint(run::APP, &args, run::FolderData::of_pipeline, device, execution),
        cli::Command::Img2img(args) => ddpm_run::edit::img2img(run::APP, &args, run::FolderData::of_pipeline, device, execution),
        cli::Command::Invert(args) => ddpm_run::edit::invert(run::APP, &args, run::FolderData::of_pipeline, device, execution),
        cli::Command::Interpolate(args) => ddpm_run::edit::interpolate(run::APP, &args, run::FolderData::of_pipeline, device, execution),
    }
}
