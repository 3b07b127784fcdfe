//! The `main` every image app shares: parse, open the backend, dispatch the subcommand, exit.

use std::process::ExitCode;

use burn::tensor::Device;
use clap::Parser;

use crate::{BackendArgs, Execution, exit_code, exit_quietly_on_broken_pipe, train_flags};

/// Runs an app with subcommands: parses its command line (remembering the `train` flags that fix a run,
/// all but those in `resume_may_change`: a new run records them, `--resume` checks the typed ones
/// against the run's record), opens the chosen backend and
/// runs `dispatch` with the device and the execution policy beside it; an error is printed and becomes
/// the exit code ([`exit_code`]). `backend` finds the shared `--device` and `--threads` flags in `A`.
pub fn run_app<A: Parser>(
    resume_may_change: &[&str],
    backend: impl Fn(&A) -> &BackendArgs,
    dispatch: impl FnOnce(A, &Device, Execution) -> anyhow::Result<()>,
) -> ExitCode {
    exit_quietly_on_broken_pipe();
    let command = A::command();
    let matches = command.clone().get_matches();
    if let (Some(("train", train)), Some(train_command)) = (matches.subcommand(), command.find_subcommand("train")) {
        train_flags::remember(train_command, train, resume_may_change);
    }
    let args = A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let opened = backend(&args).init().map_err(anyhow::Error::msg);
    exit_code(opened.and_then(|device| {
        let execution = backend(&args).execution();
        dispatch(args, &device, execution)
    }))
}
