//! Wall-clock and CPU time of a piece of work, so a timing says whether the cores were ours.

use std::time::Instant;

/// Started with [`Stopwatch::start`], read with [`Stopwatch::stop`].
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: f64,
}

/// Seconds of wall time and the process's CPU seconds per wall second over the same span
/// (about 2.0 when two busy threads had both cores; far less when another job shared them).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timing {
    pub seconds: f64,
    pub cpu_utilisation: f64,
}

impl Stopwatch {
    pub fn start() -> Self {
        Self { wall: Instant::now(), cpu: process_cpu_seconds() }
    }

    pub fn stop(&self) -> Timing {
        let seconds = self.wall.elapsed().as_secs_f64();
        Timing { seconds, cpu_utilisation: (process_cpu_seconds() - self.cpu) / seconds }
    }
}

/// The largest resident memory this process has used so far, in MiB.
pub fn peak_memory_mib() -> f64 {
    // ru_maxrss is in KiB on Linux, bytes on macOS.
    let max_rss = own_usage().ru_maxrss as f64;
    if cfg!(target_os = "macos") { max_rss / (1024.0 * 1024.0) } else { max_rss / 1024.0 }
}

fn own_usage() -> libc::rusage {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

/// User + system CPU time of this process, all threads.
fn process_cpu_seconds() -> f64 {
    let usage = own_usage();
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
