//! The flags of the `train` command that started a run, recorded in its description, so that the same
//! command re-run with `--resume` added passes (the habit people bring from PyTorch scripts) and only
//! a flag whose value differs from the run's is refused, naming both values.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};

/// Each flag that fixes a run (every `train` flag but `--resume` and the app's may-change list), by its
/// field name, with its values normalised (equal settings compare equal however they were typed); a
/// flag without a value and not given is absent.
pub type FlagValues = BTreeMap<String, Vec<String>>;

/// The run-fixing flags of this process's `train` command, as [`crate::run_app`] parsed them.
#[derive(Debug, Clone)]
pub struct TrainFlags {
    /// Every run-fixing flag's value, defaults included: what a new run records.
    pub values: FlagValues,
    /// The flags typed on the command line, as (field name, `--long-name`): what a resume checks.
    pub given: Vec<(String, String)>,
}

/// Set once by [`crate::run_app`] when the command is `train`; read by [`crate::ImageRun::open`].
static THIS_COMMAND: OnceLock<TrainFlags> = OnceLock::new();

/// Records the `train` subcommand's run-fixing flags for [`this_command`].
pub(crate) fn remember(train: &Command, matches: &ArgMatches, may_change: &[&str]) {
    // The first call wins; `run_app` makes only one.
    let _ = THIS_COMMAND.set(read(train, matches, may_change));
}

/// The run-fixing flags in `matches` of `train`: all of its arguments except `resume` and those in
/// `may_change` (field names).
fn read(train: &Command, matches: &ArgMatches, may_change: &[&str]) -> TrainFlags {
    let fixed = train.get_arguments().filter(|arg| {
        let id = arg.get_id().as_str();
        id != "resume" && !may_change.contains(&id)
    });
    let mut flags = TrainFlags { values: FlagValues::new(), given: Vec::new() };
    for arg in fixed {
        let id = arg.get_id().as_str();
        let Ok(Some(raw)) = matches.try_get_raw(id) else { continue };
        flags.values.insert(id.to_string(), raw.map(|value| normalise(arg, &value.to_string_lossy())).collect());
        if matches.value_source(id) == Some(ValueSource::CommandLine) {
            flags.given.push((id.to_string(), format!("--{}", arg.get_long().unwrap_or(id))));
        }
    }
    flags
}

/// This process's `train` flags, if [`crate::run_app`] parsed a `train` command.
pub(crate) fn this_command() -> Option<&'static TrainFlags> {
    THIS_COMMAND.get()
}

/// One value as the flag means it, so that equal settings compare equal however they were typed: the
/// name of the possible value it matches (`--prediction eps` and `epsilon`, `--clip-x0 True` and
/// `true`), a number in Rust's shortest form (`1e-3` and `0.001`), else the text as typed.
fn normalise(arg: &Arg, value: &str) -> String {
    if let Some(possible) = arg.get_possible_values().into_iter().find(|p| p.matches(value, arg.is_ignore_case_set())) {
        return possible.get_name().to_string();
    }
    match value.parse::<f64>() {
        Ok(number) if number.is_finite() => number.to_string(),
        _ => value.to_string(),
    }
}

/// Checks a resumed run's command against the flags the run recorded (`None`: a run started before runs
/// recorded them): every run-fixing flag typed on the command line must carry the run's own value.
pub(crate) fn check_resume(command: &TrainFlags, recorded: Option<&FlagValues>) -> Result<(), String> {
    for (id, long) in &command.given {
        let given = command.values.get(id).map(|v| v.join(",")).unwrap_or_default();
        let Some(recorded) = recorded else {
            return Err(format!(
                "{long} cannot be checked against this run: it was started before runs recorded their flags. --resume continues \
                 a run with its own settings; drop {long} (only --steps, --minutes and how often it checkpoints, logs and samples may change)"
            ));
        };
        let own = recorded.get(id).map(|v| v.join(","));
        if own.as_deref() != Some(given.as_str()) {
            let own = own.map_or_else(|| format!(", which was started without {long}"), |own| format!("'s {long} {own}"));
            return Err(format!(
                "{long} {given} differs from this run{own}: --resume continues a run with its own settings. Drop {long}, \
                 or start a new run with another --out (only --steps, --minutes and how often it checkpoints, logs and samples may change)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser, ValueEnum};

    use super::*;

    #[derive(ValueEnum, Debug, Clone)]
    enum Kind {
        #[value(alias = "eps")]
        Epsilon,
        Sample,
    }

    #[derive(Parser, Debug)]
    struct Train {
        #[arg(long)]
        resume: bool,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, value_enum, default_value_t = Kind::Epsilon)]
        prediction: Kind,
        #[arg(long)]
        steps: Option<usize>,
        #[arg(long)]
        width: Option<usize>,
    }

    fn flags(argv: &[&str]) -> TrainFlags {
        let command = Train::command();
        let matches = command.clone().get_matches_from(std::iter::once("train").chain(argv.iter().copied()));
        read(&command, &matches, &["steps"])
    }

    #[test]
    fn the_same_values_however_typed_pass_and_a_changed_one_is_named() {
        let started = flags(&["--lr", "0.001", "--width", "64"]).values;
        for same in [&["--lr", "1e-3"][..], &["--prediction", "eps", "--width", "64"], &["--steps", "9"], &[]] {
            let again = flags(&[&["--resume"][..], same].concat());
            assert_eq!(check_resume(&again, Some(&started)), Ok(()), "{same:?}");
        }
        let changed = check_resume(&flags(&["--resume", "--lr", "0.002"]), Some(&started)).unwrap_err();
        assert!(changed.starts_with("--lr 0.002 differs from this run's --lr 0.001"), "{changed}");
        let sample = check_resume(&flags(&["--resume", "--prediction", "sample"]), Some(&started)).unwrap_err();
        assert!(sample.starts_with("--prediction sample differs from this run's --prediction epsilon"), "{sample}");
        let unset = check_resume(&flags(&["--width", "64"]), Some(&flags(&[]).values)).unwrap_err();
        assert!(unset.starts_with("--width 64 differs from this run, which was started without --width:"), "{unset}");
        let old_run = check_resume(&flags(&["--lr", "0.001"]), None).unwrap_err();
        assert!(old_run.contains("started before runs recorded their flags"), "{old_run}");
        assert_eq!(check_resume(&flags(&["--steps", "3"]), None), Ok(()), "may-change flags need no record");
    }
}
