//! Training on a dataset that fits on the device as one tensor (the toy experiments).

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ddpm_core::{Denoiser, NoiseRng, NoiseSchedule};
use ddpm_exec::Execution;

use crate::{FitHooks, FitPlan, LossHistory, TrainConfig, TrainError, Trainer, fit};

/// Mixed into the seed of the minibatch-row stream, so rows come from a stream of their own and the
/// noise stream is the same whatever the batch size.
const ROW_STREAM: u64 = 0x0005_EED0_FB47_C4E5;

/// A trained model and how its loss went.
#[derive(Debug)]
pub struct Trained<M> {
    /// The final weights, still on the autodiff device (call `.valid()` to sample).
    pub model: M,
    pub history: LossHistory,
}

/// Trains `model` on `data` under `schedule` (to predict `config.prediction`) for `config.steps` steps,
/// reporting to `hooks` (`&mut NoHooks` for none).
///
/// `data` is the whole training set, `[N, ...]`, already on `device`, an autodiff device
/// (`Device::autodiff()`) that the model lives on too. Each step uses the whole set, or
/// `config.batch_size` rows drawn with replacement from a seeded stream of their own. Each batch is
/// cut into slices that run at once as `execution` says ([`Trainer::with_execution`]).
pub fn train<const D: usize, M>(
    model: M,
    data: Tensor<D>,
    schedule: &NoiseSchedule,
    config: &TrainConfig,
    device: &Device,
    execution: Execution,
    hooks: &mut impl FitHooks<M>,
) -> Result<Trained<M>, TrainError>
where
    M: Module + Denoiser<D>,
{
    let dataset_len = data.dims()[0];
    let batch_size = batch_size_for(config, dataset_len)?;
    let mut trainer = Trainer::new(model, schedule, config)?.with_execution(execution);
    let mut rows = NoiseRng::new(config.seed ^ ROW_STREAM);
    let next_batch = || {
        if batch_size == dataset_len {
            return data.clone();
        }
        let indices: Vec<i64> = rows.uniform_indices(batch_size, dataset_len).into_iter().map(|r| r as i64).collect();
        data.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(indices, [batch_size]), device))
    };
    let plan = FitPlan { batch_size, run: (), ..FitPlan::default() };
    let (history, _) = fit(&mut trainer, next_batch, &plan, hooks)?;
    Ok(Trained { model: trainer.model, history })
}

/// Checks the settings that depend on the dataset before a run starts.
fn batch_size_for(config: &TrainConfig, dataset_len: usize) -> Result<usize, TrainError> {
    if dataset_len == 0 {
        return Err(TrainError::EmptyDataset);
    }
    match config.batch_size {
        Some(0) => Err(TrainError::ZeroBatch),
        Some(b) => Ok(b),
        None => Ok(dataset_len),
    }
}
