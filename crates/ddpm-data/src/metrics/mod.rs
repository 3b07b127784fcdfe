//! Sample-quality metrics on feature vectors (a classifier's penultimate layer): the Fréchet distance
//! (FID's formula), the kernel distance (KID), precision and recall over k-NN manifolds, and class
//! statistics of predicted labels. Each works on any features; what the figures mean depends on the
//! network that made them, so they compare runs scored by the same network, not published FIDs.

mod classes;
mod features;
mod frechet;
mod kid;
mod linalg;
mod manifold;

pub use classes::{ClassStats, class_stats};
pub use features::{Features, GaussianStats};
pub use frechet::frechet_distance;
pub use kid::{KernelDistance, kernel_distance};
pub use manifold::{PrecisionRecall, precision_recall};
