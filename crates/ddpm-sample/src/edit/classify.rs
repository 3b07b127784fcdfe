//! Which class a conditional model sees in an image it is asked to edit without being told: the class
//! under which its x_0 estimates fit the image's known pixels best, over a few noise levels (a
//! diffusion classifier, Li et al. 2023, "Your Diffusion Model is Secretly a Zero-Shot Classifier",
//! restricted to the kept pixels). It asks the model itself, so it needs no classifier of its own.

use burn::tensor::Tensor;
use ddpm_core::{Denoiser, NoiseRng};

use crate::Estimator;

/// Images the model sees at once while classifying (each is seen once per class and level).
const CHUNK: usize = 256;

/// For each image, the class in `0..classes` whose x_0 estimate at the levels `timesteps` is closest
/// (squared error over the kept pixels) to the image. The hidden pixels are set to the mean of the
/// kept ones before noising, so that nothing of them reaches the model.
///
/// Shapes: `images`, `mask` (1 kept, 0 hidden): `[B, ...]`. One noise draw per timestep from `rng`,
/// read row by row, so the answer does not depend on how the batch is cut; the model sees at most
/// 256 images at once, `classes x timesteps` times each.
pub fn infer_classes<M: Denoiser<D>, const D: usize>(
    model: &M,
    estimator: &Estimator,
    images: Tensor<D>,
    mask: Tensor<D>,
    classes: usize,
    timesteps: &[usize],
    rng: &mut NoiseRng,
) -> Vec<usize> {
    let batch = images.dims()[0];
    let first_draw = rng.reserve_draws(timesteps.len() as u64);
    (0..batch)
        .step_by(CHUNK)
        .flat_map(|start| {
            let rows = start..(start + CHUNK).min(batch);
            let chunk = Chunk { model, estimator, first_draw, rng: *rng, first_row: start };
            chunk.classify(images.clone().slice(rows.clone()), mask.clone().slice(rows), classes, timesteps)
        })
        .collect()
}

/// A slice of the batch being classified.
struct Chunk<'a, 'e, M> {
    model: &'a M,
    estimator: &'a Estimator<'e>,
    first_draw: u64,
    rng: NoiseRng,
    first_row: usize,
}

impl<M> Chunk<'_, '_, M> {
    fn classify<const D: usize>(&self, images: Tensor<D>, mask: Tensor<D>, classes: usize, timesteps: &[usize]) -> Vec<usize>
    where
        M: Denoiser<D>,
    {
        let shape = images.dims();
        let (batch, per_image): (usize, usize) = (shape[0], shape[1..].iter().product());
        let device = images.device();
        let kept = images.clone() * mask.clone();
        let kept_mean =
            kept.clone().reshape([batch, per_image]).sum_dim(1).div(mask.clone().reshape([batch, per_image]).sum_dim(1).clamp_min(1.0));
        let mut per_row = [1; D];
        per_row[0] = batch;
        let filled = kept + mask.clone().neg().add_scalar(1.0) * kept_mean.reshape(per_row);
        let mut misfits = vec![0.0f64; classes * batch];
        for (k, &t) in timesteps.iter().enumerate() {
            let noise = self.rng.normal_rows(self.first_draw + k as u64, self.first_row, shape, &device);
            let times = vec![t; batch];
            let x_t = self.estimator.schedule().q_sample(filled.clone(), &times, noise);
            for class in 0..classes {
                let output = self.model.predict(x_t.clone(), &times, Some(&vec![class; batch]));
                let x0 = self.estimator.x0(x_t.clone(), &times, output);
                let misfit = ((x0 - images.clone()) * mask.clone()).powi_scalar(2).reshape([batch, per_image]).sum_dim(1);
                let misfit: Vec<f32> = misfit.into_data().convert::<f32>().try_into_vec().expect("f32 errors");
                misfits[class * batch..][..batch].iter_mut().zip(misfit).for_each(|(total, e)| *total += e as f64);
            }
        }
        (0..batch)
            .map(|i| (0..classes).min_by(|&a, &b| misfits[a * batch + i].total_cmp(&misfits[b * batch + i])).expect("at least one class"))
            .collect()
    }
}
