use std::path::PathBuf;

use thiserror::Error;

/// Why a network could not be configured, built or given its weights. Every variant names the setting
/// or file at fault and why; none names a command-line flag (the apps add those).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NetError {
    /// A setting the network cannot be built with. `reason` names the value and the fix.
    #[error("{reason}")]
    InvalidConfig { network: &'static str, field: String, reason: String },
    #[error("the {network} is not an image network")]
    NotAnImageNetwork { network: &'static str },
    #[error("the run's network is the {found}, not the {wanted}")]
    AnotherNetwork { found: &'static str, wanted: &'static str },
    #[error("{} does not exist", path.display())]
    MissingWeights { path: PathBuf },
    #[error("cannot read {} as safetensors: {reason}", path.display())]
    UnreadableWeights { path: PathBuf, reason: String },
    #[error("{} does not fit this model's configuration: {problem}", path.display())]
    WeightsDoNotFit { path: PathBuf, problem: String },
    #[error(
        "{} holds {count} NaN or infinite values in '{tensor}': a model with such weights samples only NaN; \
         use weights saved before training diverged",
        path.display()
    )]
    NonFiniteWeights { path: PathBuf, tensor: String, count: usize },
    #[error("cannot write {}: {reason}", path.display())]
    WriteWeights { path: PathBuf, reason: String },
}

impl NetError {
    /// A setting `field` of `network` that cannot work, and why.
    pub(crate) fn config(network: &'static str, field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig { network, field: field.into(), reason: reason.into() }
    }
}
