//! How a command ends: Ctrl-C as a request to stop cleanly (finish the step, write a checkpoint, exit),
//! and the exit status of its result.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Installs a Ctrl-C handler and returns the flag it sets, for [`ddpm_train::FitPlan::stop`]. A second
/// Ctrl-C exits at once (status 130) for when the current step is too slow to wait for.
pub fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("\nCtrl-C: finishing this step and writing a checkpoint (press again to abort)");
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(stop)
}

/// The process's exit status for a command's result: success, or the error and its causes on stderr
/// (`error: ...: ...`) and status 1.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
