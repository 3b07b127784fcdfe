//! `image-train` through the binary on real folders: MNIST digits written out as PNGs and crops of the
//! photographs in `datasets/images`, saved as JPEGs, in nested folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_image-train")).args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `dir/digits/NNN.png` (the first 12 MNIST training digits) and `dir/photos/deeper/*.jpg` (4 crops of
/// each photograph).
fn real_folder(dir: &Path) {
    let mnist = ddpm_data::Mnist::load(ddpm_data::MnistSplit::Test, Some(&repo().join("datasets/mnist")), false).unwrap();
    std::fs::create_dir_all(dir.join("digits")).unwrap();
    for (i, digit) in mnist.images.chunks_exact(28 * 28).take(12).enumerate() {
        let bytes = digit.iter().map(|v| ((v + 1.0) * 127.5).round() as u8).collect();
        image::GrayImage::from_raw(28, 28, bytes).unwrap().save(dir.join(format!("digits/{i:03}.png"))).unwrap();
    }
    std::fs::create_dir_all(dir.join("photos/deeper")).unwrap();
    for name in ["astronaut", "camera"] {
        let photo = image::open(repo().join(format!("datasets/images/{name}.png"))).unwrap().to_rgb8();
        let (w, h) = photo.dimensions();
        for k in 0..4 {
            let crop = image::imageops::crop_imm(&photo, k * w / 8, k * h / 8, w / 2, h / 3).to_image();
            crop.save(dir.join(format!("photos/deeper/{name}-{k}.jpg"))).unwrap();
        }
    }
}

#[test]
fn a_folder_trains_resumes_samples_and_exports() {
    let work = tempfile::tempdir().unwrap();
    let (data, out) = (work.path().join("data"), work.path().join("run"));
    real_folder(&data);
    let (data_dir, run_dir) = (data.to_str().unwrap(), out.to_str().unwrap());
    let train = ["train", "--data-dir", data_dir, "--out", run_dir, "--size", "16", "--batch-size", "4", "--sample-every", "1"];
    let output = run(&[&train[..], &["--steps", "2"]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", stderr(&output));
    assert!(stdout.contains("20 images from") && stdout.contains("16x16, 3 channel(s), random flips"), "{stdout}");
    assert!(out.join("samples/step-1.png").is_file() && out.join("samples/step-2.png").is_file());

    let output = run(&["train", "--resume", "--out", run_dir, "--steps", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("resuming"));

    let samples = work.path().join("samples");
    let output = run(&["sample", "--checkpoint", run_dir, "--n", "3", "--out", samples.to_str().unwrap(), "--steps", "4"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (values, shape) = ddpm_data::read_npy_f32(&samples.join("samples.npy")).unwrap();
    assert_eq!(shape, [3, 3, 16, 16]);
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));

    let export = work.path().join("export");
    let output = run(&["export", "--checkpoint", run_dir, "--out", export.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(export.join("unet/diffusion_pytorch_model.safetensors").is_file() && export.join("model_index.json").is_file());

    // The likelihood of held-out images (here the digits alone), the KL terms from 3 steps each.
    let held_out = data.join("digits");
    let output =
        run(&["eval", "--bpd", "--checkpoint", run_dir, "--data-dir", held_out.to_str().unwrap(), "--n", "4", "--bpd-timesteps", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("bits/dim over 4 images"));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("bpd.json")).unwrap()).unwrap();
    assert_eq!((report["dimensions"].as_u64(), report["conditional"].as_bool()), (Some(3 * 16 * 16), Some(false)));
    let output = run(&["eval", "--checkpoint", run_dir, "--data-dir", held_out.to_str().unwrap()]);
    assert!(!output.status.success() && stderr(&output).contains("add --bpd"), "{}", stderr(&output));

    // The folder changed: resuming would train on other images. First a photo edited in place to the
    // same byte size (one value of its quantisation table raised: a valid JPEG that decodes differently),
    // then a file removed.
    let photo = data.join("photos/deeper/camera-0.jpg");
    let mut bytes = std::fs::read(&photo).unwrap();
    let table = bytes.windows(2).position(|w| w == [0xFF, 0xDB]).expect("a JPEG has a quantisation table") + 5;
    bytes[table] = bytes[table].saturating_add(1).max(2);
    std::fs::write(&photo, &bytes).unwrap();
    let output = run(&["train", "--resume", "--out", run_dir, "--steps", "4"]);
    assert!(!output.status.success() && stderr(&output).contains("no longer holds the 20 images"), "{}", stderr(&output));
    std::fs::remove_file(data.join("digits/000.png")).unwrap();
    let output = run(&["train", "--resume", "--out", run_dir, "--steps", "4"]);
    assert!(!output.status.success() && stderr(&output).contains("no longer holds the 20 images"), "{}", stderr(&output));
}

#[test]
fn bad_folders_are_refused_with_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let train = |data: &Path, extra: &[&str]| {
        let base = ["train", "--data-dir", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--size", "8", "--steps", "1"];
        run(&[&base[..], extra].concat())
    };
    let output = run(&["train", "--out", out.to_str().unwrap()]);
    assert!(!output.status.success() && stderr(&output).contains("a new run needs --data-dir"), "{}", stderr(&output));
    let output = train(&work.path().join("missing"), &[]);
    assert!(!output.status.success() && stderr(&output).contains("is not a folder"), "{}", stderr(&output));

    let empty = work.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::write(empty.join("sub/notes.txt"), "not an image").unwrap();
    let output = train(&empty, &[]);
    assert!(!output.status.success() && stderr(&output).contains("holds no PNG or JPEG files"), "{}", stderr(&output));

    let data = work.path().join("data");
    real_folder(&data);
    std::fs::write(data.join("digits/broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::write(data.join("photos/cut.jpg"), &std::fs::read(data.join("photos/deeper/camera-0.jpg")).unwrap()[..500]).unwrap();
    let output = train(&data, &[]);
    let message = stderr(&output);
    assert!(
        !output.status.success() && message.contains("2 of the 22 images") && message.contains("broken.png") && message.contains("cut.jpg"),
        "{message}"
    );
    assert!(message.contains("--skip-bad") && !out.exists(), "{message}");
    let output = train(&data, &["--skip-bad", "--batch-size", "2", "--sample-every", "0", "--network", "small"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("skipped") && String::from_utf8_lossy(&output.stdout).contains("20 images"));

    std::fs::remove_dir_all(&out).unwrap();
    let output = train(&data, &["--skip-bad", "--batch-size", "64"]);
    assert!(!output.status.success() && stderr(&output).contains("larger than the 20 images"), "{}", stderr(&output));

    // A run folder inside the image folder (`--data-dir .` with `--out runs/images`) would train on its own grids.
    for inside in [data.clone(), data.join("runs/images")] {
        let base = ["train", "--data-dir", data.to_str().unwrap(), "--out", inside.to_str().unwrap(), "--size", "8", "--steps", "1"];
        let output = run(&base);
        assert!(!output.status.success() && stderr(&output).contains("is inside --data-dir"), "{}", stderr(&output));
    }
    assert!(!data.join("runs").exists(), "nothing was written into the images");
}
