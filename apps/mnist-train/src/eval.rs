//! `mnist-train eval`: scores generated digits by the project's classifier (see `ddpm_eval`):
//! FID and KID between its penultimate features of the samples and of the 10 000 test digits, the FID
//! of as many random training digits (the floor at that n: FID is biased upwards at small n), precision
//! and recall, and the class histogram. Figures compare runs scored by this classifier; they are not
//! Inception FIDs and not comparable with published ones.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use ddpm_data::{MnistSplit, SingleImage, read_npy_f32, write_atomically};
use ddpm_eval::{Evaluator, LoadedClassifier, PIXELS};
use ddpm_run::{SampleSource, evaluate_bound};

use crate::cli::EvalArgs;
use crate::run::{APP, DIGITS, MnistData};
use crate::sample::CLASSES_FILE;

pub fn run(args: &EvalArgs, device: &Device) -> anyhow::Result<()> {
    match &args.samples {
        Some(samples) => score_samples(args, samples, device),
        None => likelihood(args, device),
    }
}

/// `eval --bpd`: the variational bound of a run or pipeline on the first `--n` test digits, each
/// conditioned on its label when the model takes classes.
fn likelihood(args: &EvalArgs, device: &Device) -> anyhow::Result<()> {
    let checkpoint = args.bound.checkpoint.as_deref().expect("clap requires --checkpoint with --bpd");
    let source = SampleSource::<MnistData>::open(APP, checkpoint, args.bound.weights, MnistData::of_pipeline, device)?;
    let padded = source.description.experiment.padded;
    let test = crate::run::load_mnist(MnistSplit::Test, args.data_dir.as_deref(), padded)?;
    let labels: Vec<usize> = test.labels.iter().map(|&label| usize::from(label)).collect();
    let shape = [test.len(), 1, test.size, test.size];
    let report = evaluate_bound(&source, &test.images, shape, Some(&labels), &args.bound, args.seed, device)?;
    let given = if report.conditional { ", each given its label" } else { "" };
    println!("{APP} eval --bpd: {} from {}, the first {} test digits{given}", source.weights, checkpoint.display(), report.n);
    report.print_and_write(args.out.as_deref())
}

/// `eval --samples`: the classifier's metrics of generated digits.
fn score_samples(args: &EvalArgs, samples: &Path, device: &Device) -> anyhow::Result<()> {
    let images = load_samples(samples)?;
    let n = images.len() / PIXELS;
    anyhow::ensure!(
        n >= 10,
        "{} holds {n} images; the metrics need at least 10 (1000 or more for figures worth comparing)",
        samples.display()
    );
    let evaluator = evaluator(args.data_dir.as_deref(), &args.classifier, device)?;
    if !evaluator.classifier().is_the_projects() {
        eprintln!(
            "warning: {} is not the project's classifier (sha256 {}); these figures compare only with others it scored",
            evaluator.classifier().path.display(),
            evaluator.classifier().sha256
        );
    }
    let requested = requested_classes(samples, n)?;
    let report = evaluator.evaluate(&images, requested.as_deref(), args.seed);
    println!("mnist-train eval: {n} samples from {}", samples.display());
    println!("  {}", report.summary());
    println!("  classes {:?}, mean pixel {:.3}", report.class_histogram, report.pixel_mean);
    if let Some(agreement) = report.class_agreement {
        println!("  {:.1}% classified as the class they were sampled for ({CLASSES_FILE})", 100.0 * agreement);
    }
    let out = args.out.clone().unwrap_or_else(|| default_report_path(samples));
    write_atomically(&out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("  wrote {}", out.display());
    Ok(())
}

/// The evaluator with the classifier in `classifier_dir` and the MNIST files in `data_dir` (or the
/// usual places, see `Mnist::load`).
pub fn evaluator(data_dir: Option<&Path>, classifier_dir: &Path, device: &Device) -> anyhow::Result<Evaluator> {
    let classifier = LoadedClassifier::open(classifier_dir, device)
        .map_err(|e| anyhow::anyhow!("{e} (train one with `mnist-train classifier`, or name its folder with --classifier)"))?;
    let test = crate::run::load_mnist(MnistSplit::Test, data_dir, false)?;
    let train = crate::run::load_mnist(MnistSplit::Train, data_dir, false)?;
    Ok(Evaluator::new(classifier, &test, train, device))
}

/// The classes conditional samples were asked for: `classes.json` in the samples folder (or beside the file).
fn requested_classes(samples: &Path, n: usize) -> anyhow::Result<Option<Vec<usize>>> {
    let folder =
        if samples.is_dir() { samples.to_path_buf() } else { samples.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf) };
    let file = [folder.join(CLASSES_FILE), folder.join("samples").join(CLASSES_FILE)].into_iter().find(|f| f.is_file());
    let Some(file) = file else { return Ok(None) };
    let classes: Vec<usize> =
        serde_json::from_str(&std::fs::read_to_string(&file)?).with_context(|| format!("{} is not a list of classes", file.display()))?;
    anyhow::ensure!(classes.len() == n, "{} lists {} classes for {n} samples", file.display(), classes.len());
    if let Some(bad) = classes.iter().find(|&&class| class >= DIGITS) {
        anyhow::bail!("{} asks for digit {bad}; digits are 0 to {}", file.display(), DIGITS - 1);
    }
    Ok(Some(classes))
}

/// `eval.json` beside a samples file, or inside a samples folder.
fn default_report_path(samples: &Path) -> PathBuf {
    if samples.is_dir() { samples.join("eval.json") } else { samples.with_extension("eval.json") }
}

/// Digits to score from a `.npy` file (`[N, 1, 28, 28]` or `[N, 28, 28]` float32 in [0, 1], as `sample` and
/// the PyTorch reference write them), a folder with `samples.npy`, a run folder (its `samples/samples.npy`),
/// or a folder of 28 x 28 PNGs. Returns pixels in [-1, 1].
pub fn load_samples(path: &Path) -> anyhow::Result<Vec<f32>> {
    if path.is_dir() {
        for candidate in [path.join("samples.npy"), path.join("samples").join("samples.npy")] {
            if candidate.is_file() {
                return load_npy(&candidate);
            }
        }
        // A run folder's own PNGs are its loss curve and grids, not samples to score.
        anyhow::ensure!(
            !path.join(ddpm_train::CHECKPOINT_DIR).is_dir(),
            "{} is a run folder with no samples yet: draw them with `mnist-train sample --checkpoint {}`, then score them",
            path.display(),
            path.display()
        );
        return load_png_folder(path);
    }
    anyhow::ensure!(path.is_file(), "{} does not exist: give a samples.npy, a folder of PNGs, or a run folder", path.display());
    load_npy(path)
}

fn load_npy(path: &Path) -> anyhow::Result<Vec<f32>> {
    let (values, shape) = read_npy_f32(path)?;
    let digits = matches!(shape.as_slice(), [_, 1, 28, 28] | [_, 28, 28]);
    anyhow::ensure!(digits, "{} has shape {shape:?}; eval scores 28 x 28 digits, [N, 1, 28, 28] or [N, 28, 28]", path.display());
    if let Some(bad) = values.iter().find(|v| !(-1e-3..=1.001).contains(*v)) {
        anyhow::bail!("{} holds the value {bad}; eval expects pixels in [0, 1] (clip and rescale [-1, 1] samples first)", path.display());
    }
    Ok(values.iter().map(|&v| v.clamp(0.0, 1.0) * 2.0 - 1.0).collect())
}

fn load_png_folder(dir: &Path) -> anyhow::Result<Vec<f32>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "{} has no samples.npy, samples/samples.npy or .png files to score", dir.display());
    let mut pixels = Vec::with_capacity(files.len() * PIXELS);
    for file in &files {
        let image = SingleImage::load(file, 1, 28)?;
        anyhow::ensure!(
            image.source_size == [28, 28],
            "{} is {:?} pixels; eval scores 28 x 28 digits, one per file",
            file.display(),
            image.source_size
        );
        pixels.extend(image.pixels);
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
    }

    #[test]
    fn samples_load_from_npy_and_png_folders_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let train = ddpm_data::Mnist::load(MnistSplit::Train, Some(&repo("datasets/mnist")), false).unwrap();
        let real: Vec<f32> = (0..12).flat_map(|i| train.image(i).iter().copied()).collect();
        let unit: Vec<f32> = real.iter().map(|v| (v + 1.0) / 2.0).collect();
        ddpm_data::write_npy_f32(&dir.path().join("samples.npy"), &unit, &[12, 1, 28, 28]).unwrap();
        let loaded = load_samples(dir.path()).unwrap();
        assert!(loaded.iter().zip(&real).all(|(a, b)| (a - b).abs() < 1e-6));
        // A run folder: its samples/samples.npy.
        let run = tempfile::tempdir().unwrap();
        std::fs::create_dir(run.path().join("samples")).unwrap();
        std::fs::copy(dir.path().join("samples.npy"), run.path().join("samples/samples.npy")).unwrap();
        assert_eq!(load_samples(run.path()).unwrap().len(), 12 * PIXELS);
        // PNGs, one digit each.
        let pngs = tempfile::tempdir().unwrap();
        for i in 0..3 {
            let file = std::fs::File::create(pngs.path().join(format!("{i}.png"))).unwrap();
            let mut encoder = png::Encoder::new(file, 28, 28);
            encoder.set_color(png::ColorType::Grayscale);
            let bytes: Vec<u8> = unit[i * PIXELS..(i + 1) * PIXELS].iter().map(|v| (v * 255.0).round() as u8).collect();
            encoder.write_header().unwrap().write_image_data(&bytes).unwrap();
        }
        let from_png = load_samples(pngs.path()).unwrap();
        assert_eq!(from_png.len(), 3 * PIXELS);
        assert!(from_png.iter().zip(&real).all(|(a, b)| (a - b).abs() < 0.01), "PNG round trip");
        // [-1, 1] values, a wrong shape and a missing path are named.
        ddpm_data::write_npy_f32(&dir.path().join("signed.npy"), &real, &[12, 1, 28, 28]).unwrap();
        assert!(load_samples(&dir.path().join("signed.npy")).unwrap_err().to_string().contains("expects pixels in [0, 1]"));
        ddpm_data::write_npy_f32(&dir.path().join("wide.npy"), &unit, &[12, 784]).unwrap();
        assert!(load_samples(&dir.path().join("wide.npy")).unwrap_err().to_string().contains("[N, 1, 28, 28]"));
        assert!(load_samples(&dir.path().join("nothing.npy")).unwrap_err().to_string().contains("does not exist"));
        // A run folder with no samples yet is told to draw them, not that its loss curve is not a digit.
        let young = tempfile::tempdir().unwrap();
        std::fs::create_dir(young.path().join("checkpoint")).unwrap();
        std::fs::copy(pngs.path().join("0.png"), young.path().join("loss.png")).unwrap();
        let err = load_samples(young.path()).unwrap_err().to_string();
        assert!(err.contains("no samples yet") && err.contains("mnist-train sample --checkpoint"), "{err}");
    }

    #[test]
    fn a_classes_file_asking_for_a_digit_beyond_9_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CLASSES_FILE), "[3, 12]").unwrap();
        let err = requested_classes(dir.path(), 2).unwrap_err().to_string();
        assert!(err.contains("digit 12") && err.contains("0 to 9"), "{err}");
        std::fs::write(dir.path().join(CLASSES_FILE), "[3, 9]").unwrap();
        assert_eq!(requested_classes(dir.path(), 2).unwrap(), Some(vec![3, 9]));
    }
}
