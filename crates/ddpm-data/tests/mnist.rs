//! The MNIST reader against the real files in `datasets/mnist/` (shipped in the repository) and corrupted copies.

use std::path::{Path, PathBuf};

use ddpm_data::{DataError, Mnist, MnistSplit};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist")
}

#[test]
fn reads_the_real_files_with_the_documented_label_counts() {
    let test = Mnist::from_dir(MnistSplit::Test, &shared(), false).unwrap();
    assert_eq!((test.len(), test.size), (10_000, 28));
    let mut counts = [0usize; 10];
    test.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    let (min, max) = test.images.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((min, max), (-1.0, 1.0), "pixels span [-1, 1]");
    // Digits are centred: the border row is background.
    assert!(test.image(0)[..28].iter().all(|&v| v == -1.0));

    let train = Mnist::from_dir(MnistSplit::Train, &shared(), false).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(train.labels.iter().filter(|&&l| l == 1).count(), 6742);
}

#[test]
fn padding_to_32_centres_the_digit_on_background() {
    let plain = Mnist::from_dir(MnistSplit::Test, &shared(), false).unwrap();
    let padded = Mnist::from_dir(MnistSplit::Test, &shared(), true).unwrap();
    assert_eq!(padded.size, 32);
    let (a, b) = (plain.image(5), padded.image(5));
    for r in 0..28 {
        assert_eq!(&b[(r + 2) * 32 + 2..(r + 2) * 32 + 30], &a[r * 28..(r + 1) * 28]);
    }
    assert!(b[..64].iter().all(|&v| v == -1.0));
}

/// A folder holding the test split with `images` in place of the real image file.
fn folder_with(images: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(shared().join("t10k-labels-idx1-ubyte.gz"), dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), images).unwrap();
    dir
}

fn raw_test_images() -> Vec<u8> {
    use std::io::Read;
    let gz = std::fs::read(shared().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut raw).unwrap();
    raw
}

#[test]
fn uncompressed_files_are_read_too() {
    let dir = folder_with(&raw_test_images());
    assert_eq!(Mnist::from_dir(MnistSplit::Test, dir.path(), false).unwrap().len(), 10_000);
}

#[test]
fn corrupted_copies_get_clear_errors() {
    let raw = raw_test_images();

    let truncated = folder_with(&raw[..raw.len() - 100]);
    let err = Mnist::from_dir(MnistSplit::Test, truncated.path(), false).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("download it again"), "{err}");

    let mut flipped = raw.clone();
    flipped[1000] ^= 1;
    let err = Mnist::from_dir(MnistSplit::Test, folder_with(&flipped).path(), false).unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");

    let mut bad_magic = raw.clone();
    bad_magic[3] = 1;
    let err = Mnist::from_dir(MnistSplit::Test, folder_with(&bad_magic).path(), false).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "the checksum catches a wrong magic first: {err}");

    let broken_gzip = tempfile::tempdir().unwrap();
    let gz = std::fs::read(shared().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    std::fs::write(broken_gzip.path().join("t10k-labels-idx1-ubyte.gz"), &gz[..gz.len() / 2]).unwrap();
    std::fs::copy(shared().join("t10k-images-idx3-ubyte.gz"), broken_gzip.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let err = Mnist::from_dir(MnistSplit::Test, broken_gzip.path(), false).unwrap_err();
    assert!(err.to_string().contains("broken gzip"), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(shared().join("t10k-images-idx3-ubyte.gz"), dir.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let err = Mnist::from_dir(MnistSplit::Test, dir.path(), false).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DataError::MissingMnist { .. }) && message.contains("t10k-labels-idx1-ubyte.gz"), "{message}");
    assert!(!message.contains("--"), "a library message names no command-line flag: {message}");
}
