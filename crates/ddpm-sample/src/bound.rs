//! The variational bound on the negative log-likelihood of the reverse process, in bits per dimension:
//! Ho et al. 2020, eq. 5, computed as improved DDPM's `calc_bpd_loop` does (Nichol & Dhariwal 2021).
//!
//! With 0-based steps (the paper's step `t + 1` is index `t` here), for an image x_0 of D values:
//!
//! - the prior term L_T = KL(q(x_T | x_0) || N(0, I)), where q(x_T | x_0) = N(sqrt(abar) x_0, (1 - abar) I)
//!   at the last step;
//! - for every step t >= 1, L_t = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)), the true posterior
//!   against the model's step, at x_t ~ q(x_t | x_0);
//! - the decoder term L_0 = -log p(x_0 | x_1) at step 0, a Gaussian integrated over each pixel's bin of
//!   width 2/255 in [-1, 1] (the edge bins reach to infinity), i.e. the likelihood of 8-bit data.
//!
//! Each term is averaged over the D values and divided by ln 2; their sum bounds -log2 p(x_0) / D. The
//! model's p(x_{t-1} | x_t) is the DDPM sampler's ([`crate::DdpmSampler`]): the posterior mean at the
//! network's x_0 estimate (clipped as the run's sampler clips), and the variance the network learned or,
//! when it learns none, the fixed one the run samples with. The terms are `ddpm_core`'s
//! [`NoiseSchedule::vb_term_bpd`], the same that train a learned variance.

use burn::tensor::Tensor;
use ddpm_core::{Denoiser, NoiseRng, NoiseSchedule, bits_per_dim, normal_kl, per_example};

use crate::{Estimator, VarianceType};

/// A model's reverse process p(x_{t-1} | x_t) as the bound sees it: how its output is read (the
/// network's target, its learned variance if any, and the run's clipping), and the fixed variance used
/// when it learns none.
#[derive(Debug, Clone, Copy)]
pub struct VariationalBound<'a> {
    estimator: Estimator<'a>,
    variance: VarianceType,
}

impl<'a> VariationalBound<'a> {
    pub fn new(estimator: Estimator<'a>, variance: VarianceType) -> Self {
        Self { estimator, variance }
    }

    pub fn schedule(&self) -> &'a NoiseSchedule {
        self.estimator.schedule()
    }

    /// ln sigma_t^2 of p(x_{t-1} | x_t) when the network learns no variance: ln beta_t, or ln
    /// beta-tilde_t. At t = 0, where beta-tilde is 0, both use beta-tilde of step 1, as improved DDPM does
    /// (the decoder's scale).
    pub fn model_log_variance(&self, t: usize) -> f64 {
        let schedule = self.schedule();
        match (self.variance, t) {
            (VarianceType::Beta, 1..) => schedule.betas()[t].ln(),
            _ => schedule.posterior_log_variance_clipped()[t],
        }
    }

    /// L_T = KL(q(x_T | x_0) || N(0, I)) per example, in bits per dimension.
    ///
    /// Shapes: `x0`: `[B, ...]`; returns `[B]`.
    pub fn prior_bpd<const D: usize>(&self, x0: Tensor<D>) -> Tensor<1> {
        let schedule = self.schedule();
        let last = schedule.num_steps() - 1;
        let mean = x0.clone().mul_scalar(schedule.sqrt_alphas_cumprod()[last]);
        let log_var = x0.zeros_like().add_scalar((1.0 - schedule.alphas_cumprod()[last]).ln());
        bits_per_dim(normal_kl(mean, log_var, x0.zeros_like(), x0.zeros_like()))
    }

    /// L_t = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) per example, in bits per dimension, with the
    /// model's `output` at `x_t`. Every timestep must be at least 1 (step 0 is [`VariationalBound::decoder_bpd`]).
    ///
    /// Shapes: `x0`, `x_t`: `[B, ...]`; `output`: the network's; `timesteps`: `B` 0-based steps. Returns `[B]`.
    pub fn kl_bpd<const D: usize>(&self, x0: Tensor<D>, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<1> {
        assert!(timesteps.iter().all(|&t| t >= 1), "the KL terms are those of steps t >= 1; step 0 is the decoder's");
        self.term_bpd(x0, x_t, timesteps, output)
    }

    /// L_0 = -log p(x_0 | x_1) per example, in bits per dimension: the model's step out of step 0 (its
    /// `output` at `x_1`, the data noised once) integrated over each value's 8-bit bin.
    ///
    /// Shapes: `x0`, `x_1`: `[B, ...]`; `output`: the network's; returns `[B]`.
    pub fn decoder_bpd<const D: usize>(&self, x0: Tensor<D>, x_1: Tensor<D>, output: Tensor<D>) -> Tensor<1> {
        let timesteps = vec![0; x0.dims()[0]];
        self.term_bpd(x0, x_1, &timesteps, output)
    }

    /// The bound's term of each example's step: p(x_{t-1} | x_t) has the posterior mean at the model's
    /// (clipped) estimate of x_0, and its learned or fixed variance.
    fn term_bpd<const D: usize>(&self, x0: Tensor<D>, x_t: Tensor<D>, timesteps: &[usize], output: Tensor<D>) -> Tensor<1> {
        let schedule = self.schedule();
        let estimated_x0 = self.estimator.x0(x_t.clone(), timesteps, output.clone());
        let model_mean = schedule.q_posterior_mean(estimated_x0, x_t.clone(), timesteps);
        let model_log_variance = match self.estimator.variance_values(&x_t, output) {
            Some(v) => schedule.learned_range_log_variance(v, timesteps),
            None => {
                let fixed: Vec<f64> = timesteps.iter().map(|&t| self.model_log_variance(t)).collect();
                per_example(&fixed, &x_t.device())
            }
        };
        schedule.vb_term_bpd(x0, x_t, timesteps, model_mean, model_log_variance)
    }

    /// The bound of each image of `x0` (`[B, ...]`, 8-bit data scaled to [-1, 1]) under `model`, whose
    /// `classes` are passed along. `plan` says which steps t >= 1 are visited and holds the noise, drawn
    /// by (evaluation, image index), the images being rows `first_image..` of all those the plan is
    /// for: so the figures do not depend on how the images are batched. `on_evaluation` is called after
    /// each of the `plan.evaluations() + 1` network evaluations.
    pub fn evaluate<const D: usize, M: Denoiser<D>>(
        &self,
        model: &M,
        x0: Tensor<D>,
        classes: Option<&[usize]>,
        plan: &BoundPlan,
        first_image: usize,
        mut on_evaluation: impl FnMut(),
    ) -> BoundParts {
        let schedule = self.schedule();
        assert_eq!(plan.num_steps, schedule.num_steps(), "the plan is for a schedule of another length");
        let (shape, device) = (x0.dims(), x0.device());
        let batch = shape[0];
        let noised = |evaluation: u64, timesteps: &[usize]| {
            let noise = plan.noise.normal_rows(plan.first_draw + evaluation, first_image, shape, &device);
            schedule.q_sample(x0.clone(), timesteps, noise)
        };
        let to_host =
            |bits: Tensor<1>| -> Vec<f64> { bits.into_data().convert::<f64>().try_into_vec::<f64>().expect("the bound is a float tensor") };

        let prior = to_host(self.prior_bpd(x0.clone()));
        let at_zero = vec![0; batch];
        let x_1 = noised(0, &at_zero);
        let decoder = to_host(self.decoder_bpd(x0.clone(), x_1.clone(), model.predict(x_1, &at_zero, classes)));
        on_evaluation();

        let mut kl = vec![0.0; batch];
        for evaluation in 0..plan.evaluations() {
            let timesteps = plan.timesteps(evaluation, first_image..first_image + batch);
            let x_t = noised(1 + evaluation as u64, &timesteps);
            let output = model.predict(x_t.clone(), &timesteps, classes);
            for (sum, term) in kl.iter_mut().zip(to_host(self.kl_bpd(x0.clone(), x_t, &timesteps, output))) {
                *sum += term * plan.weight();
            }
            on_evaluation();
        }
        BoundParts { prior, kl, decoder }
    }
}

/// Which steps t >= 1 the bound's sum visits, all T - 1 or K per image drawn uniformly from 1..T (an
/// unbiased estimate of the sum: (T - 1) times the mean of the K terms), and the noise of every
/// evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundPlan {
    num_steps: usize,
    steps: VisitedSteps,
    noise: NoiseRng,
    /// The draw of the decoder's noise; evaluation k of the KL terms has draw `first_draw + 1 + k`.
    first_draw: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum VisitedSteps {
    /// Every step 1..T, all images at the same step in each evaluation.
    All,
    /// `per_image` steps for each image: image i's are `timesteps[i * per_image..][..per_image]`.
    Sampled { per_image: usize, timesteps: Vec<usize> },
}

impl BoundPlan {
    /// Every step of a `num_steps`-step schedule, with noise from `rng`.
    pub fn all(num_steps: usize, rng: &mut NoiseRng) -> Self {
        Self::with_noise(num_steps, VisitedSteps::All, rng)
    }

    /// `per_image` steps for each of `images` images, drawn uniformly from 1..num_steps (with
    /// replacement), and the noise, from `rng`. Needs at least 2 steps and 1 per image.
    pub fn sampled(num_steps: usize, per_image: usize, images: usize, rng: &mut NoiseRng) -> Self {
        assert!(num_steps >= 2 && per_image >= 1, "sampling the KL terms needs a schedule of 2 steps or more, and 1 step per image");
        let timesteps = rng.uniform_indices(images * per_image, num_steps - 1).into_iter().map(|t| t + 1).collect();
        Self::with_noise(num_steps, VisitedSteps::Sampled { per_image, timesteps }, rng)
    }

    fn with_noise(num_steps: usize, steps: VisitedSteps, rng: &mut NoiseRng) -> Self {
        let mut plan = Self { num_steps, steps, noise: *rng, first_draw: 0 };
        plan.first_draw = rng.reserve_draws(1 + plan.evaluations() as u64);
        plan
    }

    /// Network evaluations per image for the KL terms.
    pub fn evaluations(&self) -> usize {
        match &self.steps {
            VisitedSteps::All => self.num_steps - 1,
            VisitedSteps::Sampled { per_image, .. } => *per_image,
        }
    }

    /// The steps of evaluation `evaluation` for the images `rows`.
    fn timesteps(&self, evaluation: usize, rows: std::ops::Range<usize>) -> Vec<usize> {
        match &self.steps {
            VisitedSteps::All => vec![evaluation + 1; rows.len()],
            VisitedSteps::Sampled { per_image, timesteps } => rows.map(|row| timesteps[row * per_image + evaluation]).collect(),
        }
    }

    /// What each visited term counts for in the sum: 1, or (T - 1) / K.
    fn weight(&self) -> f64 {
        match &self.steps {
            VisitedSteps::All => 1.0,
            VisitedSteps::Sampled { per_image, .. } => (self.num_steps - 1) as f64 / *per_image as f64,
        }
    }
}

/// The bound's three parts for each image, in bits per dimension.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundParts {
    /// L_T.
    pub prior: Vec<f64>,
    /// The sum of L_t over t >= 1 (estimated when the plan samples the steps).
    pub kl: Vec<f64>,
    /// L_0.
    pub decoder: Vec<f64>,
}

impl BoundParts {
    /// Each image's bound: prior + KL terms + decoder.
    pub fn total(&self) -> Vec<f64> {
        self.prior.iter().zip(&self.kl).zip(&self.decoder).map(|((p, k), d)| p + k + d).collect()
    }

    /// Appends `other`'s images.
    pub fn extend(&mut self, other: BoundParts) {
        self.prior.extend(other.prior);
        self.kl.extend(other.kl);
        self.decoder.extend(other.decoder);
    }
}
