//! `image-train`: DDPM on a folder of your own images. Run with `--help`, or `<subcommand> --help`.

mod cli;
mod run;
mod sample;
mod train;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// What `train --resume` may change; every other `train` flag contradicts the run and is refused.
const RESUME_MAY_CHANGE: [&str; 8] =
    ["out", "steps", "minutes", "checkpoint_every", "log_every", "sample_every", "data_dir", "print_model"];

fn main() -> ExitCode {
    ddpm_run::exit_quietly_on_broken_pipe();
    let matches = ddpm_run::refuse_with_resume(cli::Args::command(), &RESUME_MAY_CHANGE).get_matches();
    let args = cli::Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    ddpm_run::exit_code(dispatch(args))
}

fn dispatch(args: cli::Args) -> anyhow::Result<()> {
    let device = args.backend.init().map_err(anyhow::Error::msg)?;
    match args.command {
        cli::Command::Train(train) => train::run(&train, &device, args.backend.batch_slices()),
        cli::Command::Sample(sample) => sample::run(&sample, &device, args.backend.batch_slices()),
        cli::Command::Export(export) => ddpm_run::export::<run::FolderData>(run::APP, &export, &device),
    }
}
