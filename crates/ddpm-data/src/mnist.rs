//! MNIST (LeCun, Cortes & Burges): the four official IDX files, found locally or downloaded (a download
//! checked byte for byte against their known sha256), and turned into images in [-1, 1]. Local files
//! need only be well-formed 28x28 IDX pairs with labels 0-9, so Fashion-MNIST or KMNIST in the same
//! format load too; [`Mnist::unofficial`] says which files are not the official ones.
//!
//! The IDX format is a big-endian header (magic `0x0000_08_0D`, where `0x08` means u8 and `0x0D` the
//! number of dimensions), one u32 per dimension, then the raw values.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::download::download_first;
use crate::{DataError, IoError};

/// Where `mnist-train` and the tests look when no folder is given.
pub const DEFAULT_MNIST_DIR: &str = "datasets/mnist";
/// Environment variable naming a folder that holds the IDX files.
pub const DATA_DIR_ENV: &str = "DDPM_DATA_DIR";
/// Set this environment variable (to anything) to never download.
pub const OFFLINE_ENV: &str = "DDPM_OFFLINE";

/// Public mirrors of the original files, tried in order.
pub const MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// The training (60,000 images) or test (10,000 images) split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistSplit {
    Train,
    Test,
}

/// One official IDX file: its name (without `.gz`) and the sha256 of its uncompressed bytes.
#[derive(Debug, Clone, Copy)]
pub struct IdxFile {
    pub name: &'static str,
    pub sha256: &'static str,
    /// 3 for images `[N, rows, cols]`, 1 for labels `[N]`.
    pub dims: usize,
}

impl MnistSplit {
    /// The (images, labels) files of the split.
    pub fn files(self) -> [IdxFile; 2] {
        match self {
            Self::Train => [
                IdxFile {
                    name: "train-images-idx3-ubyte",
                    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                    dims: 3,
                },
                IdxFile {
                    name: "train-labels-idx1-ubyte",
                    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                    dims: 1,
                },
            ],
            Self::Test => [
                IdxFile {
                    name: "t10k-images-idx3-ubyte",
                    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    dims: 3,
                },
                IdxFile {
                    name: "t10k-labels-idx1-ubyte",
                    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    dims: 1,
                },
            ],
        }
    }
}

/// MNIST images and labels, with pixels scaled to [-1, 1].
#[derive(Debug, Clone)]
pub struct Mnist {
    /// `[len, 1, size, size]` row-major: 0 -> -1, 255 -> 1; padding is -1 (background).
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    /// Side of each (square) image: 28, or 32 when padded.
    pub size: usize,
    /// The files read whose sha256 is not the official MNIST file's: another dataset in MNIST's format
    /// (Fashion-MNIST, KMNIST), or a damaged copy. Empty for the official files.
    pub unofficial: Vec<PathBuf>,
}

impl Mnist {
    /// Loads `split` from `data_dir` when it is given, and only from there: a folder the user names is
    /// never silently replaced by another. Without it, from the first folder that has the files of
    /// `$DDPM_DATA_DIR` and `datasets/mnist/`. When the folder (or none of the two) has them, downloads
    /// them from [`MIRRORS`] into it (or into `datasets/mnist/`); when that fails too, the error lists the
    /// missing files and where to put them.
    pub fn load(split: MnistSplit, data_dir: Option<&Path>, pad_to_32: bool) -> Result<Self, DataError> {
        let candidates: Vec<PathBuf> = match data_dir {
            Some(dir) => vec![dir.to_path_buf()],
            None => std::env::var_os(DATA_DIR_ENV).map(PathBuf::from).into_iter().chain([PathBuf::from(DEFAULT_MNIST_DIR)]).collect(),
        };
        let folder = match candidates.iter().find(|dir| split.files().iter().all(|f| find_file(dir, f.name).is_some())) {
            Some(folder) => folder.clone(),
            None => {
                let target = data_dir.map_or_else(|| PathBuf::from(DEFAULT_MNIST_DIR), Path::to_path_buf);
                let downloaded = match std::env::var_os(OFFLINE_ENV) {
                    Some(_) => Err(DataError::Download(format!("downloads are disabled ({OFFLINE_ENV} is set)"))),
                    None => download_split(split, &target, &MIRRORS),
                };
                downloaded.map_err(|reason| DataError::MissingMnist {
                    searched: candidates.clone(),
                    missing: split.files().iter().map(|f| format!("{}.gz", f.name)).collect(),
                    reason: reason.to_string(),
                })?;
                target
            }
        };
        Self::from_dir(split, &folder, pad_to_32)
    }

    /// Loads `split` from `folder`, which must hold both files (`.gz` or raw): `[N, 28, 28]` images and
    /// `N` labels 0-9.
    pub fn from_dir(split: MnistSplit, folder: &Path, pad_to_32: bool) -> Result<Self, DataError> {
        let [images_file, labels_file] = split.files();
        let read = |file: IdxFile| {
            let path = find_file(folder, file.name).ok_or_else(|| DataError::MissingMnist {
                searched: vec![folder.into()],
                missing: vec![format!("{}.gz", file.name)],
                reason: "not found".into(),
            })?;
            read_idx(&path, file).map(|array| (path, array))
        };
        let (images_path, images) = read(images_file)?;
        let (labels_path, labels) = read(labels_file)?;
        if images.dims[0] != labels.dims[0] {
            return Err(DataError::BadIdx {
                path: folder.into(),
                reason: format!("{} images but {} labels", images.dims[0], labels.dims[0]),
            });
        }
        let (rows, cols) = (images.dims[1], images.dims[2]);
        if [rows, cols] != [MNIST_SIDE; 2] {
            let reason = format!("its images are {rows}x{cols} pixels; MNIST's are {MNIST_SIDE}x{MNIST_SIDE}");
            return Err(DataError::BadIdx { path: images_path, reason });
        }
        if let Some((index, label)) = labels.values.iter().enumerate().find(|(_, label)| usize::from(**label) >= MNIST_CLASSES) {
            let reason = format!("label {label} of image {index}; MNIST's labels are the digits 0-{}", MNIST_CLASSES - 1);
            return Err(DataError::BadIdx { path: labels_path, reason });
        }
        let size = if pad_to_32 { 32 } else { MNIST_SIDE };
        let margin = (size - MNIST_SIDE) / 2;
        let mut pixels = vec![-1.0; images.dims[0] * size * size];
        for (image, out) in images.values.chunks_exact(rows * cols).zip(pixels.chunks_exact_mut(size * size)) {
            for (r, row) in image.chunks_exact(cols).enumerate() {
                let start = (r + margin) * size + margin;
                for (o, &p) in out[start..start + cols].iter_mut().zip(row) {
                    *o = p as f32 / 127.5 - 1.0;
                }
            }
        }
        let unofficial = [(images_path, images.official), (labels_path, labels.official)]
            .into_iter()
            .filter_map(|(path, official)| (!official).then_some(path))
            .collect();
        Ok(Self { images: pixels, labels: labels.values, size, unofficial })
    }

    /// A note for the user when the files are not the official MNIST ([`Mnist::unofficial`]).
    pub fn unofficial_note(&self) -> Option<String> {
        let files: Vec<String> = self.unofficial.iter().map(|path| path.display().to_string()).collect();
        (!files.is_empty()).then(|| {
            format!(
                "note: {} not the official MNIST file(s) (the sha256 differs): read as they are, as another dataset in \
                 MNIST's format (Fashion-MNIST, KMNIST). If you meant MNIST itself, the copy is damaged: delete it and download it again",
                files.join(" and ")
            )
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (`size * size`, one channel).
    pub fn image_len(&self) -> usize {
        self.size * self.size
    }

    /// Image `index`, `[1, size, size]` flattened.
    pub fn image(&self, index: usize) -> &[f32] {
        &self.images[index * self.image_len()..(index + 1) * self.image_len()]
    }
}

/// `folder/name.gz` or `folder/name`, whichever exists (compressed first).
fn find_file(folder: &Path, name: &str) -> Option<PathBuf> {
    [folder.join(format!("{name}.gz")), folder.join(name)].into_iter().find(|p| p.is_file())
}

/// Side of an MNIST image, in pixels.
const MNIST_SIDE: usize = 28;
/// MNIST's classes: the digits 0-9.
const MNIST_CLASSES: usize = 10;

/// The contents of one IDX file.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The shape, from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<u8>,
    /// Whether the (uncompressed) bytes are the official file's, by sha256.
    pub official: bool,
}

/// Reads one IDX file (gzip or raw) of `file.dims` dimensions, checks its magic number and length, and
/// returns its dimensions and values, and whether it is the official `file` (by sha256).
pub fn read_idx(path: &Path, file: IdxFile) -> Result<IdxArray, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::from(IoError::Read { path: path.into(), source }))?;
    let bytes = decompress_if_gzip(&raw).map_err(|reason| bad_idx(path, reason))?;
    let official = hex_sha256(&bytes) == file.sha256;
    let (dims, values) = parse_idx(&bytes, file.dims).map_err(|reason| bad_idx(path, reason))?;
    Ok(IdxArray { dims, values, official })
}

fn bad_idx(path: &Path, problem: IdxProblem) -> DataError {
    DataError::BadIdx { path: path.into(), reason: problem.to_string() }
}

/// What is wrong with the bytes of an IDX file (the caller knows which file).
#[derive(Debug, thiserror::Error)]
enum IdxProblem {
    #[error("{len} bytes is too short for an IDX header of {header_len} bytes")]
    ShortHeader { len: usize, header_len: usize },
    #[error("magic number {found:#010x}, expected {expected:#010x} (u8 values, {dims} dimensions)")]
    Magic { found: u32, expected: u32, dims: usize },
    #[error("header declares {shape:?} = {count} values, file holds {held}: it is cut short or damaged; copy or download it again")]
    Count { shape: Vec<usize>, count: String, held: usize },
    #[error("broken gzip stream ({0}); delete the file and fetch it again")]
    Gzip(String),
    #[error("it unpacks to more than {MAX_IDX_BYTES} bytes, more than any MNIST file; delete it and fetch it again")]
    TooLarge,
}

/// Parses an IDX u8 array of `dims` dimensions.
fn parse_idx(bytes: &[u8], dims: usize) -> Result<(Vec<usize>, Vec<u8>), IdxProblem> {
    let header_len = 4 + 4 * dims;
    if bytes.len() < header_len {
        return Err(IdxProblem::ShortHeader { len: bytes.len(), header_len });
    }
    let word = |i: usize| u32::from_be_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]);
    let expected_magic = 0x0800 | dims as u32;
    if word(0) != expected_magic {
        return Err(IdxProblem::Magic { found: word(0), expected: expected_magic, dims });
    }
    let shape: Vec<usize> = (1..=dims).map(|i| word(i) as usize).collect();
    let count = shape.iter().try_fold(1usize, |count, &dim| count.checked_mul(dim));
    let data = &bytes[header_len..];
    if count != Some(data.len()) {
        let count = count.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
        return Err(IdxProblem::Count { shape, count, held: data.len() });
    }
    Ok((shape, data.to_vec()))
}

/// The most bytes a gzipped IDX file may unpack to: more than the largest MNIST file (47 MB), and a
/// bound on what a corrupt or malicious file can make the reader allocate.
const MAX_IDX_BYTES: u64 = 64 << 20;

/// Gunzips `bytes` when they start with the gzip magic, else returns them as they are.
fn decompress_if_gzip(bytes: &[u8]) -> Result<Vec<u8>, IdxProblem> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).take(MAX_IDX_BYTES + 1).read_to_end(&mut out).map_err(|e| IdxProblem::Gzip(e.to_string()))?;
    if out.len() as u64 > MAX_IDX_BYTES {
        return Err(IdxProblem::TooLarge);
    }
    Ok(out)
}

/// The SHA-256 of `bytes` as lowercase hex, as `sha256sum` prints it.
pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `bytes` (a digest) in lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads both files of `split` into `folder` (as `.gz`), verifying each one's checksum.
fn download_split(split: MnistSplit, folder: &Path, mirrors: &[&str]) -> Result<(), DataError> {
    std::fs::create_dir_all(folder).map_err(|source| DataError::from(IoError::Write { path: folder.into(), source }))?;
    for file in split.files() {
        let target = folder.join(format!("{}.gz", file.name));
        if target.is_file() {
            continue;
        }
        let urls: Vec<String> = mirrors.iter().map(|m| format!("{m}{}.gz", file.name)).collect();
        download_first(&urls, &target, |bytes| {
            let unpacked = decompress_if_gzip(bytes).map_err(|problem| DataError::Download(problem.to_string()))?;
            let actual = hex_sha256(&unpacked);
            if actual == file.sha256 { Ok(()) } else { Err(DataError::Download(format!("sha256 {actual}, expected {}", file.sha256))) }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_idx_array() {
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        bytes.extend([0, 255, 10, 20]);
        assert_eq!(parse_idx(&bytes, 3).unwrap(), (vec![2, 1, 2], vec![0, 255, 10, 20]));
        assert!(parse_idx(&bytes[..18], 3).unwrap_err().to_string().contains("file holds 2"));
        assert!(parse_idx(&bytes, 1).unwrap_err().to_string().contains("magic number"));
    }

    #[test]
    fn header_dimensions_that_overflow_or_mismatch_are_errors_not_panics() {
        for dims in [[u32::MAX; 3], [0, u32::MAX, 7], [65_536, 65_536, 65_536], [2, 1, 3]] {
            let mut bytes = vec![0, 0, 8, 3];
            dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
            bytes.extend([0, 255, 10, 20]);
            assert!(parse_idx(&bytes, 3).unwrap_err().to_string().contains("header declares"), "{dims:?}");
        }
    }

    #[test]
    fn a_gzip_bomb_is_refused_at_the_size_bound() {
        let mut packed = Vec::new();
        let mut encoder = flate2::write::GzEncoder::new(&mut packed, flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        (0..65).for_each(|_| std::io::Write::write_all(&mut encoder, &zeros).unwrap());
        encoder.finish().unwrap();
        assert!(packed.len() < 1 << 20, "65 MiB of zeros pack small ({} bytes)", packed.len());
        assert!(decompress_if_gzip(&packed).unwrap_err().to_string().contains("more than any MNIST file"));
    }

    #[test]
    fn downloads_from_the_first_mirror_that_serves_a_verified_file() {
        // A local "mirror" reached through file:// URLs: the first one is empty, the second has the files.
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
        let empty = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        let mirrors = [format!("file://{}/", empty.path().display()), format!("file://{}/", shared.canonicalize().unwrap().display())];
        let mirrors: Vec<&str> = mirrors.iter().map(String::as_str).collect();
        download_split(MnistSplit::Test, target.path(), &mirrors).unwrap();
        let test = Mnist::from_dir(MnistSplit::Test, target.path(), false).unwrap();
        assert_eq!(test.len(), 10_000);
    }

    #[test]
    fn a_failed_download_names_every_url_tried() {
        let empty = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        let mirror = format!("file://{}/", empty.path().display());
        let err = download_split(MnistSplit::Test, target.path(), &[mirror.as_str()]).unwrap_err();
        assert!(err.to_string().contains("t10k-images-idx3-ubyte.gz"), "{err}");
        assert!(!target.path().join("t10k-images-idx3-ubyte.gz").exists(), "nothing half-written is left behind");
    }
}
