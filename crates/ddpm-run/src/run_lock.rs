//! One writer per run folder: `train` holds an exclusive lock on `RUN/.lock` for as long as it writes
//! the run, so a second `train` on the same `--out` (new or `--resume`) is refused, naming the holder,
//! instead of both writing checkpoints and `metrics.jsonl` under each other. The lock is the operating
//! system's (released when the process ends, however it ends), so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The lock file inside a run folder; it holds the pid of the process that last held it.
const LOCK_FILE: &str = ".lock";

/// The held lock of a run folder; dropping it (or ending the process) releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    dir: PathBuf,
    /// Whether [`RunLock::acquire`] made the folder.
    created: bool,
}

impl RunLock {
    /// Locks the run folder `dir` (creating it when missing) for this process, or says which process
    /// holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                // Best effort: the pid only makes the refusal of a second writer more helpful.
                let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id()));
                Ok(Self { _file: file, dir: dir.to_path_buf(), created })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() { String::new() } else { format!(" (pid {})", holder.trim()) };
                anyhow::bail!(
                    "{} is being written by another train{holder}: wait for it to end (or stop it with Ctrl-C), \
                     or give this run another --out",
                    dir.display()
                )
            }
            Err(TryLockError::Error(error)) => Err(error).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

impl Drop for RunLock {
    /// A run refused after the folder was made for it (its data unreadable, say) wrote nothing into it
    /// but the lock: the folder goes, as if the command had never run.
    fn drop(&mut self) {
        let only_the_lock = std::fs::read_dir(&self.dir).is_ok_and(|entries| entries.count() == 1);
        if self.created && only_the_lock {
            let _ = std::fs::remove_file(self.dir.join(LOCK_FILE));
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}
