//! Checkpoints: a folder holding the online weights, their EMA, the optimiser state and a
//! `state.json` with the step, the noise stream, the training config and whatever the app needs
//! to rebuild the run (schedule, network, data shape, ...), so a checkpoint describes itself.
//!
//! Written atomically: everything goes to `.checkpoint.tmp/` first; then the old `checkpoint/`
//! becomes `.checkpoint.old/`, the new one takes its name and the old one is deleted. A crash at
//! any point leaves a complete checkpoint under one of those names, and [`resolve`] finds it.

use std::path::{Path, PathBuf};

use burn::module::Module;
use ddpm_schedule::NoiseRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{TrainConfig, TrainError, Trainer};

/// The folder name of the current checkpoint inside a run folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
const TEMP_DIR: &str = ".checkpoint.tmp";
const OLD_DIR: &str = ".checkpoint.old";
const STATE_FILE: &str = "state.json";
/// The layout of `state.json` this version writes and reads. 2: a typed run description, the
/// prediction target in the training config.
pub const CHECKPOINT_FORMAT: u32 = 2;

/// The contents of `state.json`; `R` is the app's typed description of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState<R> {
    /// Bumped when the layout changes ([`CHECKPOINT_FORMAT`]).
    pub format: u32,
    /// The `ddpm-train` version that wrote it.
    pub code_version: String,
    /// Optimiser steps taken.
    pub step: usize,
    pub rng: NoiseRng,
    pub train: TrainConfig,
    /// The app's description of the run (schedule, network, data, ...).
    pub run: R,
}

/// The two fields every format has, read first so that another format gets a clear refusal.
#[derive(Deserialize)]
struct FormatHeader {
    format: u32,
    #[serde(default)]
    code_version: String,
}

fn error(path: &Path, reason: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint { path: path.into(), reason: reason.to_string() }
}

/// The checkpoint folder that `path` names: a run folder (its `checkpoint/`, or `.checkpoint.old/`
/// when a crash interrupted the swap) or a checkpoint folder itself.
pub fn resolve(path: &Path) -> Result<PathBuf, TrainError> {
    [path.to_path_buf(), path.join(CHECKPOINT_DIR), path.join(OLD_DIR)]
        .into_iter()
        .find(|dir| dir.join(STATE_FILE).is_file())
        .ok_or_else(|| error(path, "no checkpoint here (looked for state.json in it, in checkpoint/ and in .checkpoint.old/); pass the --out folder of a training run"))
}

/// Refuses a run folder that already holds a checkpoint, so a new run cannot overwrite an old one.
pub fn ensure_new_run_dir(run_dir: &Path) -> Result<(), TrainError> {
    match resolve(run_dir) {
        Ok(_) => Err(error(run_dir, "it already holds a training run: add --resume to continue it, or pick another --out")),
        Err(_) => Ok(()),
    }
}

/// Reads `state.json` of the checkpoint `path` names (see [`resolve`]), refusing another format.
pub fn read_state<R: DeserializeOwned>(path: &Path) -> Result<(PathBuf, CheckpointState<R>), TrainError> {
    let dir = resolve(path)?;
    let file = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| error(&file, e))?;
    let header: FormatHeader = serde_json::from_str(&text).map_err(|e| error(&file, format!("unreadable state ({e})")))?;
    if header.format != CHECKPOINT_FORMAT {
        let writer = if header.code_version.is_empty() { String::new() } else { format!(" by ddpm {}", header.code_version) };
        return Err(error(
            &file,
            format!(
                "this checkpoint was written in format {}{writer}; this version reads format {CHECKPOINT_FORMAT} only. \
                 Train the run again with this version, or sample it with the version that wrote it",
                header.format
            ),
        ));
    }
    let state = serde_json::from_str(&text).map_err(|e| error(&file, format!("unreadable state ({e})")))?;
    Ok((dir, state))
}

/// Loads weights saved by [`Trainer::save`] into `model` (built from the same config).
pub fn load_weights<M: Module>(model: M, checkpoint: &Path, ema: bool) -> Result<M, TrainError> {
    let name = if ema && checkpoint.join("ema.bpk").is_file() { "ema.bpk" } else { "model.bpk" };
    let file = checkpoint.join(name);
    model
        .try_load_file(&file)
        .map_err(|e| error(&file, format!("cannot load weights ({e:?}); was it written for this network configuration?")))
}

impl<M: Module> Trainer<M> {
    /// Writes a checkpoint into `run_dir/checkpoint/`, atomically; `run` is the app's description of the run.
    pub fn save<R: Serialize>(&self, run_dir: &Path, run: &R) -> Result<(), TrainError> {
        let temp = run_dir.join(TEMP_DIR);
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir_all(&temp).map_err(|e| error(&temp, e))?;
        self.model.clone().save_file(temp.join("model.bpk")).map_err(|e| error(&temp, format!("{e:?}")))?;
        if let Some(ema) = &self.ema {
            ema.clone().save_file(temp.join("ema.bpk")).map_err(|e| error(&temp, format!("{e:?}")))?;
        }
        self.optimizer.save(temp.join("optimizer.bpk")).map_err(|e| error(&temp, format!("{e:?}")))?;
        let state = CheckpointState {
            format: CHECKPOINT_FORMAT,
            code_version: env!("CARGO_PKG_VERSION").into(),
            step: self.step,
            rng: self.rng,
            train: self.config.clone(),
            run,
        };
        let json = serde_json::to_string_pretty(&state).expect("the state serialises");
        std::fs::write(temp.join(STATE_FILE), json).map_err(|e| error(&temp, e))?;
        sync_dir(&temp);

        let (current, old) = (run_dir.join(CHECKPOINT_DIR), run_dir.join(OLD_DIR));
        let _ = std::fs::remove_dir_all(&old);
        if current.exists() {
            std::fs::rename(&current, &old).map_err(|e| error(&current, e))?;
        }
        std::fs::rename(&temp, &current).map_err(|e| error(&current, e))?;
        sync_dir(run_dir);
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Restores weights, EMA, optimiser state, step and noise stream from the checkpoint `path`
    /// names. `self` must have been built from the checkpoint's own configs.
    pub fn resume(mut self, path: &Path) -> Result<Self, TrainError> {
        let (dir, state) = read_state::<serde::de::IgnoredAny>(path)?;
        self.model = load_weights(self.model, &dir, false)?;
        if let Some(ema) = self.ema.take() {
            self.ema = Some(load_weights(ema, &dir, true)?);
        }
        let optimizer_file = dir.join("optimizer.bpk");
        self.optimizer = self.optimizer.load(&optimizer_file).map_err(|e| error(&optimizer_file, format!("{e:?}")))?;
        self.step = state.step;
        self.rng = state.rng;
        Ok(self)
    }
}

/// Flushes a folder's entries (the renames) to disk where the platform allows it.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_of_another_format_is_refused_naming_both_versions() {
        let run = tempfile::tempdir().unwrap();
        let dir = run.path().join(CHECKPOINT_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let old = r#"{"format": 1, "code_version": "0.1.0", "step": 3, "rng": {"seed": 0, "draws": 9}, "train": {}, "run": {}}"#;
        std::fs::write(dir.join(STATE_FILE), old).unwrap();
        let err = read_state::<serde::de::IgnoredAny>(run.path()).unwrap_err().to_string();
        assert!(err.contains("written in format 1 by ddpm 0.1.0; this version reads format 2 only. Train the run again"), "{err}");
    }
}
