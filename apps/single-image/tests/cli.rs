//! `single-image` end to end on the real photographs in `datasets/images`, with tiny runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shared_image(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/images").join(name).canonicalize().unwrap()
}

/// Runs the binary in `cwd`, so nothing lands in the repository.
fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_single-image")).current_dir(cwd).args(args).output().unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "should have failed:\n{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let info = decoder.read_info().unwrap();
    (info.info().width, info.info().height)
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn train_resume_and_sample_a_tiny_run() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let camera = shared_image("camera.png");
    let tiny = ["--preset", "quick", "--size", "16", "--batch-size", "2", "--checkpoint-every", "2", "--log-every", "1", "--samples", "2"];
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--image", camera.to_str().unwrap(), "--out", "run"];
        args.extend_from_slice(&tiny);
        args.extend_from_slice(extra);
        run(cwd, &args)
    };
    let out = ok(&train(&["--steps", "3"]));
    assert!(out.contains("finished at step 3 of 3"), "{out}");
    let run_dir = cwd.join("run");
    for file in [
        "target.png",
        "target.npy",
        "checkpoint/model.bpk",
        "checkpoint/state.json",
        "metrics.jsonl",
        "loss.png",
        "samples.png",
        "denoising.png",
        "summary.json",
    ] {
        assert!(run_dir.join(file).is_file(), "missing {file}");
    }
    assert_eq!(png_size(&run_dir.join("target.png")), (20, 20), "16 pixels and the 2-pixel frame");
    let first = summary(&run_dir.join("summary.json"));
    assert_eq!(first["samples"].as_array().unwrap().len(), 2);
    assert!(first["samples"][0]["psnr_db"].as_f64().unwrap().is_finite());
    assert!(first["samples"][0]["ssim"].as_f64().is_some(), "16 pixels fit SSIM's window");
    assert_eq!(first["sampler"], "DDIM-100 (eta 0, Leading spacing, x_0 clipped)", "the quick preset's sampler");

    let err = failure(&train(&["--steps", "3"]));
    assert!(err.contains("--resume"), "a second run into the same folder is refused: {err}");
    for (flag, value) in [("--preset", "reference"), ("--channels", "3"), ("--image", "other.png"), ("--lr", "0.1")] {
        let err = failure(&run(cwd, &["train", "--resume", "--out", "run", "--steps", "5", flag, value]));
        assert!(err.contains(&format!("{flag} {value} differs from this run")), "{err}");
    }
    let out = ok(&run(cwd, &["train", "--resume", "--out", "run", "--steps", "5", "--samples", "0"]));
    assert!(out.contains("resuming") && out.contains("finished at step 5 of 5"), "{out}");
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> =
        metrics.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (0..5).collect::<Vec<_>>());

    let out = ok(&run(cwd, &["sample", "--checkpoint", "run", "--steps", "4", "--n", "3", "--seed", "7", "--out", "more"]));
    assert!(out.contains("step 5") && out.contains("DDIM-4"), "{out}");
    let more = summary(&cwd.join("more/summary.json"));
    assert_eq!((more["samples"].as_array().unwrap().len(), more["training_steps"].as_u64(), more["seed"].as_u64()), (3, Some(5), Some(7)));
    // Target plus three samples in one row, each 16 x 16 drawn at scale 16 (256 / 16).
    assert_eq!(png_size(&cwd.join("more/samples.png")), (4 * (16 * 16 + 2) + 2, 16 * 16 + 4));
    // DDIM-4 keeps x_T and every state after it: five columns.
    assert_eq!(png_size(&cwd.join("more/denoising.png")).0, 5 * (16 * 16 + 2) + 2);
    let out = ok(&run(cwd, &["sample", "--checkpoint", "run", "--sampler", "ddpm", "--n", "1", "--out", "ddpm"]));
    assert!(out.contains("DDPM-1000"), "{out}");

    let err = failure(&run(cwd, &["sample", "--checkpoint", "run", "--steps", "1001"]));
    assert!(err.contains("between 1 and T = 1000"), "{err}");
}

#[test]
fn bad_input_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let train = |image: &str, extra: &[&str]| {
        let mut args = vec!["train", "--image", image, "--out", "run", "--preset", "quick", "--steps", "1"];
        args.extend_from_slice(extra);
        run(cwd, &args)
    };
    let err = failure(&train("missing.png", &[]));
    assert!(err.contains("missing.png") && err.contains("No such file"), "{err}");

    std::fs::write(cwd.join("notes.png"), "not an image at all").unwrap();
    let err = failure(&train("notes.png", &[]));
    assert!(err.contains("notes.png is not a PNG or JPEG image"), "{err}");

    let camera = std::fs::read(shared_image("camera.png")).unwrap();
    std::fs::write(cwd.join("cut.png"), &camera[..camera.len() / 2]).unwrap();
    let err = failure(&train("cut.png", &[]));
    assert!(err.contains("cut.png cannot be decoded") && err.contains("truncated"), "{err}");

    let camera = shared_image("camera.png");
    let err = failure(&train(camera.to_str().unwrap(), &["--size", "60"]));
    assert!(err.contains("--size 60") && err.contains("multiple of 8"), "{err}");
    let err = failure(&train(camera.to_str().unwrap(), &["--channels", "2"]));
    assert!(err.contains("use 1 (grayscale) or 3 (RGB)"), "{err}");
    let err = failure(&train(camera.to_str().unwrap(), &["--minutes", "nan"]));
    assert!(err.contains("invalid value 'nan' for '--minutes <MINUTES>': NaN is not a number in (0, 10000000]"), "{err}");
    assert!(!cwd.join("run").exists(), "nothing was written for refused input");

    let err = failure(&run(cwd, &["sample", "--checkpoint", "nowhere"]));
    assert!(err.contains("no checkpoint here"), "{err}");
}

#[test]
fn a_tiny_file_declaring_an_image_too_large_to_resize_is_refused_before_allocating() {
    // 50000 x 1 pixels: a few hundred bytes, but 6.4 G pixels once its one row is resized to 128.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 50_000, 1);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.write_header().unwrap().write_image_data(&vec![0; 50_000]).unwrap();
    std::fs::write(dir.path().join("strip.png"), &bytes).unwrap();
    let err = failure(&run(dir.path(), &["forward", "--image", "strip.png", "--size", "128", "--out", "f.png"]));
    assert!(err.contains("a 50000 x 1 image resized to 128 pixels on its shorter side is too large"), "{err}");
    assert!(!dir.path().join("f.png").exists());
}

#[test]
fn forward_draws_one_row_per_schedule_in_colour() {
    let dir = tempfile::tempdir().unwrap();
    let astronaut = shared_image("astronaut.png");
    let args = [
        "forward",
        "--image",
        astronaut.to_str().unwrap(),
        "--channels",
        "3",
        "--size",
        "32",
        "--columns",
        "4",
        "--out",
        "figs/forward.png",
    ];
    let out = ok(&run(dir.path(), &args));
    assert!(out.contains("t = [0, 333, 666, 999]") && out.contains("CosineClamped"), "{out}");
    // Three schedules x four levels, each 32 pixels drawn at scale 4 (128 / 32), with 2-pixel gaps.
    assert_eq!(png_size(&dir.path().join("figs/forward.png")), (4 * (128 + 2) + 2, 3 * (128 + 2) + 2));
}
