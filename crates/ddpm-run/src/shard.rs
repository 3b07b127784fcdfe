//! Sampling that outgrows one machine: `sample --shard K/N` draws the rows that shard K of N holds of
//! the samples one `sample` would draw, and `merge` joins the shards' folders into that run's
//! `samples.npy`, bit for bit. The noise is counter-based (row r of every draw is the same wherever it
//! is generated), so N processes under any job scheduler (a SLURM array, Kubernetes indexed jobs) need
//! nothing from each other: each writes its rows and a `shard.json` saying which they are.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use clap::Args;
use ddpm_data::image::write_grid;
use serde::{Deserialize, Serialize};

/// What a shard writes beside its `samples.npy`.
pub const SHARD_FILE: &str = "shard.json";
/// The class each sample was asked for, beside `samples.npy` (a JSON array, one per row), when a
/// conditional model sampled; `merge` joins them with the samples.
pub const CLASSES_FILE: &str = "classes.json";
const SAMPLES_FILE: &str = "samples.npy";

/// Shard `index` of `count`: the consecutive rows `index * n / count .. (index + 1) * n / count` of n
/// samples. Counted from 0, as SLURM's `--array=0-3` and Kubernetes' job completion index count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole batch: one shard of one.
    pub const WHOLE: Self = Self { index: 0, count: 1 };

    /// This shard's rows of `n` samples; the shards of a count cover `0..n` in order, sizes differing
    /// by at most one.
    pub fn rows(&self, n: usize) -> Range<usize> {
        (self.index * n / self.count)..((self.index + 1) * n / self.count)
    }

    /// "64 images", or "rows 16..32 of 64 images (shard 1/4)".
    pub fn describe(&self, n: usize) -> String {
        if *self == Self::WHOLE { format!("{n} images") } else { format!("rows {:?} of {n} images (shard {self})", self.rows(n)) }
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.split_once('/').and_then(|(k, n)| Some((k.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Self { index, count }),
            Some((index, count)) => Err(format!(
                "shard {index} of {count} does not exist: shards count from 0, so K/N needs 0 <= K < N (e.g. 0/{count} to {}/{count})",
                count.max(1) - 1
            )),
            None => Err(format!("expected K/N (shard K of N, counted from 0, e.g. 0/4), got `{text}`")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `sample --shard`.
#[derive(Args, Debug, Clone)]
pub struct ShardArgs {
    /// Draw only shard K of N (counted from 0) of the --n samples: the rows K * n / N .. (K + 1) * n / N
    /// of what one `sample` with the same flags draws, bit for bit, plus a shard.json saying which.
    /// Run N of them anywhere (a SLURM array: --shard $SLURM_ARRAY_TASK_ID/N), then `merge` their folders.
    #[arg(long, value_name = "K/N", default_value = "0/1")]
    pub shard: Shard,
}

/// What `shard.json` records: which rows of which job a shard's `samples.npy` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub shard: Shard,
    /// The samples of the whole job.
    pub n: usize,
    /// The first row of this shard's samples in the whole job's.
    pub first_row: usize,
    /// The columns of the whole job's grid.
    pub columns: usize,
    /// What was sampled (model, sampler, seed, conditioning), the same in every shard of one job.
    pub job: String,
}

impl ShardRecord {
    /// The record of `shard` of a job of `n` samples, whose whole grid has `columns` columns; `job` says
    /// what was sampled, so that `merge` refuses shards of different jobs.
    pub fn new(shard: Shard, n: usize, columns: usize, job: String) -> Self {
        Self { shard, n, first_row: shard.rows(n).start, columns, job }
    }

    /// Writes the record into the shard's folder `out`, unless the shard is the whole batch.
    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        let file = out.join(SHARD_FILE);
        if self.shard == Shard::WHOLE {
            // A stale record would make `merge` take these samples for a shard.
            if file.exists() {
                std::fs::remove_file(&file)?;
            }
            return Ok(());
        }
        ddpm_data::write_atomically(&file, serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(())
    }

    fn read(folder: &Path) -> anyhow::Result<Self> {
        let file = folder.join(SHARD_FILE);
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!("{} is not a shard's folder (no {SHARD_FILE}): pass the --out folders of `sample --shard K/N`", folder.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a shard record", file.display()))
    }
}

/// `merge`.
#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// The --out folders of every shard of one `sample --shard K/N` job, in any order.
    #[arg(required = true, num_args = 1.., value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// Output folder for the joined samples.npy, grid.png (and classes.json when the shards have them).
    #[arg(long)]
    pub out: PathBuf,
}

/// One shard's folder, read.
struct ShardFolder {
    record: ShardRecord,
    pixels: Vec<f32>,
    shape: Vec<usize>,
    classes: Option<Vec<usize>>,
}

impl ShardFolder {
    fn read(folder: &Path) -> anyhow::Result<Self> {
        let record = ShardRecord::read(folder)?;
        let (pixels, shape) = ddpm_data::read_npy_f32(&folder.join(SAMPLES_FILE))?;
        let rows = record.shard.rows(record.n);
        anyhow::ensure!(
            shape.len() == 4 && shape[0] == rows.len() && record.first_row == rows.start,
            "{} holds samples of shape {shape:?}, but its {SHARD_FILE} says shard {} holds rows {rows:?} of {}: the folder was changed after sampling",
            folder.display(),
            record.shard,
            record.n
        );
        let classes_file = folder.join(CLASSES_FILE);
        let classes = if classes_file.is_file() {
            let classes: Vec<usize> = serde_json::from_str(&std::fs::read_to_string(&classes_file)?)
                .with_context(|| format!("{} is not a list of classes", classes_file.display()))?;
            anyhow::ensure!(
                classes.len() == rows.len(),
                "{} holds {} classes for {} samples",
                classes_file.display(),
                classes.len(),
                rows.len()
            );
            Some(classes)
        } else {
            None
        };
        Ok(Self { record, pixels, shape, classes })
    }
}

/// Joins the shards' folders into `args.out`: `samples.npy` (and `classes.json`) as one `sample` run
/// would have written them, and the grid. Every shard of the job must be there exactly once.
pub fn merge(app: &str, args: &MergeArgs) -> anyhow::Result<()> {
    let mut shards = args.shards.iter().map(|folder| ShardFolder::read(folder)).collect::<anyhow::Result<Vec<_>>>()?;
    shards.sort_by_key(|s| s.record.shard.index);
    let first = &shards[0];
    let (count, n) = (first.record.shard.count, first.record.n);
    for (folder, shard) in args.shards.iter().zip(&shards) {
        let record = &shard.record;
        anyhow::ensure!(
            record.job == first.record.job && record.n == n && record.shard.count == count && shard.shape[1..] == first.shape[1..],
            "{} is a shard of another job ({}, {} samples in {} shards), not of this one ({}, {n} samples in {count} shards)",
            folder.display(),
            record.job,
            record.n,
            record.shard.count,
            first.record.job
        );
    }
    let indices: Vec<usize> = shards.iter().map(|s| s.record.shard.index).collect();
    anyhow::ensure!(
        indices == (0..count).collect::<Vec<_>>(),
        "the job has {count} shards (0 to {}), but the folders hold shards {indices:?}: pass each shard's folder once",
        count - 1
    );
    let has_classes = shards.iter().all(|s| s.classes.is_some());
    let mut shape = first.shape.clone();
    shape[0] = n;
    let columns = first.record.columns;
    let pixels: Vec<f32> = shards.iter().flat_map(|s| s.pixels.iter().copied()).collect();
    let classes: Option<Vec<usize>> = has_classes.then(|| shards.iter().flat_map(|s| s.classes.clone().unwrap_or_default()).collect());
    drop(shards);

    ddpm_data::ensure_writable_dir(&args.out)?;
    let grid_shape: [usize; 4] = shape.as_slice().try_into().expect("four dimensions, checked on reading");
    write_grid(&args.out.join("grid.png"), &pixels, grid_shape, columns, 2)?;
    ddpm_data::write_npy_f32(&args.out.join(SAMPLES_FILE), &pixels, &shape)?;
    if let Some(classes) = &classes {
        ddpm_data::write_atomically(&args.out.join(CLASSES_FILE), serde_json::to_string(classes)?.as_bytes())?;
    }
    println!("{app} merge: {n} samples from {count} shards");
    println!("  wrote {}/{{grid.png, samples.npy{}}}", args.out.display(), if classes.is_some() { ", classes.json" } else { "" });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_rows_in_order() {
        let rows = |k, n, total| Shard { index: k, count: n }.rows(total);
        assert_eq!((0..4).map(|k| rows(k, 4, 10)).collect::<Vec<_>>(), vec![0..2, 2..5, 5..7, 7..10]);
        assert_eq!(Shard::WHOLE.rows(7), 0..7);
        assert_eq!(rows(2, 3, 2), 1..2);
        assert!(rows(0, 3, 2).is_empty(), "more shards than samples leaves some empty");
    }

    #[test]
    fn shard_flags_parse_and_name_their_mistakes() {
        assert_eq!("3/4".parse::<Shard>(), Ok(Shard { index: 3, count: 4 }));
        assert!("4/4".parse::<Shard>().unwrap_err().contains("count from 0"));
        assert!("1/0".parse::<Shard>().is_err());
        assert!("2".parse::<Shard>().unwrap_err().contains("K/N"));
        assert_eq!(Shard { index: 1, count: 8 }.to_string(), "1/8");
    }
}
