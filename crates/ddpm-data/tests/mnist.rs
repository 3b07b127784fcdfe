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

/// An IDX file of u8 `values` shaped `dims`.
fn idx(dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
    [bytes, values.to_vec()].concat()
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
    assert!(matches!(err, DataError::BadIdx { .. }), "{err}");
    assert!(err.to_string().contains("cut short or damaged; copy or download it again"), "{err}");

    let mut bad_magic = raw.clone();
    bad_magic[3] = 1;
    let err = Mnist::from_dir(MnistSplit::Test, folder_with(&bad_magic).path(), false).unwrap_err();
    assert!(err.to_string().contains("magic number 0x00000801"), "{err}");

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

#[test]
fn another_dataset_in_mnists_format_loads_with_a_note_and_bad_shapes_or_labels_are_refused() {
    // Fashion-MNIST, KMNIST: well-formed IDX pairs of 28x28 images and labels 0-9, other bytes.
    let inverted: Vec<u8> = raw_test_images().iter().enumerate().map(|(i, &b)| if i < 16 { b } else { 255 - b }).collect();
    let other = folder_with(&inverted);
    let data = Mnist::from_dir(MnistSplit::Test, other.path(), false).unwrap();
    assert_eq!((data.len(), data.size), (10_000, 28));
    assert_eq!(data.image(0)[0], 1.0, "the inverted background is white");
    assert_eq!(data.unofficial, [other.path().join("t10k-images-idx3-ubyte")], "the labels are the official file");
    let note = data.unofficial_note().unwrap();
    assert!(note.contains("t10k-images-idx3-ubyte not the official MNIST") && note.contains("Fashion-MNIST"), "{note}");
    assert!(Mnist::from_dir(MnistSplit::Test, &shared(), false).unwrap().unofficial_note().is_none());

    let small = folder_with(&idx(&[10_000, 14, 14], &vec![0; 10_000 * 14 * 14]));
    let err = Mnist::from_dir(MnistSplit::Test, small.path(), false).unwrap_err().to_string();
    assert!(err.contains("its images are 14x14 pixels; MNIST's are 28x28"), "{err}");

    let few = folder_with(&idx(&[3, 28, 28], &[0; 3 * 28 * 28]));
    let err = Mnist::from_dir(MnistSplit::Test, few.path(), false).unwrap_err().to_string();
    assert!(err.contains("3 images but 10000 labels"), "{err}");
    std::fs::remove_file(few.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    std::fs::write(few.path().join("t10k-labels-idx1-ubyte"), idx(&[3], &[1, 12, 3])).unwrap();
    let err = Mnist::from_dir(MnistSplit::Test, few.path(), false).unwrap_err().to_string();
    assert!(
        err.contains("t10k-labels-idx1-ubyte is not a valid IDX file: label 12 of image 1; MNIST's labels are the digits 0-9"),
        "{err}"
    );
}
