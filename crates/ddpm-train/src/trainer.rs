use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use ddpm_nets::Denoiser;
use ddpm_schedule::{NoiseRng, NoiseSchedule};

use crate::{LossHistory, LossRecord, TrainConfig, TrainError, progress_bar};

/// A trained model and how its loss went.
#[derive(Debug)]
pub struct Trained<M> {
    /// The final weights, still on the autodiff device (call `.valid()` to sample).
    pub model: M,
    pub history: LossHistory,
}

/// Trains `model` to predict the noise added to `data` under `schedule`.
///
/// `data` is the whole training set, `[N, ...]`, already on `device`; `device` must be an autodiff
/// device (`Device::autodiff()`) and the model must live on it. Each step draws a fresh timestep
/// and fresh noise per example from the seeded [`NoiseRng`], so a run is reproducible and does not
/// depend on the backend's own RNG.
pub fn train<const D: usize, M>(
    mut model: M,
    data: Tensor<D>,
    schedule: &NoiseSchedule,
    config: &TrainConfig,
    device: &Device,
) -> Result<Trained<M>, TrainError>
where
    M: Module + Denoiser<D>,
{
    let dataset_len = data.dims()[0];
    if dataset_len == 0 {
        return Err(TrainError::EmptyDataset);
    }
    let batch_size = match config.batch_size {
        Some(0) => return Err(TrainError::ZeroBatch),
        Some(b) => b,
        None => dataset_len,
    };
    if !(config.learning_rate > 0.0 && config.learning_rate.is_finite()) {
        return Err(TrainError::InvalidConfig(format!(
            "learning rate must be a positive number (got {})",
            config.learning_rate
        )));
    }
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_epsilon(config.adam_epsilon as f32)
        .init();
    let mut rng = NoiseRng::new(config.seed);
    let mut batch_shape = data.dims();
    batch_shape[0] = batch_size;

    let bar = config.progress.then(|| progress_bar(config.steps, "training"));
    let mut history = LossHistory::default();
    let mut pending: Vec<(usize, f64, Tensor<1>)> = Vec::with_capacity(config.log_every);

    for step in 0..config.steps {
        let x0 = if batch_size == dataset_len {
            data.clone()
        } else {
            let rows = rng.uniform_indices(batch_size, dataset_len);
            let rows: Vec<i64> = rows.into_iter().map(|r| r as i64).collect();
            data.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(rows, [batch_size]), device))
        };
        let timesteps = rng.uniform_indices(batch_size, schedule.num_steps());
        let noise = rng.normal(batch_shape, device);
        let x_t = schedule.q_sample(x0, &timesteps, noise.clone());
        let loss = (model.predict_noise(x_t, &timesteps) - noise).square().mean();

        let learning_rate = config.lr_schedule.at(step, config.steps, config.learning_rate);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(learning_rate, model, grads);

        pending.push((step, learning_rate, loss.detach()));
        if pending.len() >= config.log_every.max(1) || step + 1 == config.steps {
            flush(&mut pending, &mut history, config.learning_rate)?;
            if let (Some(bar), Some(last)) = (&bar, history.records.last()) {
                bar.set_position(step as u64 + 1);
                bar.set_message(format!("loss {:.4} lr {:.1e}", last.loss, last.learning_rate));
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    Ok(Trained { model, history })
}

/// Reads the buffered losses back in one transfer and stops on the first non-finite one.
fn flush(
    pending: &mut Vec<(usize, f64, Tensor<1>)>,
    history: &mut LossHistory,
    peak_lr: f64,
) -> Result<(), TrainError> {
    let losses: Vec<Tensor<1>> = pending.iter().map(|(_, _, loss)| loss.clone()).collect();
    let values = Tensor::cat(losses, 0)
        .into_data()
        .try_into_vec::<f32>()
        .expect("losses are stored as f32");
    for ((step, learning_rate, _), loss) in pending.drain(..).zip(values) {
        if !loss.is_finite() {
            return Err(TrainError::NonFiniteLoss { step, loss, suggested_lr: peak_lr / 10.0 });
        }
        history.records.push(LossRecord { step, loss, learning_rate });
    }
    Ok(())
}
