//! Checkpoints: a folder holding the online weights, their EMA, the optimiser state and a
//! `state.json` with the step, the noise stream, the training config and whatever the app needs
//! to rebuild the run (schedule, network, data shape, ...), so a checkpoint describes itself.
//!
//! A folder is a complete checkpoint exactly when it holds a `state.json`: the weights are written
//! and fsynced first, `state.json` last (atomically), and a checkpoint folder is removed by deleting
//! its `state.json` first. A new checkpoint is written into `.checkpoint.tmp/`; then the old
//! `checkpoint/` becomes `.checkpoint.old/`, the new one takes its name and the old one is deleted.
//! No step deletes a complete checkpoint unless a newer or equal one is complete beside it, so a crash
//! at any point, or several crashes in a row, leave the newest complete checkpoint under one of the
//! three names, and [`resolve`] finds it whatever its name. The next save finishes an interrupted swap.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use ddpm_core::NoiseRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{TrainConfig, TrainError, Trainer, upgrade};

/// The folder name of the current checkpoint inside a run folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
const TEMP_DIR: &str = ".checkpoint.tmp";
const OLD_DIR: &str = ".checkpoint.old";
const STATE_FILE: &str = "state.json";
/// The layout this version writes. 2: a typed run description, the prediction target in the training
/// config. 3: the U-Nets' blocks under diffusers' names, one attention projection each for the query,
/// key and value. Format 2 is read too: its weights and optimiser state are upgraded as they are read.
pub const CHECKPOINT_FORMAT: u32 = 3;

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

/// The checkpoint folder that `path` names: a checkpoint folder itself, or a run folder's newest
/// complete checkpoint, whichever of `checkpoint/`, `.checkpoint.old/` and `.checkpoint.tmp/` (the
/// names of the swap, see the module docs) holds it. A `state.json` whose step cannot be read still
/// counts, below every readable one, so that [`read_state`] can say what is wrong with it.
pub fn resolve(path: &Path) -> Result<PathBuf, TrainError> {
    if path.join(STATE_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    newest_checkpoint(path).ok_or_else(|| TrainError::NoCheckpoint { path: path.into() })
}

/// The complete checkpoint of `run_dir` with the highest step; ties go to the earlier name of
/// [`CHECKPOINT_DIR`], [`OLD_DIR`], [`TEMP_DIR`].
fn newest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    let mut newest: Option<(Option<usize>, PathBuf)> = None;
    for dir in [CHECKPOINT_DIR, OLD_DIR, TEMP_DIR].map(|name| run_dir.join(name)) {
        if !dir.join(STATE_FILE).is_file() {
            continue;
        }
        let step = saved_step(&dir);
        if newest.as_ref().is_none_or(|(best, _)| step > *best) {
            newest = Some((step, dir));
        }
    }
    newest.map(|(_, dir)| dir)
}

/// The step in `dir/state.json`, if it can be read.
fn saved_step(dir: &Path) -> Option<usize> {
    #[derive(Deserialize)]
    struct Step {
        step: usize,
    }
    let text = std::fs::read_to_string(dir.join(STATE_FILE)).ok()?;
    serde_json::from_str::<Step>(&text).ok().map(|s| s.step)
}

/// Refuses a run folder that already holds a checkpoint, so a new run cannot overwrite an old one.
pub fn ensure_new_run_dir(run_dir: &Path) -> Result<(), TrainError> {
    match resolve(run_dir) {
        Ok(_) => Err(TrainError::RunExists { path: run_dir.into() }),
        Err(_) => Ok(()),
    }
}

/// The text of the checkpoint folder `dir`'s `state.json` and its format header.
fn read_header(dir: &Path) -> Result<(String, FormatHeader), TrainError> {
    let file = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| error(&file, e))?;
    let header = serde_json::from_str(&text).map_err(|e| error(&file, format!("unreadable state ({e})")))?;
    Ok((text, header))
}

/// The whole of `file`, read into memory at once. Burn's file-backed reads fetch the data later, by
/// path, and panic when a `train` has swapped the checkpoint away in between; a read that fails here is
/// an error its caller can retry.
pub(crate) fn read_whole(file: &Path) -> Result<burn_pack::Bytes, String> {
    std::fs::read(file).map(burn_pack::Bytes::from_bytes_vec).map_err(|e| format!("cannot read it ({e})"))
}

/// The format of the checkpoint folder `dir`.
fn format_of(dir: &Path) -> Result<u32, TrainError> {
    read_header(dir).map(|(_, header)| header.format)
}

/// Reads `state.json` of the checkpoint `path` names (see [`resolve`]), refusing another format.
pub fn read_state<R: DeserializeOwned>(path: &Path) -> Result<(PathBuf, CheckpointState<R>), TrainError> {
    let dir = resolve(path)?;
    let file = dir.join(STATE_FILE);
    let (text, header) = read_header(&dir)?;
    if header.format != CHECKPOINT_FORMAT && header.format != upgrade::FORMAT {
        let writer = if header.code_version.is_empty() { String::new() } else { format!(" by ddpm {}", header.code_version) };
        return Err(error(
            &file,
            format!(
                "this checkpoint was written in format {}{writer}; this version reads formats {} and {CHECKPOINT_FORMAT} only. \
                 Train the run again with this version, or sample it with the version that wrote it",
                header.format,
                upgrade::FORMAT
            ),
        ));
    }
    let mut state: serde_json::Value = serde_json::from_str(&text).map_err(|e| error(&file, format!("unreadable state ({e})")))?;
    fill_train_defaults(&mut state);
    let state = serde_json::from_value(state).map_err(|e| error(&file, format!("unreadable state ({e})")))?;
    Ok((dir, state))
}

/// Gives the training config of `state` the default of every setting it lacks: settings added since
/// the checkpoint was written (e.g. `variance`) then read as the behaviour the run trained with.
fn fill_train_defaults(state: &mut serde_json::Value) {
    let defaults = serde_json::to_value(TrainConfig::new()).expect("a training config serializes");
    if let (Some(train), serde_json::Value::Object(defaults)) = (state.get_mut("train").and_then(|t| t.as_object_mut()), defaults) {
        for (key, value) in defaults {
            train.entry(key).or_insert(value);
        }
    }
}

/// Loads weights saved by [`Trainer::save`] into `model` (built from the same config): the EMA
/// weights (`ema.bpk`) when `ema`, else the online ones (`model.bpk`). Weights holding a NaN or an
/// infinity are refused, naming the tensor: training never saves them, so the file is damaged.
pub fn load_weights<M: Module>(model: M, checkpoint: &Path, ema: bool) -> Result<M, TrainError> {
    let name = if ema { "ema.bpk" } else { "model.bpk" };
    let file = checkpoint.join(name);
    if !file.is_file() {
        return Err(TrainError::MissingWeights { checkpoint: checkpoint.into(), ema });
    }
    let bytes = if format_of(checkpoint)? == upgrade::FORMAT { upgrade::weights(&file) } else { read_whole(&file) };
    let record = bytes.and_then(|bytes| ModuleRecord::from_bytes(bytes).map_err(|e| format!("{e}")));
    let record = record.map_err(|reason| error(&file, format!("cannot read the weights: {reason}")))?;
    let model = model
        .try_load_record(record)
        .map_err(|e| error(&file, format!("cannot load weights ({e:?}); was it written for this network configuration?")))?;
    match ddpm_core::non_finite_parameter(&model) {
        Some((tensor, count)) => Err(error(&file, format!("'{tensor}' holds {count} NaN or infinite values; the file is damaged"))),
        None => Ok(model),
    }
}

impl<M: Module> Trainer<M> {
    /// Writes a checkpoint into `run_dir/checkpoint/`, crash-safely (see the module docs); `run` is the
    /// app's description of the run.
    pub fn save<R: Serialize>(&self, run_dir: &Path, run: &R) -> Result<(), TrainError> {
        let state = CheckpointState {
            format: CHECKPOINT_FORMAT,
            code_version: env!("CARGO_PKG_VERSION").into(),
            step: self.step,
            rng: self.rng,
            train: self.config.clone(),
            run,
        };
        let json = serde_json::to_string_pretty(&state).expect("the state serialises");
        let write_weights = |dir: &Path| {
            fn saved<E: std::fmt::Debug>(file: PathBuf, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), TrainError> {
                write(&file).map_err(|e| error(&file, format!("{e:?}")))
            }
            saved(dir.join("model.bpk"), |file| self.model.clone().save_file(file))?;
            if let Some(ema) = &self.ema {
                saved(dir.join("ema.bpk"), |file| ema.clone().save_file(file))?;
            }
            saved(dir.join("optimizer.bpk"), |file| self.optimizer.save(file))
        };
        write_checkpoint(run_dir, write_weights, &json, &mut |_| Ok(()))
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
        self.optimizer = if state.format == upgrade::FORMAT {
            let bytes = upgrade::optimizer(&optimizer_file, &dir.join("model.bpk")).map_err(|reason| error(&optimizer_file, reason))?;
            self.optimizer.from_bytes(bytes)
        } else {
            self.optimizer.load(&optimizer_file)
        }
        .map_err(|e| error(&optimizer_file, format!("{e:?}")))?;
        self.step = state.step;
        self.rng = state.rng;
        Ok(self)
    }
}

/// Writes a checkpoint into `run_dir/checkpoint/`: `write_files` puts everything but `state.json` into
/// the folder it is given. `crash_point` is called before each file-system step with its name; an
/// error from it stops the save there, as a crash would (the tests inject crashes with it).
fn write_checkpoint(
    run_dir: &Path,
    write_files: impl FnOnce(&Path) -> Result<(), TrainError>,
    state_json: &str,
    crash_point: &mut dyn FnMut(&'static str) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let temp = run_dir.join(TEMP_DIR);
    if newest_checkpoint(run_dir).is_some_and(|newest| newest == temp) {
        // A crash interrupted the last swap after its checkpoint was complete: finish it first.
        swap_in(run_dir, crash_point)?;
    }
    crash_point("clear the temporary folder")?;
    remove_checkpoint(&temp, crash_point)?;
    std::fs::create_dir_all(&temp).map_err(|e| error(&temp, e))?;
    crash_point("write the weights")?;
    write_files(&temp)?;
    sync_files(&temp)?;
    crash_point("write state.json")?;
    write_synced(&temp.join(STATE_FILE), state_json.as_bytes())?;
    sync_dir(&temp)?;
    swap_in(run_dir, crash_point)
}

/// Moves the complete `.checkpoint.tmp/`, the newest checkpoint, to `checkpoint/`, and the one it
/// replaces out of the way.
fn swap_in(run_dir: &Path, crash_point: &mut dyn FnMut(&'static str) -> Result<(), TrainError>) -> Result<(), TrainError> {
    let (current, old, temp) = (run_dir.join(CHECKPOINT_DIR), run_dir.join(OLD_DIR), run_dir.join(TEMP_DIR));
    crash_point("remove the previous old checkpoint")?;
    remove_checkpoint(&old, crash_point)?;
    crash_point("retire the current checkpoint")?;
    if current.exists() {
        std::fs::rename(&current, &old).map_err(|e| error(&current, e))?;
        sync_dir(run_dir)?;
    }
    crash_point("promote the new checkpoint")?;
    std::fs::rename(&temp, &current).map_err(|e| error(&current, e))?;
    sync_dir(run_dir)?;
    crash_point("remove the retired checkpoint")?;
    remove_checkpoint(&old, crash_point)
}

/// Deletes a checkpoint folder, `state.json` first, so that a crash halfway leaves an incomplete
/// folder, never one that looks complete.
fn remove_checkpoint(dir: &Path, crash_point: &mut dyn FnMut(&'static str) -> Result<(), TrainError>) -> Result<(), TrainError> {
    if !dir.exists() {
        return Ok(());
    }
    let state = dir.join(STATE_FILE);
    if state.exists() {
        std::fs::remove_file(&state).map_err(|e| error(&state, e))?;
        sync_dir(dir)?;
    }
    crash_point("remove the rest of a checkpoint folder")?;
    std::fs::remove_dir_all(dir).map_err(|e| error(dir, e))
}

/// Writes `bytes` to `path` atomically and durably ([`ddpm_io::write_atomically`]: a synced
/// temporary file renamed over it), so `path` holds the old contents or the new ones whenever a crash comes.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    ddpm_io::write_atomically(path, bytes).map_err(|e| error(path, e))
}

/// Fsyncs every file in `dir`, so the weights are on disk before `state.json` says they are.
fn sync_files(dir: &Path) -> Result<(), TrainError> {
    for entry in std::fs::read_dir(dir).map_err(|e| error(dir, e))? {
        let path = entry.map_err(|e| error(dir, e))?.path();
        std::fs::File::open(&path).and_then(|file| file.sync_all()).map_err(|e| error(&path, e))?;
    }
    Ok(())
}

/// Flushes a folder's entries (creations, renames, removals) to disk. Platforms that cannot open a
/// folder (Windows) skip it.
fn sync_dir(dir: &Path) -> Result<(), TrainError> {
    match std::fs::File::open(dir) {
        Ok(handle) => handle.sync_all().or_else(|e| if cfg!(windows) { Ok(()) } else { Err(error(dir, e)) }),
        Err(_) if cfg!(windows) => Ok(()),
        Err(e) => Err(error(dir, e)),
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
        assert!(err.contains("written in format 1 by ddpm 0.1.0; this version reads formats 2 and 3 only. Train the run again"), "{err}");
    }

    #[test]
    fn a_training_setting_added_since_the_checkpoint_reads_as_its_default() {
        let run = tempfile::tempdir().unwrap();
        let dir = run.path().join(CHECKPOINT_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let mut train = serde_json::to_value(TrainConfig::new().with_steps(7)).unwrap();
        train.as_object_mut().unwrap().remove("variance");
        let state = serde_json::json!({"format": CHECKPOINT_FORMAT, "code_version": "0.1.0", "step": 3,
            "rng": {"seed": 0, "draws": 9}, "train": train, "run": {}});
        std::fs::write(dir.join(STATE_FILE), state.to_string()).unwrap();
        let (_, read) = read_state::<serde::de::IgnoredAny>(run.path()).unwrap();
        assert_eq!((read.train.steps, read.train.variance), (7, ddpm_core::ModelVariance::Fixed));
    }

    /// Saves a fake checkpoint of `step` (its one weights file says the step), crashing at the
    /// `crash_at`-th file-system step when given. Returns whether it crashed.
    fn save_step(run_dir: &Path, step: usize, crash_at: Option<usize>) -> bool {
        let mut points = 0;
        let mut crash_point = |_: &'static str| {
            points += 1;
            if Some(points - 1) == crash_at { Err(TrainError::Hook("simulated crash".into())) } else { Ok(()) }
        };
        let write_files = |dir: &Path| std::fs::write(dir.join("model.bpk"), format!("weights {step}")).map_err(|e| error(dir, e));
        let state = serde_json::json!({ "format": CHECKPOINT_FORMAT, "step": step }).to_string();
        match write_checkpoint(run_dir, write_files, &state, &mut crash_point) {
            Ok(()) => false,
            Err(TrainError::Hook(_)) => true,
            Err(other) => panic!("step {step}, crash at {crash_at:?}: {other}"),
        }
    }

    /// The step of the checkpoint [`resolve`] finds, checking that its weights are that step's.
    fn found_step(run_dir: &Path) -> Option<usize> {
        let dir = resolve(run_dir).ok()?;
        let step = saved_step(&dir).expect("a found checkpoint has a readable state.json");
        assert_eq!(std::fs::read_to_string(dir.join("model.bpk")).unwrap(), format!("weights {step}"), "{}", dir.display());
        Some(step)
    }

    #[test]
    fn any_two_crashes_during_checkpoint_swaps_leave_the_newest_complete_checkpoint_findable() {
        for first_crash in 0..12 {
            for second_crash in 0..12 {
                let run = tempfile::tempdir().unwrap();
                let case = format!("crash at point {first_crash}, then at {second_crash}");
                assert!(!save_step(run.path(), 1, None));
                let crashed = save_step(run.path(), 2, Some(first_crash));
                let found = found_step(run.path()).unwrap_or_else(|| panic!("{case}: the run is lost"));
                assert!(found == 2 || (crashed && found == 1), "{case}: found step {found}");
                // The run resumes from what was found and saves again, crashing again.
                let crashed = save_step(run.path(), found + 1, Some(second_crash));
                let after = found_step(run.path()).unwrap_or_else(|| panic!("{case}: the run is lost"));
                assert!(after == found + 1 || (crashed && after == found), "{case}: found step {after} after step {found}");
                assert!(!save_step(run.path(), after + 1, None));
                assert_eq!(found_step(run.path()), Some(after + 1), "{case}");
                let left: Vec<_> = std::fs::read_dir(run.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
                assert_eq!(left, [CHECKPOINT_DIR], "{case}: a clean save leaves only checkpoint/");
            }
        }
    }

    #[test]
    fn a_crash_during_the_first_save_leaves_no_checkpoint_and_the_next_save_succeeds() {
        for crash in 0..3 {
            let run = tempfile::tempdir().unwrap();
            assert!(save_step(run.path(), 1, Some(crash)), "point {crash} is before the first checkpoint is complete");
            assert_eq!(found_step(run.path()), None, "point {crash}");
            assert!(ensure_new_run_dir(run.path()).is_ok(), "an incomplete checkpoint is not a run");
            assert!(!save_step(run.path(), 1, None));
            assert_eq!(found_step(run.path()), Some(1));
        }
    }

    #[test]
    fn a_complete_checkpoint_left_only_in_the_temporary_folder_is_found_and_guards_the_run() {
        let run = tempfile::tempdir().unwrap();
        assert!(!save_step(run.path(), 5, None));
        std::fs::rename(run.path().join(CHECKPOINT_DIR), run.path().join(TEMP_DIR)).unwrap();
        assert_eq!(found_step(run.path()), Some(5));
        assert!(ensure_new_run_dir(run.path()).is_err(), "a new run must not overwrite it");
    }
}
