//! DPM-Solver++ (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
//! Models"), multistep, in its data-prediction form: the probability-flow ODE solved in the half log-SNR
//! lambda = log(alpha / sigma), alpha = sqrt(abar), sigma = sqrt(1 - abar), with the model read as an
//! estimate of x_0. Data prediction keeps each step's input bounded where eps prediction amplifies the
//! model's error by 1 / sqrt(abar) at high noise, and x_0 clipping applies to it directly.
//!
//! Each step extrapolates from the x_0 estimates of the last `order` steps (Algorithm 2 for order 2,
//! the "3M" extension of diffusers' `DPMSolverMultistepScheduler` for order 3). Like diffusers with
//! `lower_order_final` and `final_sigmas_type = "zero"`, the first steps warm up at lower order, the
//! last step is first-order onto abar = 1 (it returns the x_0 estimate), and runs of fewer than 15 steps
//! take the second-to-last step at order at most 2.

use burn::tensor::Tensor;

use crate::{Estimator, Sampler, Spacing, StepMemory};

/// Below this many steps the second-to-last step drops to order 2 (diffusers' rule, for stability).
const LOWER_ORDER_SECOND_BELOW: usize = 15;

/// DPM-Solver++(2M) or (3M) over `steps` timesteps picked by a [`Spacing`]; deterministic.
#[derive(Debug, Clone)]
pub struct DpmSolverPlusPlus<'a> {
    estimator: Estimator<'a>,
    timesteps: Vec<usize>,
    order: usize,
}

impl<'a> DpmSolverPlusPlus<'a> {
    /// A multistep solver of `order` (1, 2 or 3) over `steps` timesteps of the estimator's schedule.
    ///
    /// # Panics
    /// When `order` is not 1, 2 or 3, or `steps` is 0 or more than T.
    pub fn new(estimator: Estimator<'a>, order: usize, steps: usize, spacing: Spacing) -> Self {
        assert!((1..=3).contains(&order), "DPM-Solver++ order must be 1, 2 or 3, got {order}");
        let timesteps = spacing.timesteps(estimator.schedule().num_steps(), steps);
        Self { estimator, timesteps, order }
    }

    /// (alpha, sigma, lambda) at the visited position; one past the end is the clean data, where
    /// alpha = 1, sigma = 0 and lambda = +inf.
    fn alpha_sigma_lambda(&self, position: usize) -> (f64, f64, f64) {
        let abar = self.timesteps.get(position).map_or(1.0, |&t| self.estimator.schedule().alphas_cumprod()[t]);
        let (alpha, sigma) = (abar.sqrt(), (1.0 - abar).sqrt());
        (alpha, sigma, alpha.ln() - sigma.ln())
    }

    /// The order of the step at `position` of a whole chain: warm-up while fewer estimates exist, first
    /// order onto the data, at most second order just before it on short runs. A chain that starts part
    /// way (img2img) warms up again: [`DpmSolverPlusPlus::update`] lowers the order to the estimates it has.
    pub fn order_at(&self, position: usize) -> usize {
        let steps = self.timesteps.len();
        let near_end = match steps - position {
            1 => 1,
            2 if steps < LOWER_ORDER_SECOND_BELOW => 2,
            _ => 3,
        };
        self.order.min(position + 1).min(near_end)
    }

    /// One solver step from `x_t` at `timesteps()[position]` to the next visited timestep, given the x_0
    /// estimates of this step (`x0`) and the earlier ones (`earlier`, newest last).
    ///
    /// With h = lambda_next - lambda_0 and r_k = (lambda_k - lambda_{k+1}) / h over the earlier positions,
    /// every order shares x_next = (sigma_next / sigma_0) x_t - alpha_next (e^{-h} - 1) D0, and adds
    /// order 2: - alpha_next (e^{-h} - 1) D1 / 2, with D1 = (m0 - m1) / r0;
    /// order 3: + alpha_next ((e^{-h} - 1) / h + 1) D1 - alpha_next ((e^{-h} - 1 + h) / h^2 - 1/2) D2, with
    ///   D1_0 = (m0 - m1) / r0, D1_1 = (m1 - m2) / r1, D1 = D1_0 + r0 / (r0 + r1) (D1_0 - D1_1),
    ///   D2 = (D1_0 - D1_1) / (r0 + r1).
    ///
    /// Shapes: `x_t`, `x0`, each of `earlier`: `[B, ...]`; returns `[B, ...]`.
    pub fn update<const D: usize>(&self, position: usize, x_t: Tensor<D>, x0: Tensor<D>, earlier: &[Tensor<D>]) -> Tensor<D> {
        let order = self.order_at(position).min(earlier.len() + 1);
        let (_, sigma_0, lambda_0) = self.alpha_sigma_lambda(position);
        let (alpha_next, sigma_next, lambda_next) = self.alpha_sigma_lambda(position + 1);
        let h = lambda_next - lambda_0;
        let phi_1 = (-h).exp_m1(); // e^{-h} - 1, exact to the last bit for small h
        let first_order = x_t.mul_scalar(sigma_next / sigma_0) - x0.clone().mul_scalar(alpha_next * phi_1);
        let lambda_at = |back: usize| self.alpha_sigma_lambda(position - back).2;
        match order {
            1 => first_order,
            2 => {
                let r0 = (lambda_0 - lambda_at(1)) / h;
                let d1 = (x0 - earlier[earlier.len() - 1].clone()).div_scalar(r0);
                first_order - d1.mul_scalar(0.5 * alpha_next * phi_1)
            }
            _ => {
                let (m1, m2) = (earlier[earlier.len() - 1].clone(), earlier[earlier.len() - 2].clone());
                let r0 = (lambda_0 - lambda_at(1)) / h;
                let r1 = (lambda_at(1) - lambda_at(2)) / h;
                let d1_0 = (x0 - m1.clone()).div_scalar(r0);
                let d1_1 = (m1 - m2).div_scalar(r1);
                let d1 = d1_0.clone() + (d1_0.clone() - d1_1.clone()).mul_scalar(r0 / (r0 + r1));
                let d2 = (d1_0 - d1_1).div_scalar(r0 + r1);
                first_order + d1.mul_scalar(alpha_next * (phi_1 / h + 1.0)) - d2.mul_scalar(alpha_next * ((phi_1 + h) / (h * h) - 0.5))
            }
        }
    }
}

impl Sampler for DpmSolverPlusPlus<'_> {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// Estimates x_0 (clipped when asked), steps, and keeps the last `order - 1` estimates in `memory`.
    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, memory: &mut StepMemory<D>) -> Tensor<D> {
        let timesteps = vec![self.timesteps[position]; x_t.dims()[0]];
        let x0 = self.estimator.x0(x_t.clone(), &timesteps, output);
        let next = self.update(position, x_t, x0.clone(), memory);
        memory.push(x0);
        let excess = memory.len().saturating_sub(self.order - 1);
        memory.drain(..excess);
        next
    }

    fn noise_std_at(&self, _position: usize) -> f64 {
        0.0
    }
}
