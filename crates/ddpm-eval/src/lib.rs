//! How good generated digits are, as library code any app calls: the digit [`classifier`] whose
//! penultimate features the metrics compare (trained, saved, loaded, checked against the SHA-256 of
//! the one every figure in BENCHMARKS.md was scored by), and the [`Evaluator`], which scores a batch of
//! samples against MNIST's test digits: FID and KID on those features, the FID of as many real training
//! digits (the floor at that n), precision and recall, and the class histogram.
//!
//! The figures compare runs scored by one classifier; they are not Inception FIDs and not comparable
//! with published ones. The metrics themselves are `ddpm_data::metrics`.

pub mod classifier;
mod error;
mod evaluator;

pub use classifier::{CLASSIFIER_SHA256, LoadedClassifier, classify};
pub use error::EvalError;
pub use evaluator::{Evaluator, PIXELS, Report};
