//! The parser of every numeric flag of every app, so that each is checked the same way before any
//! work starts: a count within bounds, or a finite real number within bounds (NaN, which passes every
//! `x > 0.0` test, and infinities are refused). The error names the flag and the range allowed.

use std::ops::{Bound, RangeBounds};

use clap::builder::RangedU64ValueParser;

/// The most optimiser steps (and step intervals) a flag takes: weeks of CPU training.
pub const MAX_STEPS: u64 = 100_000_000;
/// The most threads `--threads` takes.
pub const MAX_THREADS: u64 = 1024;

/// A whole number in `range`, e.g. `count(1..=2048)` for a batch size.
pub fn count(range: impl RangeBounds<u64>) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(range)
}

/// A finite real number in `range`: `real(0.0..1.0)` for a decay, `real((Bound::Excluded(0.0),
/// Bound::Included(1.0)))` for a learning rate (see [`positive`]).
pub fn real<R>(range: R) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static
where
    R: RangeBounds<f64> + Clone + Send + Sync + 'static,
{
    move |text: &str| {
        let value: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number"))?;
        if value.is_finite() && range.contains(&value) {
            Ok(value)
        } else {
            Err(format!("{value} is not a number in {}", describe(&range)))
        }
    }
}

/// A finite real number above 0 and at most `max`.
pub fn positive(max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    real((Bound::Excluded(0.0), Bound::Included(max)))
}

/// `range` in interval notation: `[0, 1)`, `(0, 1e6]`.
fn describe(range: &impl RangeBounds<f64>) -> String {
    let start = match range.start_bound() {
        Bound::Included(v) => format!("[{v}"),
        Bound::Excluded(v) => format!("({v}"),
        Bound::Unbounded => "(-inf".into(),
    };
    let end = match range.end_bound() {
        Bound::Included(v) => format!("{v}]"),
        Bound::Excluded(v) => format!("{v})"),
        Bound::Unbounded => "inf)".into(),
    };
    format!("{start}, {end}")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Flags {
        #[arg(long, default_value_t = 0.5, value_parser = real(0.0..1.0))]
        decay: f64,
        #[arg(long, default_value_t = 1e-3, value_parser = positive(1.0))]
        lr: f64,
        #[arg(long, default_value_t = 8, value_parser = count(1..=2048))]
        batch: usize,
    }

    fn parse(flags: &[&str]) -> Result<Flags, String> {
        Flags::try_parse_from(std::iter::once("app").chain(flags.iter().copied())).map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_in_range_pass_and_the_rest_are_refused_naming_the_flag_and_the_range() {
        let flags = parse(&["--decay", "0", "--lr", "1", "--batch", "2048"]).unwrap();
        assert_eq!((flags.decay, flags.lr, flags.batch), (0.0, 1.0, 2048));
        for (flag, value, expected) in [
            ("--decay", "nan", "NaN is not a number in [0, 1)"),
            ("--decay", "1", "1 is not a number in [0, 1)"),
            ("--lr", "0", "0 is not a number in (0, 1]"),
            ("--lr", "inf", "inf is not a number in (0, 1]"),
            ("--lr", "fast", "`fast` is not a number"),
            ("--batch", "0", "0 is not in 1..=2048"),
            ("--batch", "70000", "70000 is not in 1..=2048"),
        ] {
            let err = parse(&[flag, value]).unwrap_err();
            assert!(err.contains(flag) && err.contains(expected), "{flag} {value}: {err}");
        }
    }
}
