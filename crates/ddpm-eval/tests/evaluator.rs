//! The evaluator on real MNIST digits and the shipped classifier: real digits score near the floor,
//! damaged ones clearly worse, one class alone has no entropy.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::tensor::Device;
use ddpm_data::{Mnist, MnistSplit};
use ddpm_eval::{Evaluator, LoadedClassifier, PIXELS};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// One evaluator for every test: the test digits' features are computed once.
fn evaluator() -> &'static Evaluator {
    static EVALUATOR: OnceLock<Evaluator> = OnceLock::new();
    EVALUATOR.get_or_init(|| {
        let classifier = LoadedClassifier::open(&repo("datasets/mnist-classifier"), &Device::flex()).unwrap();
        Evaluator::new(classifier, &test_digits(), train_digits().clone(), &Device::flex())
    })
}

fn test_digits() -> Mnist {
    Mnist::from_dir(MnistSplit::Test, &repo("datasets/mnist"), false).unwrap()
}

fn train_digits() -> &'static Mnist {
    static TRAIN: OnceLock<Mnist> = OnceLock::new();
    TRAIN.get_or_init(|| Mnist::from_dir(MnistSplit::Train, &repo("datasets/mnist"), false).unwrap())
}

/// `n` training digits (not the test digits the reference is made of), from index `first`, in [-1, 1].
fn training_digits(first: usize, n: usize) -> (Vec<f32>, Vec<u8>) {
    let train = train_digits();
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
    let test = test_digits();
    let accuracy = ddpm_eval::classifier::accuracy(&evaluator().classifier().model, &test, &Device::flex());
    assert!(accuracy >= 0.99, "test accuracy {accuracy} is below 99%");
}
