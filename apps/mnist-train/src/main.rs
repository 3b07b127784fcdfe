//! `mnist-train`: DDPM on MNIST. Run with `--help`, or `<subcommand> --help`, for every setting.
// The doc comments of the flags are their --help text, where <name> stands for a value.
#![allow(rustdoc::invalid_html_tags)]

mod baseline;
mod bench;
mod classifier;
mod cli;
mod digits;
mod eval;
mod forward;
mod run;
mod sample;
mod sweep;
mod train;

use std::process::ExitCode;

use burn::tensor::Device;
use ddpm_run::Execution;

/// What `train --resume` may change; every other `train` flag contradicts the run and is refused.
const RESUME_MAY_CHANGE: [&str; 11] = [
    "out",
    "steps",
    "minutes",
    "checkpoint_every",
    "log_every",
    "sample_every",
    "eval_every",
    "eval_samples",
    "classifier",
    "data_dir",
    "print_model",
];

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
        cli::Command::Export(export) => ddpm_run::export::<run::MnistData>(run::APP, &export, device),
        cli::Command::Forward(forward) => forward::run(&forward, device),
        cli::Command::Baseline(baseline) => baseline::run(&baseline, device),
        cli::Command::Bench(bench) => bench::run(&bench, device, execution),
        cli::Command::Eval(eval) => eval::run(&eval, device),
        cli::Command::Classifier(classifier) => classifier::train(&classifier, device),
        cli::Command::Sweep(sweep) => sweep::run(&sweep, device, execution),
        cli::Command::Digits(args) => digits::run(&args),
        cli::Command::Inpaint(args) => ddpm_run::edit::inpaint(run::APP, &args, run::MnistData::of_pipeline, device, execution),
        cli::Command::Img2img(args) => ddpm_run::edit::img2img(run::APP, &args, run::MnistData::of_pipeline, device, execution),
        cli::Command::Invert(args) => ddpm_run::edit::invert(run::APP, &args, run::MnistData::of_pipeline, device, execution),
        cli::Command::Interpolate(args) => ddpm_run::edit::interpolate(run::APP, &args, run::MnistData::of_pipeline, device, execution),
    }
}
