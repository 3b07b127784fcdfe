//! `mnist-train eval`: scores generated digits by the project's classifier (see [`crate::classifier`]):
//! FID and KID between its penultimate features of the samples and of the 10 000 test digits, the FID
//! of as many random training digits (the floor at that n: FID is biased upwards at small n), precision
//! and recall, and the class histogram. Figures compare runs scored by this classifier; they are not
//! Inception FIDs and not comparable with published ones.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::{Device, Tensor};
use ddpm_data::metrics::{Features, GaussianStats, class_stats, frechet_distance, kernel_distance, precision_recall};
use ddpm_data::{Mnist, MnistSplit, SingleImage, read_npy_f32, write_atomically};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::classifier::{LoadedClassifier, classify};
use crate::cli::EvalArgs;
use crate::sample::CLASSES_FILE;

const PIXELS: usize = 28 * 28;
const CLASSES: usize = 10;

/// Everything `eval` reports (and writes as JSON).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Report {
    pub n: usize,
    /// FID of the samples against the test digits.
    pub fid: f64,
    /// FID of `n` random training digits against the test digits: what perfect samples would score at this n.
    pub fid_floor: f64,
    pub kid: f64,
    pub kid_std: f64,
    pub precision: f64,
    pub recall: f64,
    pub class_histogram: Vec<usize>,
    /// Entropy of the class histogram in nats (balanced: ln 10 = 2.303).
    pub class_entropy: f64,
    /// The share classified as the class each sample was asked for (conditional samples only).
    pub class_agreement: Option<f64>,
    /// Mean pixel in [0, 1] (MNIST: 0.13).
    pub pixel_mean: f64,
    pub classifier_sha256: String,
}

impl Report {
    /// One line: what a progress bar or a table shows.
    pub fn summary(&self) -> String {
        format!(
            "FID {:.1} (floor {:.1}), KID {:.4}, precision {:.2}, recall {:.2}, class entropy {:.2}",
            self.fid, self.fid_floor, self.kid, self.precision, self.recall, self.class_entropy
        )
    }
}

/// The classifier with the test digits' features, loaded once for any number of evaluations.
pub struct Evaluator {
    classifier: LoadedClassifier,
    test: Features,
    test_stats: GaussianStats,
    train: Mnist,
    device: Device,
}

impl Evaluator {
    pub fn new(data_dir: Option<&Path>, classifier_dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let classifier = LoadedClassifier::open(classifier_dir, device)?;
        let test_images = Mnist::load(MnistSplit::Test, data_dir, false).map_err(ddpm_run::data_error)?;
        let train = Mnist::load(MnistSplit::Train, data_dir, false).map_err(ddpm_run::data_error)?;
        let (_, features) = classify(&classifier.model, &test_images.images, device);
        let test = to_features(features);
        let test_stats = GaussianStats::of(&test);
        Ok(Self { classifier, test, test_stats, train, device: device.clone() })
    }

    pub fn classifier(&self) -> &LoadedClassifier {
        &self.classifier
    }

    /// Scores `images` (28 x 28, pixels in [-1, 1], row-major); `requested` is the class each was asked for.
    ///
    /// # Panics
    /// With fewer than 4 images (precision and recall need more neighbours).
    pub fn evaluate(&self, images: &[f32], requested: Option<&[usize]>, seed: u64) -> Report {
        let n = images.len() / PIXELS;
        let (labels, features) = classify(&self.classifier.model, images, &self.device);
        let features = to_features(features);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let real_rows = sample(&mut rng, self.test.rows, n.min(self.test.rows)).into_vec();
        let floor_rows = sample(&mut rng, self.train.len(), n.min(self.train.len())).into_vec();
        let floor_images: Vec<f32> = floor_rows.iter().flat_map(|&i| self.train.image(i).iter().copied()).collect();
        let (_, floor_features) = classify(&self.classifier.model, &floor_images, &self.device);
        let kid = kernel_distance(&features, &self.test, seed);
        let manifold = precision_recall(&self.test.select(&real_rows), &features);
        let classes = class_stats(&labels, CLASSES, requested);
        Report {
            n,
            fid: frechet_distance(&GaussianStats::of(&features), &self.test_stats),
            fid_floor: frechet_distance(&GaussianStats::of(&to_features(floor_features)), &self.test_stats),
            kid: kid.mean,
            kid_std: kid.std,
            precision: manifold.precision,
            recall: manifold.recall,
            class_histogram: classes.histogram,
            class_entropy: classes.entropy,
            class_agreement: classes.agreement,
            pixel_mean: images.iter().map(|&v| (v as f64 + 1.0) / 2.0).sum::<f64>() / images.len() as f64,
            classifier_sha256: self.classifier.sha256.clone(),
        }
    }
}

fn to_features(features: Tensor<2>) -> Features {
    let [rows, dim] = features.dims();
    Features::new(features.into_data().try_into_vec().expect("f32 features"), rows, dim)
}

pub fn run(args: &EvalArgs, device: &Device) -> anyhow::Result<()> {
    let images = load_samples(&args.samples)?;
    let n = images.len() / PIXELS;
    anyhow::ensure!(
        n >= 10,
        "{} holds {n} images; the metrics need at least 10 (1000 or more for figures worth comparing)",
        args.samples.display()
    );
    let evaluator = Evaluator::new(args.data_dir.as_deref(), &args.classifier, device)?;
    if !evaluator.classifier().is_the_projects() {
        eprintln!(
            "warning: {} is not the project's classifier (sha256 {}); these figures compare only with others it scored",
            evaluator.classifier().path.display(),
            evaluator.classifier().sha256
        );
    }
    let requested = requested_classes(&args.samples, n)?;
    let report = evaluator.evaluate(&images, requested.as_deref(), args.seed);
    println!("mnist-train eval: {n} samples from {}", args.samples.display());
    println!("  {}", report.summary());
    println!("  classes {:?}, mean pixel {:.3}", report.class_histogram, report.pixel_mean);
    if let Some(agreement) = report.class_agreement {
        println!("  {:.1}% classified as the class they were sampled for ({CLASSES_FILE})", 100.0 * agreement);
    }
    let out = args.out.clone().unwrap_or_else(|| default_report_path(&args.samples));
    write_atomically(&out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("  wrote {}", out.display());
    Ok(())
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
    use std::sync::OnceLock;

    use super::*;

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
    }

    /// One evaluator for every test: the test digits' features are computed once.
    fn evaluator() -> &'static Evaluator {
        static EVALUATOR: OnceLock<Evaluator> = OnceLock::new();
        EVALUATOR.get_or_init(|| Evaluator::new(Some(&repo("datasets/mnist")), &repo(crate::run::CLASSIFIER_DIR), &Device::flex()).unwrap())
    }

    /// `n` training digits (not the test digits the reference is made of), from index `first`, in [-1, 1].
    fn training_digits(first: usize, n: usize) -> (Vec<f32>, Vec<u8>) {
        let train = &evaluator().train;
        ((first..first + n).flat_map(|i| train.image(i).iter().copied()).collect(), train.labels[first..first + n].to_vec())
    }

    /// A Gaussian blur of standard deviation `sigma` pixels, separable, edges clamped; on [-1, 1] pixels.
    fn blur(images: &[f32], sigma: f32) -> Vec<f32> {
        let radius = (3.0 * sigma).ceil() as i32;
        let weights: Vec<f32> = (-radius..=radius).map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp()).collect();
        let total: f32 = weights.iter().sum();
        let pass = |input: &[f32], horizontal: bool| -> Vec<f32> {
            let mut out = vec![0.0; input.len()];
            for (i, value) in out.iter_mut().enumerate() {
                let (image, r, c) = (i / PIXELS, (i % PIXELS) / 28, i % 28);
                *value = (-radius..=radius)
                    .zip(&weights)
                    .map(|(d, w)| {
                        let (rr, cc) =
                            if horizontal { (r as i32, (c as i32 + d).clamp(0, 27)) } else { ((r as i32 + d).clamp(0, 27), c as i32) };
                        w * input[image * PIXELS + rr as usize * 28 + cc as usize]
                    })
                    .sum::<f32>()
                    / total;
            }
            out
        };
        pass(&pass(images, true), false)
    }

    #[test]
    fn real_digits_score_near_the_floor_and_damaged_ones_clearly_worse() {
        let (real, _) = training_digits(30_000, 500);
        let clean = evaluator().evaluate(&real, None, 1);
        // Both sets are real digits (different random draws): FID within a few points of each other.
        assert!(clean.fid < 2.0 * clean.fid_floor + 1.0, "{clean:?}");
        assert!(clean.precision > 0.6 && clean.recall > 0.6, "{clean:?}");
        assert!((clean.class_entropy - 10f64.ln()).abs() < 0.05, "{clean:?}");

        let blurred = evaluator().evaluate(&blur(&real, 1.0), None, 1);
        let mut noise = ddpm_core::NoiseRng::new(3).normal_vec(real.len()).into_iter();
        let noised: Vec<f32> = real.iter().map(|v| (v + 0.5 * noise.next().unwrap()).clamp(-1.0, 1.0)).collect();
        let noised = evaluator().evaluate(&noised, None, 1);
        for (name, damaged) in [("blurred", &blurred), ("noised", &noised)] {
            assert!(damaged.fid > 5.0 * clean.fid.max(1.0), "{name}: FID {} against clean {}", damaged.fid, clean.fid);
            assert!(damaged.kid > 5.0 * clean.kid.max(1e-4), "{name}: KID {} against clean {}", damaged.kid, clean.kid);
        }
    }

    #[test]
    fn one_class_alone_has_entropy_near_zero_and_low_recall() {
        let (digits, labels) = training_digits(0, 6000);
        let sevens: Vec<f32> = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == 7)
            .take(300)
            .flat_map(|(i, _)| digits[i * PIXELS..(i + 1) * PIXELS].iter().copied())
            .collect();
        let report = evaluator().evaluate(&sevens, Some(&[7; 300]), 2);
        assert!(report.class_entropy < 0.1, "{report:?}");
        assert!(report.class_agreement.unwrap() > 0.97, "{report:?}");
        assert!(report.recall < 0.3 && report.precision > 0.6, "{report:?}");
        assert!(report.fid > 10.0 * report.fid_floor, "{report:?}");
    }

    #[test]
    fn the_shipped_classifier_is_the_projects_and_reads_the_test_digits() {
        assert!(evaluator().classifier().is_the_projects(), "sha256 {}", evaluator().classifier().sha256);
        let test = Mnist::load(MnistSplit::Test, Some(&repo("datasets/mnist")), false).unwrap();
        let (predicted, _) = classify(&evaluator().classifier().model, &test.images, &Device::flex());
        let correct = predicted.iter().zip(&test.labels).filter(|(p, l)| **p == **l as usize).count();
        assert!(correct >= 9900, "test accuracy {correct}/10000 is below 99%");
    }

    #[test]
    fn samples_load_from_npy_and_png_folders_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (real, _) = training_digits(0, 12);
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
    }
}
