//! Weights as PyTorch state dicts in safetensors files: the format diffusers (and most of the PyTorch
//! world) saves, read and written through `burn-store` with its PyTorch adapters (Linear weights
//! transposed, norms' `weight`/`bias` for Burn's `gamma`/`beta`). A network whose field names are the
//! PyTorch module names, as [`crate::UNet2DModel`]'s are, maps onto such a file key for key.

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::DType;

use crate::NetError;

/// How many names a message lists before it says "and N more".
const LISTED: usize = 5;

/// Loads every parameter of `model` from the safetensors state dict at `path`, f32, f16 or bf16 (all
/// read as f32), after renaming keys by `renames` (regex, replacement) pairs.
///
/// Refuses, naming the tensors, a file that lacks a parameter, holds one of another shape, holds
/// tensors the model has no place for (a different architecture, which loading partially would hide),
/// or holds a NaN or an infinity.
pub fn load_safetensors<M: Module>(mut model: M, path: &Path, renames: &[(&str, &str)]) -> Result<M, NetError> {
    if !path.is_file() {
        return Err(NetError::MissingWeights { path: path.into() });
    }
    let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32));
    let mut store = SafetensorsStore::from_file(path).with_from_adapter(adapter).allow_partial(true).validate(false);
    for (pattern, replacement) in renames {
        store = store.with_key_remapping(pattern, *replacement);
    }
    let result = model.load_from(&mut store).map_err(|e| NetError::UnreadableWeights { path: path.into(), reason: e.to_string() })?;
    let problem = if let Some(error) = result.errors.first() {
        Some(format!("{error}{}", more(result.errors.len())))
    } else if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(name, _)| name.as_str()).collect();
        Some(format!("it lacks {}", listed(&names)))
    } else if !result.unused.is_empty() {
        let names: Vec<&str> = result.unused.iter().map(String::as_str).collect();
        Some(format!("it holds tensors this model has no place for: {}", listed(&names)))
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(NetError::WeightsDoNotFit { path: path.into(), problem });
    }
    match ddpm_core::non_finite_parameter(&model) {
        Some((tensor, count)) => Err(NetError::NonFiniteWeights { path: path.into(), tensor, count }),
        None => Ok(model),
    }
}

/// Writes `model` as a safetensors PyTorch state dict (f32) at `path`, replacing any file there.
pub fn save_safetensors<M: Module>(model: &M, path: &Path) -> Result<(), NetError> {
    let mut store = SafetensorsStore::from_file(path).with_to_adapter(BurnToPyTorchAdapter).overwrite(true).metadata("format", "pt");
    model.save_into(&mut store).map_err(|e| NetError::WriteWeights { path: path.into(), reason: e.to_string() })
}

fn listed(names: &[&str]) -> String {
    let shown = names.iter().take(LISTED).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    format!("{shown}{}", more(names.len()))
}

fn more(count: usize) -> String {
    if count > LISTED { format!(" and {} more", count - LISTED) } else { String::new() }
}
