//! `mnist-train classifier`: trains the digit classifier whose features the quality metrics use, and
//! loads the one shipped in `datasets/mnist-classifier/`.
//!
//! The metrics compare runs only when every run is scored by the same network, so `eval` checks the
//! weights' SHA-256 against [`CLASSIFIER_SHA256`] and says so when they differ.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use ddpm_data::{Mnist, MnistSplit, ShuffledBatches, hex_sha256, write_atomically};
use ddpm_nets::{Classifier, ClassifierConfig};
use ddpm_run::progress_bar;
use serde::{Deserialize, Serialize};

use crate::cli::ClassifierArgs;

const WEIGHTS: &str = "classifier.bpk";
const DESCRIPTION: &str = "classifier.json";
/// The SHA-256 of the shipped `classifier.bpk`: the network every figure in BENCHMARKS.md was scored by.
pub const CLASSIFIER_SHA256: &str = "1b9f4486e5bbfbae11422170d0c7101ee4a508a2f4946050d0e42a0854099abe";
/// Images per forward pass when classifying.
const BATCH: usize = 500;

/// What `classifier.json` records beside the weights.
#[derive(Serialize, Deserialize, Debug)]
struct ClassifierDescription {
    config: ClassifierConfig,
    test_accuracy: f64,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
    command: String,
}

pub fn train(args: &ClassifierArgs, device: &Device) -> anyhow::Result<()> {
    let train = Mnist::load(MnistSplit::Train, args.data_dir.as_deref(), false).map_err(ddpm_run::data_error)?;
    let test = Mnist::load(MnistSplit::Test, args.data_dir.as_deref(), false).map_err(ddpm_run::data_error)?;
    let autodiff = device.clone().autodiff();
    autodiff.seed(args.seed);
    let config = ClassifierConfig::new();
    let mut model = config.init(&autodiff);
    let mut optimizer = AdamWConfig::new().with_weight_decay(1e-4).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&autodiff);
    let per_epoch = train.len() / args.batch_size;
    let steps = per_epoch * args.epochs;
    let bar = progress_bar(steps, "classifier");
    for step in 0..steps {
        let rows = ShuffledBatches::rows(train.len(), args.batch_size, args.seed, step as u64);
        let (images, labels) = batch(&train, &rows, &autodiff);
        let loss = loss_fn.forward(model.forward(images), labels);
        if step % 50 == 0 {
            bar.set_message(format!("loss {:.4}", loss.clone().into_scalar::<f32>()));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        // Cosine decay to 0 over the run.
        let lr = args.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / steps as f64).cos());
        model = optimizer.step(lr, model, grads);
        bar.set_position(step as u64 + 1);
    }
    bar.finish();

    let model = model.valid();
    let (predicted, _) = classify(&model, &test.images, device);
    let correct = predicted.iter().zip(&test.labels).filter(|(p, l)| **p == **l as usize).count();
    let accuracy = correct as f64 / test.len() as f64;
    println!("mnist-train classifier: {} epochs, test accuracy {:.2}% ({correct}/{})", args.epochs, 100.0 * accuracy, test.len());
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let temp = args.out.join(format!("{WEIGHTS}.tmp"));
    model.save_file(&temp).map_err(|e| anyhow::anyhow!("cannot save the classifier to {}: {e:?}", temp.display()))?;
    std::fs::rename(&temp, args.out.join(WEIGHTS)).with_context(|| format!("cannot move {} into place", temp.display()))?;
    let description = ClassifierDescription {
        config,
        test_accuracy: accuracy,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    write_atomically(&args.out.join(DESCRIPTION), serde_json::to_string_pretty(&description)?.as_bytes())?;
    println!("  wrote {}/{{{WEIGHTS}, {DESCRIPTION}}}, sha256 {}", args.out.display(), sha256(&args.out.join(WEIGHTS))?);
    Ok(())
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
    pub fn open(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let (weights, description) = (dir.join(WEIGHTS), dir.join(DESCRIPTION));
        let text = std::fs::read_to_string(&description).with_context(|| {
            format!(
                "cannot read {}: the metrics need the digit classifier (train one with `mnist-train classifier`)",
                description.display()
            )
        })?;
        let description: ClassifierDescription =
            serde_json::from_str(&text).with_context(|| format!("{} is not a classifier description", description.display()))?;
        let model = description
            .config
            .init(device)
            .try_load_file(&weights)
            .map_err(|e| anyhow::anyhow!("cannot load the classifier weights {}: {e:?}", weights.display()))?;
        Ok(Self { model, sha256: sha256(&weights)?, path: weights })
    }

    /// Whether these are the weights the project's figures were scored by.
    pub fn is_the_projects(&self) -> bool {
        self.sha256 == CLASSIFIER_SHA256
    }
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
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
