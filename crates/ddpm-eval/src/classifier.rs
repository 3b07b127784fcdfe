//! The digit classifier whose features the quality metrics use: trained on MNIST, saved as
//! `classifier.bpk` beside a `classifier.json` that records how, and loaded with the SHA-256 of its
//! weights.
//!
//! The metrics compare runs only when every run is scored by the same network, so [`LoadedClassifier`]
//! tells whether its weights are the project's ([`CLASSIFIER_SHA256`]).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use ddpm_data::{Mnist, ShuffledBatches, hex_sha256, write_atomically};
use ddpm_nets::{Classifier, ClassifierConfig};
use serde::{Deserialize, Serialize};

use crate::EvalError;

const WEIGHTS: &str = "classifier.bpk";
const DESCRIPTION: &str = "classifier.json";
/// The SHA-256 of the shipped `classifier.bpk`: the network every figure in BENCHMARKS.md was scored by.
pub const CLASSIFIER_SHA256: &str = "1b9f4486e5bbfbae11422170d0c7101ee4a508a2f4946050d0e42a0854099abe";
/// Images per forward pass when classifying.
const BATCH: usize = 500;

/// How the classifier is trained: AdamW (weight decay 1e-4) with a cosine decay of the learning rate
/// to 0, over seeded shuffled minibatches.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ClassifierTraining {
    pub epochs: usize,
    pub batch_size: usize,
    /// The peak learning rate.
    pub lr: f64,
    pub seed: u64,
}

impl ClassifierTraining {
    /// The optimiser steps over `examples` training digits.
    pub fn steps(&self, examples: usize) -> usize {
        examples / self.batch_size * self.epochs
    }
}

/// What `classifier.json` records beside the weights.
#[derive(Serialize, Deserialize, Debug)]
struct ClassifierDescription {
    config: ClassifierConfig,
    test_accuracy: f64,
    #[serde(flatten)]
    training: ClassifierTraining,
    command: String,
}

/// Trains a fresh classifier on `data` (on `device`'s autodiff twin, seeded by `settings.seed`).
/// `on_step(done, loss)` reports progress, with the loss every 50 steps.
pub fn train(data: &Mnist, settings: &ClassifierTraining, device: &Device, mut on_step: impl FnMut(usize, Option<f32>)) -> Classifier {
    let autodiff = device.clone().autodiff();
    autodiff.seed(settings.seed);
    let mut model = ClassifierConfig::new().init(&autodiff);
    let mut optimizer = AdamWConfig::new().with_weight_decay(1e-4).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&autodiff);
    let steps = settings.steps(data.len());
    for step in 0..steps {
        let rows = ShuffledBatches::rows(data.len(), settings.batch_size, settings.seed, step as u64);
        let (images, labels) = batch(data, &rows, &autodiff);
        let loss = loss_fn.forward(model.forward(images), labels);
        let shown = (step % 50 == 0).then(|| loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        // Cosine decay to 0 over the run.
        let lr = settings.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / steps as f64).cos());
        model = optimizer.step(lr, model, grads);
        on_step(step + 1, shown);
    }
    model.valid()
}

/// The share of `data`'s digits `model` labels correctly.
pub fn accuracy(model: &Classifier, data: &Mnist, device: &Device) -> f64 {
    let (predicted, _) = classify(model, &data.images, device);
    let correct = predicted.iter().zip(&data.labels).filter(|(p, l)| **p == usize::from(**l)).count();
    correct as f64 / data.len() as f64
}

/// Writes `model` into `dir` as `classifier.bpk` and `classifier.json` (its config, `test_accuracy`,
/// `training` and the `command` that made it), and returns the weights' SHA-256.
pub fn save(
    dir: &Path,
    model: &Classifier,
    test_accuracy: f64,
    training: &ClassifierTraining,
    command: String,
) -> Result<String, EvalError> {
    std::fs::create_dir_all(dir).map_err(|source| ddpm_data::IoError::Write { path: dir.into(), source })?;
    let (weights, temp) = (dir.join(WEIGHTS), dir.join(format!("{WEIGHTS}.tmp")));
    let failed = |reason: String| EvalError::Save { path: weights.clone(), reason };
    model.clone().save_file(&temp).map_err(|e| failed(format!("{e:?}")))?;
    std::fs::rename(&temp, &weights).map_err(|e| failed(e.to_string()))?;
    let description = ClassifierDescription { config: ClassifierConfig::new(), test_accuracy, training: training.clone(), command };
    let json = serde_json::to_string_pretty(&description).expect("the description serialises");
    write_atomically(&dir.join(DESCRIPTION), json.as_bytes())?;
    sha256(&weights)
}

/// The images (scaled to [-1, 1]) and labels of `rows`.
fn batch(data: &Mnist, rows: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let pixels: Vec<f32> = rows.iter().flat_map(|&i| data.image(i).iter().copied()).collect();
    let labels: Vec<i64> = rows.iter().map(|&i| data.labels[i] as i64).collect();
    let size = data.size;
    (
        Tensor::from_data(TensorData::new(pixels, [rows.len(), 1, size, size]), device),
        Tensor::from_data(TensorData::new(labels, [rows.len()]), device),
    )
}

/// The loaded classifier and the SHA-256 of its weights.
pub struct LoadedClassifier {
    pub model: Classifier,
    pub sha256: String,
    pub path: PathBuf,
}

impl LoadedClassifier {
    /// Loads `dir/classifier.bpk`, with the config recorded beside it.
    pub fn open(dir: &Path, device: &Device) -> Result<Self, EvalError> {
        let (weights, description) = (dir.join(WEIGHTS), dir.join(DESCRIPTION));
        let text =
            std::fs::read_to_string(&description).map_err(|source| EvalError::MissingClassifier { path: description.clone(), source })?;
        let description: ClassifierDescription =
            serde_json::from_str(&text).map_err(|e| EvalError::BadDescription { path: description, reason: e.to_string() })?;
        let model = description
            .config
            .init(device)
            .try_load_file(&weights)
            .map_err(|e| EvalError::BadWeights { path: weights.clone(), reason: format!("{e:?}") })?;
        Ok(Self { model, sha256: sha256(&weights)?, path: weights })
    }

    /// Whether these are the weights the project's figures were scored by.
    pub fn is_the_projects(&self) -> bool {
        self.sha256 == CLASSIFIER_SHA256
    }
}

fn sha256(path: &Path) -> Result<String, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| ddpm_data::IoError::Read { path: path.into(), source })?;
    Ok(hex_sha256(&bytes))
}

/// The predicted class and the penultimate features of each image.
///
/// Shapes: `images`: `n` images of 28 x 28 pixels in [-1, 1], row-major; returns `n` labels and `[n, features]`.
pub fn classify(model: &Classifier, images: &[f32], device: &Device) -> (Vec<usize>, Tensor<2>) {
    let pixels = 28 * 28;
    let n = images.len() / pixels;
    let (mut labels, mut features) = (Vec::with_capacity(n), Vec::new());
    for start in (0..n).step_by(BATCH) {
        let rows = BATCH.min(n - start);
        let x =
            Tensor::<4>::from_data(TensorData::new(images[start * pixels..(start + rows) * pixels].to_vec(), [rows, 1, 28, 28]), device);
        let f = model.features(x);
        let predicted: Vec<i64> = model.logits(f.clone()).argmax(1).into_data().convert::<i64>().try_into_vec().expect("integer labels");
        labels.extend(predicted.into_iter().map(|l| l as usize));
        features.push(f);
    }
    (labels, Tensor::cat(features, 0))
}
