//! How a command ends: Ctrl-C, SIGTERM or SIGHUP as a request to stop cleanly (finish the step, write a
//! checkpoint, exit), and the exit status of its result.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`training_over`]: a stop request then exits at once, the checkpoint being written.
static TRAINING_OVER: AtomicBool = AtomicBool::new(false);

/// Installs a handler for Ctrl-C (SIGINT) and for SIGTERM and SIGHUP (what `timeout`, `docker stop`,
/// systemd and Slurm send, and a closed terminal) and returns the flag it sets, for
/// [`ddpm_train::FitPlan::stop`]. A second request exits at once (status 130) for when the current step
/// is too slow to wait for; after [`training_over`] the first one does.
pub fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if TRAINING_OVER.load(Ordering::SeqCst) {
            say("stopping; the run's checkpoint is already written");
            std::process::exit(130);
        }
        say("finishing this step and writing a checkpoint (Ctrl-C again to abort)");
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C (SIGINT, SIGTERM, SIGHUP) handler: {e}"))?;
    Ok(stop)
}

/// Tells the user on stderr why the program is stopping. After SIGHUP the terminal may be gone, and
/// `eprintln!` would panic, leaving the stop unrequested; so a failed write is ignored.
fn say(what: &str) {
    let _ = writeln!(std::io::stderr(), "\nstop requested (Ctrl-C, SIGTERM or SIGHUP): {what}");
}

/// Says that training has ended and its checkpoint is written, so that Ctrl-C during what follows
/// (the final samples, the report) stops the program rather than promising a checkpoint.
pub fn training_over() {
    TRAINING_OVER.store(true, Ordering::SeqCst);
}

/// Lets a closed output pipe end the program as it ends other Unix tools (`mnist-train sweep | head`),
/// rather than making the next `println!` panic: Rust ignores SIGPIPE by default. Call it first in `main`.
pub fn exit_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread starts has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The process's exit status for a command's result: success, or the error and its causes on stderr
/// (`error: ...: ...`, each cause said once) and status 1.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `error` and its causes joined by ": ", leaving out a cause whose text the message already holds (the
/// library errors print their source inside their own message).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_states_is_said_once() {
        let io = std::io::Error::other("disk full");
        let write = ddpm_data::IoError::Write { path: "grid.png".into(), source: io };
        let error = anyhow::Error::new(write).context("sampling");
        assert_eq!(describe(&error), "sampling: cannot write grid.png: disk full. Check that the folder exists and is writable");
        let plain = anyhow::Error::new(std::io::Error::other("inner")).context("outer");
        assert_eq!(describe(&plain), "outer: inner");
    }
}
