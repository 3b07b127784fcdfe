//! Library errors turned into command-line advice. The crates below name the setting, file and value
//! at fault and never a flag; this crate knows which flag sets what, and says so.

use ddpm_data::{DataError, IoError};
use ddpm_train::TrainError;

/// The `train` flag that sets a [`ddpm_train::TrainConfig`] field, where there is one.
fn train_flag(field: &str) -> Option<&'static str> {
    Some(match field {
        "learning_rate" => "--lr",
        "min_lr" => "--min-lr",
        "weight_decay" => "--weight-decay",
        "grad_clip_norm" => "--clip",
        "ema.decay" => "--ema-decay",
        "steps" => "--steps",
        "log_every" => "--log-every",
        "batch_size" => "--batch-size",
        _ => return None,
    })
}

/// What to type to get past `error`, when a flag can.
fn train_fix(error: &TrainError) -> Option<String> {
    match error {
        TrainError::InvalidSetting { field, .. } => train_flag(field).map(|flag| format!("set with {flag}")),
        TrainError::NonFiniteLoss { suggested_lr, .. } => Some(format!("e.g. --lr {suggested_lr:e}")),
        TrainError::NoCheckpoint { .. } => Some("pass the --out folder of a training run".into()),
        TrainError::RunExists { .. } => Some("add --resume to continue it, or pick another --out".into()),
        TrainError::MissingWeights { ema: true, .. } => Some("restore it, or sample with --weights online".into()),
        _ => None,
    }
}

/// `error` with the flag-level fix appended, for the apps' messages.
pub fn train_error(error: TrainError) -> anyhow::Error {
    match train_fix(&error) {
        Some(fix) => anyhow::anyhow!("{error} ({fix})"),
        None => anyhow::Error::new(error),
    }
}

/// What to type to get past a data error, when a flag can.
fn data_fix(error: &DataError) -> Option<&'static str> {
    Some(match error {
        DataError::MissingMnist { .. } => "name the folder with --data-dir",
        DataError::NotAFolder { .. } | DataError::NoImages { .. } => "--data-dir names a folder of PNG or JPEG images",
        DataError::UnreadableImages { .. } => "or pass --skip-bad to train without them",
        DataError::Io(IoError::Write { .. } | IoError::NotAPng { .. }) => "or pick another --out",
        _ => return None,
    })
}

/// `error` with the flag-level fix appended, for the apps' messages.
pub fn data_error(error: DataError) -> anyhow::Error {
    match data_fix(&error) {
        Some(fix) => anyhow::anyhow!("{error} ({fix})"),
        None => anyhow::Error::new(error),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn library_errors_gain_the_flag_that_fixes_them() {
        let invalid = TrainError::InvalidSetting { field: "min_lr", value: "2".into(), reason: "too large".into() };
        assert_eq!(train_error(invalid).to_string(), "invalid training setting min_lr = 2: too large (set with --min-lr)");
        let exists = train_error(TrainError::RunExists { path: PathBuf::from("run") }).to_string();
        assert_eq!(exists, "run already holds a training run (add --resume to continue it, or pick another --out)");
        let online = train_error(TrainError::MissingWeights { checkpoint: PathBuf::from("c"), ema: true }).to_string();
        assert!(online.ends_with("(restore it, or sample with --weights online)"), "{online}");
        let plain = train_error(TrainError::EmptyDataset).to_string();
        assert!(!plain.contains("--"), "{plain}");
        let folder = data_error(DataError::NotAFolder { path: PathBuf::from("x") }).to_string();
        assert_eq!(folder, "x is not a folder of PNG or JPEG images (--data-dir names a folder of PNG or JPEG images)");
    }
}
