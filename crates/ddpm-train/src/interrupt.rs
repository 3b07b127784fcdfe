//! Ctrl-C as a request to stop cleanly: finish the step, write a checkpoint, exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::TrainError;

/// Installs a Ctrl-C handler and returns the flag it sets, for [`crate::FitPlan::stop`]. A second
/// Ctrl-C exits at once (status 130) for when the current step is too slow to wait for.
pub fn stop_on_ctrl_c() -> Result<Arc<AtomicBool>, TrainError> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("\nCtrl-C: finishing this step and writing a checkpoint (press again to abort)");
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| TrainError::Hook(format!("cannot install the Ctrl-C handler: {e}")))?;
    Ok(stop)
}
