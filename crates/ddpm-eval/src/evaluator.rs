//! The evaluator: samples scored by the digit classifier's features against MNIST's test digits.

use burn::tensor::{Device, Tensor};
use ddpm_data::Mnist;
use ddpm_data::metrics::{Features, GaussianStats, class_stats, frechet_distance, kernel_distance, precision_recall};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{LoadedClassifier, classify};

/// The values of one digit, 28 x 28.
pub const PIXELS: usize = 28 * 28;
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
    /// Scores against `test` (MNIST's test digits, whose features are computed once here), with floors
    /// drawn from `train`.
    pub fn new(classifier: LoadedClassifier, test: &Mnist, train: Mnist, device: &Device) -> Self {
        let (_, features) = classify(&classifier.model, &test.images, device);
        let test = to_features(features);
        let test_stats = GaussianStats::of(&test);
        Self { classifier, test, test_stats, train, device: device.clone() }
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
