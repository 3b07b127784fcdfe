//! Which class a conditional model sees in an image it is asked to edit without being told: the class
//! under which its x_0 estimates fit the image's known pixels best, over a few noise levels (a
//! diffusion classifier, Li et al. 2023, "Your Diffusion Model is Secretly a Zero-Shot Classifier",
//! restricted to the kept pixels). It asks the model itself, so it needs no classifier of its own.

use burn::tensor::Tensor;
use ddpm_core::{Denoiser, NoiseRng};

use crate::Estimator;

/// For each image, the class in `0..classes` whose x_0 estimate at the levels `timesteps` is closest
/// (squared error over the kept pixels) to the image. The hidden pixels are set to the mean of the
/// kept ones before noising, so that nothing of them reaches the model.
///
/// Shapes: `images`, `mask` (1 kept, 0 hidden): `[B, ...]`. One noise draw per timestep from `rng`;
/// the model sees `classes x B` images per level.
pub fn infer_classes<M: Denoiser<D>, const D: usize>(
    model: &M,
    estimator: &Estimator,
    images: Tensor<D>,
    mask: Tensor<D>,
    classes: usize,
    timesteps: &[usize],
    rng: &mut NoiseRng,
) -> Vec<usize> {
    let shape = images.dims();
    let batch = shape[0];
    let device = images.device();
    let per_image: usize = shape[1..].iter().product();
    let kept = images.clone() * mask.clone();
    let kept_mean = kept.clone().reshape([batch, per_image]).sum_dim(1).div(mask.clone().reshape([batch, per_image]).sum_dim(1).clamp_min(1.0));
    let mut fill_shape = [1; D];
    fill_shape[0] = batch;
    let filled = kept.clone() + mask.clone().neg().add_scalar(1.0) * kept_mean.reshape(fill_shape);
    let all = |x: Tensor<D>| x.repeat_dim(0, classes);
    let labels: Vec<usize> = (0..classes).flat_map(|c| std::iter::repeat_n(c, batch)).collect();
    let mut errors = vec![0.0f64; classes * batch];
    for &t in timesteps {
        let noise = rng.normal(shape, &device);
        let x_t = estimator.schedule().q_sample(filled.clone(), &vec![t; batch], noise.clone());
        let times = vec![t; classes * batch];
        let output = model.predict(all(x_t.clone()), &times, Some(&labels));
        let x0 = estimator.x0(all(x_t), &times, output);
        let misfit = ((x0 - all(images.clone())) * all(mask.clone())).powi_scalar(2).reshape([classes * batch, per_image]).sum_dim(1);
        let misfit: Vec<f32> = misfit.into_data().convert::<f32>().try_into_vec().expect("f32 errors");
        errors.iter_mut().zip(misfit).for_each(|(total, e)| *total += e as f64);
    }
    (0..batch)
        .map(|i| (0..classes).min_by(|&a, &b| errors[a * batch + i].total_cmp(&errors[b * batch + i])).expect("at least one class"))
        .collect()
}

