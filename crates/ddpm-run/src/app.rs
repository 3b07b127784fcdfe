//! The `main` every image app shares: parse, open the backend, dispatch the subcommand, exit.

use std::process::ExitCode;

use burn::tensor::Device;
use clap::Parser;

use crate::{BackendArgs, Execution, exit_code, exit_quietly_on_broken_pipe, refuse_with_resume};

/// Runs an app with subcommands: parses its command line (refusing, beside `train --resume`, every
/// `train` flag not in `resume_may_change`, see [`refuse_with_resume`]), opens the chosen backend and
/// runs `dispatch` with the device and the execution policy beside it; an error is printed and becomes
/// the exit code ([`exit_code`]). `backend` finds the shared `--device` and `--threads` flags in `A`.
pub fn run_app<A: Parser>(
    resume_may_change: &[&str],
    backend: impl Fn(&A) -> &BackendArgs,
    dispatch: impl FnOnce(A, &Device, Execution) -> anyhow::Result<()>,
) -> ExitCode {
    exit_quietly_on_broken_pipe();
    let matches = refuse_with_resume(A::command(), resume_may_change).get_matches();
    let args = A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let opened = backend(&args).init().map_err(anyhow::Error::msg);
    exit_code(opened.and_then(|device| {
        let execution = backend(&args).execution();
        dispatch(args, &device, execution)
    }))
}
