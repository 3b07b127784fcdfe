//! Classifier-free guidance (Ho & Salimans 2022): a class-conditional network trained with its label
//! dropped now and then is asked twice per step, with the label and without, and the two outputs are
//! extrapolated away from the unconditional one: out = out_uncond + w (out_cond - out_uncond).
//!
//! The combination is taken on the raw output. Every prediction target (eps, x_0, v) is an affine
//! function of the output at a fixed x_t, so this is the same guidance on eps whatever the target. A
//! network that learns its variance outputs more channels than x_t has: only the prediction's (the
//! first as many as x_t's) are guided, the variance is the conditional one (as GLIDE and diffusers' DiT
//! pipeline take it).

use burn::tensor::Tensor;
use ddpm_core::Denoiser;

/// A class-conditional denoiser under guidance scale `w`: 1 is plain conditional sampling, 0 is
/// unconditional. Both outputs come from one batched forward pass of twice the batch.
#[derive(Debug, Clone, Copy)]
pub struct Guided<'m, M> {
    model: &'m M,
    scale: f64,
    null_class: usize,
}

impl<'m, M> Guided<'m, M> {
    /// Guides `model`, whose "no class" label is `null_class`, at scale `scale`.
    pub fn new(model: &'m M, scale: f64, null_class: usize) -> Self {
        Self { model, scale, null_class }
    }
}

impl<M: Denoiser<D>, const D: usize> Denoiser<D> for Guided<'_, M> {
    /// Without labels, the unconditional output alone.
    fn predict(&self, x_t: Tensor<D>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<D> {
        let Some(classes) = classes else { return self.model.predict(x_t, timesteps, None) };
        if self.scale == 1.0 {
            return self.model.predict(x_t, timesteps, Some(classes));
        }
        let batch = timesteps.len();
        let both_x = Tensor::cat(vec![x_t.clone(), x_t], 0);
        let both_t: Vec<usize> = timesteps.iter().chain(timesteps).copied().collect();
        let both_classes: Vec<usize> = classes.iter().copied().chain(std::iter::repeat_n(self.null_class, batch)).collect();
        let channels = both_x.dims()[1];
        let both = self.model.predict(both_x, &both_t, Some(&both_classes));
        let conditional = both.clone().narrow(0, 0, batch);
        let unconditional = both.narrow(0, batch, batch).narrow(1, 0, channels);
        let width = conditional.dims()[1];
        let guided = unconditional.clone() + (conditional.clone().narrow(1, 0, channels) - unconditional).mul_scalar(self.scale);
        if width == channels { guided } else { Tensor::cat(vec![guided, conditional.narrow(1, channels, width - channels)], 1) }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    /// Outputs its class label as every value (the null class as 10).
    struct Echo;
    impl Denoiser<2> for Echo {
        fn predict(&self, x_t: Tensor<2>, _: &[usize], classes: Option<&[usize]>) -> Tensor<2> {
            let [batch, width] = x_t.dims();
            let labels: Vec<f32> = (0..batch).flat_map(|i| vec![classes.map_or(10, |c| c[i]) as f32; width]).collect();
            Tensor::from_data(TensorData::new(labels, [batch, width]), &x_t.device())
        }
    }

    /// Echo's labels, then as many values of the label plus 100: a network that learns its variance.
    struct EchoWithVariance;
    impl Denoiser<2> for EchoWithVariance {
        fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], classes: Option<&[usize]>) -> Tensor<2> {
            let labels = Echo.predict(x_t, timesteps, classes);
            Tensor::cat(vec![labels.clone(), labels.add_scalar(100.0)], 1)
        }
    }

    #[test]
    fn guides_the_prediction_and_keeps_the_conditional_variance() {
        let x = Tensor::<2>::zeros([2, 1], &Device::flex());
        let out: Vec<f32> = Guided::new(&EchoWithVariance, 3.0, 10).predict(x, &[5, 5], Some(&[2, 7])).into_data().try_into_vec().unwrap();
        assert_eq!(out, [-14.0, 102.0, 1.0, 107.0]);
    }

    #[test]
    fn extrapolates_from_the_unconditional_output() {
        let x = Tensor::<2>::zeros([2, 3], &Device::flex());
        let guided = Guided::new(&Echo, 3.0, 10);
        // 10 + 3 (c - 10) for c = 2 and 7.
        let out: Vec<f32> = guided.predict(x.clone(), &[5, 5], Some(&[2, 7])).into_data().try_into_vec().unwrap();
        assert_eq!(out, [-14.0, -14.0, -14.0, 1.0, 1.0, 1.0]);
        let plain: Vec<f32> = Guided::new(&Echo, 1.0, 10).predict(x.clone(), &[5, 5], Some(&[2, 7])).into_data().try_into_vec().unwrap();
        assert_eq!(plain, [2.0, 2.0, 2.0, 7.0, 7.0, 7.0]);
        let unconditional: Vec<f32> = guided.predict(x, &[5, 5], None).into_data().try_into_vec().unwrap();
        assert_eq!(unconditional, [10.0; 6]);
    }
}
