//! A folder of images as a training set: every PNG and JPEG under it (recursively), each prepared as
//! [`SingleImage`] prepares one (shorter side resized to the model's size, centre-cropped, [-1, 1]),
//! decoded once into memory; and the random horizontal flips of their batches.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::mnist::hex;
use crate::{DataError, IoError, SingleImage, hex_sha256};

/// How many unreadable files an error lists before it says "and N more".
const LISTED: usize = 10;

/// The images of a folder, `[count, channels, size, size]`, values in [-1, 1].
#[derive(Debug, Clone)]
pub struct ImageFolder {
    pub pixels: Vec<f32>,
    pub count: usize,
    pub channels: usize,
    pub size: usize,
    /// Files that could not be read, with why (only with `skip_bad`).
    pub skipped: Vec<(PathBuf, String)>,
    /// sha256 over the relative paths and sizes of the files read (what runs recorded before
    /// [`ImageFolder::content_fingerprint`]).
    pub fingerprint: String,
    /// sha256 over the relative paths and the sha256 of each file read, to tell whether a folder changed
    /// between a run and its resumption, even where a file changed and kept its size.
    pub content_fingerprint: String,
}

/// Whether `path` names a PNG or JPEG by its extension (any case).
fn is_image_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

impl ImageFolder {
    /// The PNG and JPEG files under `dir`, recursively, sorted (so a folder always gives the same order).
    /// Hidden files and folders (names starting with '.') are left out, and so is anything that is not
    /// a regular file (a FIFO named `x.png` would block the read forever). Symbolic links are followed,
    /// but each real folder is read once, so a link back up the tree neither repeats images nor loops.
    pub fn list(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
        fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
            move |source| DataError::from(IoError::Read { path: path.into(), source })
        }
        let mut files = Vec::new();
        let mut visited = HashSet::from([dir.canonicalize().map_err(read_error(dir))?]);
        let mut pending = vec![dir.to_path_buf()];
        while let Some(folder) = pending.pop() {
            for entry in std::fs::read_dir(&folder).map_err(read_error(&folder))? {
                let path = entry.map_err(read_error(&folder))?.path();
                if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
                    continue;
                }
                if path.is_dir() {
                    // A link that cannot be resolved is left out like any other non-file.
                    if path.canonicalize().is_ok_and(|real| visited.insert(real)) {
                        pending.push(path);
                    }
                } else if path.is_file() && is_image_file(&path) {
                    files.push(path);
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// Reads every image under `dir` as `channels` x `size` x `size`. `on_file(done, total)` reports
    /// progress. An unreadable file is an error listing every such file, unless `skip_bad`, which
    /// leaves them out (and lists them in [`ImageFolder::skipped`]).
    pub fn load(
        dir: &Path,
        channels: usize,
        size: usize,
        skip_bad: bool,
        mut on_file: impl FnMut(usize, usize),
    ) -> Result<Self, DataError> {
        if !dir.is_dir() {
            return Err(DataError::NotAFolder { path: dir.into() });
        }
        let files = Self::list(dir)?;
        if files.is_empty() {
            return Err(DataError::NoImages { path: dir.into() });
        }
        let (mut pixels, mut skipped, mut listing, mut contents) = (Vec::new(), Vec::new(), String::new(), Sha256::new());
        for (i, file) in files.iter().enumerate() {
            let read = std::fs::read(file).map_err(|source| DataError::from(IoError::Read { path: file.clone(), source }));
            match read.and_then(|bytes| Ok((SingleImage::decode(&bytes, file, channels, size)?, bytes))) {
                Ok((image, bytes)) => {
                    pixels.extend(image.pixels);
                    let name = file.strip_prefix(dir).unwrap_or(file).display();
                    listing += &format!("{name}\0{}\n", bytes.len());
                    contents.update(format!("{name}\0{}\n", hex_sha256(&bytes)));
                }
                Err(error @ DataError::InvalidParameter(_)) => return Err(error),
                Err(error) => skipped.push((file.clone(), error.to_string())),
            }
            on_file(i + 1, files.len());
        }
        let count = files.len() - skipped.len();
        if !skipped.is_empty() && !skip_bad {
            return Err(DataError::UnreadableImages { dir: dir.into(), bad: skipped.len(), total: files.len(), listing: listed(&skipped) });
        }
        if count == 0 {
            return Err(DataError::NoReadableImages { dir: dir.into(), total: files.len(), listing: listed(&skipped) });
        }
        let content_fingerprint = hex(&contents.finalize());
        Ok(Self { pixels, count, channels, size, skipped, fingerprint: hex_sha256(listing.as_bytes()), content_fingerprint })
    }
}

fn listed(files: &[(PathBuf, String)]) -> String {
    let mut lines: Vec<String> = files.iter().take(LISTED).map(|(_, why)| format!("  {why}")).collect();
    if files.len() > LISTED {
        lines.push(format!("  and {} more", files.len() - LISTED));
    }
    lines.join("\n")
}

/// Whether row `row` of batch `batch` is flipped: a fair coin from (seed, batch, row) alone
/// (SplitMix64), so a resumed run flips exactly as an uninterrupted one.
pub fn flip_coin(seed: u64, batch: u64, row: usize) -> bool {
    let mut z = seed ^ batch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (row as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & 1 == 1
}

/// Mirrors, left to right, the examples of `batch` (`[B, C, H, W]`, row-major) that [`flip_coin`]
/// picks for batch index `batch_index`.
pub fn random_horizontal_flips(batch: &mut [f32], shape: [usize; 4], seed: u64, batch_index: u64) {
    let [count, channels, height, width] = shape;
    let example = channels * height * width;
    for (row, values) in batch.chunks_exact_mut(example).take(count).enumerate() {
        if flip_coin(seed, batch_index, row) {
            values.chunks_exact_mut(width).for_each(<[f32]>::reverse);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_back_up_the_tree_are_read_once_and_fifos_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        for file in ["a.png", "sub/b.jpg"] {
            std::fs::write(root.join(file), b"not decoded by list").unwrap();
        }
        // Two loops: a link to the root inside it, and one from the subfolder back up.
        std::os::unix::fs::symlink(root, root.join("loop")).unwrap();
        std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
        // A FIFO named like an image would block its read forever.
        assert!(std::process::Command::new("mkfifo").arg(root.join("x.png")).status().unwrap().success());
        let listed = ImageFolder::list(root).unwrap();
        assert_eq!(listed, vec![root.join("a.png"), root.join("sub/b.jpg")]);
    }

    #[test]
    fn flips_mirror_rows_and_half_the_examples_are_flipped() {
        let mut batch: Vec<f32> = (0..2 * 2 * 3).map(|v| v as f32).collect(); // [2, 1, 2, 3]
        let flipped: Vec<bool> = (0..2).map(|row| flip_coin(7, 3, row)).collect();
        random_horizontal_flips(&mut batch, [2, 1, 2, 3], 7, 3);
        for (row, &was_flipped) in flipped.iter().enumerate() {
            let rows = &batch[row * 6..row * 6 + 6];
            let first = (row * 6) as f32;
            let expected = if was_flipped {
                [first + 2.0, first + 1.0, first, first + 5.0, first + 4.0, first + 3.0]
            } else {
                [0, 1, 2, 3, 4, 5].map(|v| first + v as f32)
            };
            assert_eq!(rows, expected);
        }
        let heads = (0..10_000).filter(|&row| flip_coin(1, 2, row)).count();
        assert!((4800..5200).contains(&heads), "{heads} of 10000 flipped");
        assert!((0..64).any(|k| flip_coin(1, k, 0)) && (0..64).any(|k| !flip_coin(1, k, 0)), "batches differ");
    }
}
