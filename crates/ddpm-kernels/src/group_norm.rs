//! GroupNorm fused with a per-channel shift and SiLU over f32 slices in NCHW layout, with no Burn
//! types: `y = silu(z)`, `z = gamma_c (x - mean_g) rstd_g + beta_c + shift_bc`, where `mean_g` and
//! `rstd_g = 1 / sqrt(var_g + eps)` are taken over the `C / G` channels and all pixels of each group
//! of each image. One pass reads `x` and writes `y`; the backward pass recomputes `z` from `x` and the
//! saved statistics instead of keeping any full-size temporary, in two passes.
//!
//! The batch is split into one contiguous share per thread (see `shares`).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::shares::{images_per_share, sum_in_order};

/// The sizes of one fused GroupNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormGeometry {
    pub batch: usize,
    pub channels: usize,
    /// Pixels per channel, `H W`.
    pub pixels: usize,
    pub groups: usize,
}

impl NormGeometry {
    fn image_len(&self) -> usize {
        self.channels * self.pixels
    }

    fn group_channels(&self) -> usize {
        self.channels / self.groups
    }

    fn share(&self) -> usize {
        images_per_share(self.batch, rayon::current_num_threads())
    }
}

/// `e^x` to about 2 ulp for `x` in [-87, 88] (clamped outside), branch-free so that loops over it
/// vectorise: `e^x = 2^n e^r` with `n = round(x / ln 2)`, `|r| <= ln 2 / 2`, and a degree-7 Taylor
/// polynomial for `e^r` (remainder below 6e-9). `n` is read from the bits of the rounded float rather
/// than converted (`as i32` saturates, which does not vectorise).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to the nearest integer, n + ROUND's bits
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n in [-126, 127], so 2^n is the normal float with exponent field n + 127.
    let two_to_n = f32::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    p * two_to_n
}

/// `1 / (1 + e^-z)`.
#[inline(always)]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// `sum f(v)` over `values`: eight f32 lanes per block of 1024 values (so that it vectorises), the
/// blocks summed in f64 (so that large groups keep their precision).
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut total = 0.0f64;
    for block in values.chunks(1024) {
        let mut lanes = [0.0f32; 8];
        let mut rows = block.chunks_exact(8);
        for row in &mut rows {
            for (lane, &v) in lanes.iter_mut().zip(row) {
                *lane += f(v);
            }
        }
        total += (lanes.iter().sum::<f32>() + rows.remainder().iter().map(|&v| f(v)).sum::<f32>()) as f64;
    }
    total
}

with_simd_versions! {
    /// `y = silu(x scale + offset)` over one channel, written into `y` (which need not be initialised).
    fn silu_affine(y: &mut [MaybeUninit<f32>], x: &[f32], scale: f32, offset: f32) = silu_affine_body;
}

#[inline(always)]
fn silu_affine_body(y: &mut [MaybeUninit<f32>], x: &[f32], scale: f32, offset: f32) {
    assert_eq!(y.len(), x.len());
    for (y, &x) in y.iter_mut().zip(x) {
        let z = x * scale + offset;
        y.write(z * sigmoid(z));
    }
}

with_simd_versions! {
    /// Over one channel, `dz = dy silu'(z)` into `dz`, with `z = gamma xhat + offset` and
    /// `xhat = (x - mean) rstd` (`[mean, rstd, gamma, offset]`); returns `(sum dz, sum dz xhat)`.
    fn silu_affine_grad(dz: &mut [f32], dy: &[f32], x: &[f32], params: [f32; 4]) -> (f32, f32) = silu_affine_grad_body;
}

#[inline(always)]
fn silu_affine_grad_body(dz: &mut [f32], dy: &[f32], x: &[f32], [mean, rstd, gamma, offset]: [f32; 4]) -> (f32, f32) {
    /// Partial sums kept per lane, so that the sums vectorise (f32 addition is not reassociated).
    const LANES: usize = 16;
    let grad = |dy: f32, x: f32| {
        let xhat = (x - mean) * rstd;
        let z = xhat * gamma + offset;
        let s = sigmoid(z);
        let dz = dy * s * (1.0 + z * (1.0 - s));
        (dz, dz * xhat)
    };
    let (mut sum_dz, mut sum_dz_xhat) = ([0.0f32; LANES], [0.0f32; LANES]);
    let mut rows = dz.chunks_exact_mut(LANES).zip(dy.chunks_exact(LANES)).zip(x.chunks_exact(LANES));
    for ((dz, dy), x) in &mut rows {
        for lane in 0..LANES {
            let (d, d_xhat) = grad(dy[lane], x[lane]);
            dz[lane] = d;
            sum_dz[lane] += d;
            sum_dz_xhat[lane] += d_xhat;
        }
    }
    let done = dz.len() / LANES * LANES;
    let (mut tail_dz, mut tail_dz_xhat) = (0.0, 0.0);
    for ((dz, &dy), &x) in dz[done..].iter_mut().zip(&dy[done..]).zip(&x[done..]) {
        let (d, d_xhat) = grad(dy, x);
        *dz = d;
        tail_dz += d;
        tail_dz_xhat += d_xhat;
    }
    (sum_dz.iter().sum::<f32>() + tail_dz, sum_dz_xhat.iter().sum::<f32>() + tail_dz_xhat)
}

/// `(mean, rstd)` of one group's values (two passes: the mean, then the squared deviations).
fn statistics(values: &[f32], eps: f64) -> (f32, f32) {
    let n = values.len() as f64;
    let mean = (lane_sum(values, |v| v) / n) as f32;
    let variance = lane_sum(values, |v| (v - mean) * (v - mean)) / n;
    (mean, (1.0 / (variance + eps).sqrt()) as f32)
}

/// The forward pass: `y` (`[B, C, H W]`) and the statistics (`[B, G, 2]`: mean, rstd).
///
/// # Shapes
/// `x`: `[B, C, H W]`; `gamma`, `beta`: `[C]`; `shift`: `[B, C]`
pub fn forward(geometry: &NormGeometry, x: &[f32], gamma: &[f32], beta: &[f32], shift: &[f32], eps: f64) -> (Vec<f32>, Vec<f32>) {
    assert!(x.len() == geometry.batch * geometry.image_len() && shift.len() == geometry.batch * geometry.channels);
    // Written by the threads that compute it, never zeroed first.
    let mut y = Vec::with_capacity(x.len());
    let mut stats = vec![0.0; geometry.batch * geometry.groups * 2];
    let (share, image, pixels) = (geometry.share(), geometry.image_len(), geometry.pixels);
    let group_len = geometry.group_channels() * pixels;
    y.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(share * image)
        .zip(stats.par_chunks_mut(share * geometry.groups * 2))
        .zip(x.par_chunks(share * image).zip(shift.par_chunks(share * geometry.channels)))
        .for_each(|((y, stats), (x, shift))| {
            let groups = y.chunks_mut(group_len).zip(stats.chunks_mut(2)).zip(x.chunks(group_len));
            for (index, ((y, stats), x)) in groups.enumerate() {
                let (mean, rstd) = statistics(x, eps);
                stats.copy_from_slice(&[mean, rstd]);
                let first_channel = index % geometry.groups * geometry.group_channels();
                let shift = &shift[index / geometry.groups * geometry.channels..];
                for (offset, (y, x)) in y.chunks_mut(pixels).zip(x.chunks(pixels)).enumerate() {
                    let c = first_channel + offset;
                    let scale = gamma[c] * rstd;
                    silu_affine(y, x, scale, beta[c] + shift[c] - mean * scale);
                }
            }
        });
    // SAFETY: the groups' channels cover all of `y` (as they cover `x`, of the same length), and
    // `silu_affine` wrote every value of each.
    unsafe { y.set_len(x.len()) };
    (y, stats)
}

/// The gradients `(dx [B, C, H W], dgamma [C], dbeta [C], dshift [B, C])` from `dy`, the input and
/// the forward pass's statistics.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    geometry: &NormGeometry,
    dy: &[f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    shift: &[f32],
    stats: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let channels = geometry.channels;
    let (share, image, pixels) = (geometry.share(), geometry.image_len(), geometry.pixels);
    let group_len = geometry.group_channels() * pixels;
    let mut dx = vec![0.0; x.len()];
    let mut d_shift = vec![0.0; geometry.batch * channels];
    let shares: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(share * image)
        .zip(d_shift.par_chunks_mut(share * channels))
        .zip(dy.par_chunks(share * image).zip(x.par_chunks(share * image)))
        .zip(shift.par_chunks(share * channels).zip(stats.par_chunks(share * geometry.groups * 2)))
        .map(|(((dx, d_shift), (dy, x)), (shift, stats))| {
            let (mut d_gamma, mut d_beta) = (vec![0.0; channels], vec![0.0; channels]);
            let groups = dx.chunks_mut(group_len).zip(dy.chunks(group_len)).zip(x.chunks(group_len)).zip(stats.chunks(2));
            for (index, (((dx, dy), x), stats)) in groups.enumerate() {
                let (mean, rstd) = (stats[0], stats[1]);
                let first_channel = index % geometry.groups * geometry.group_channels();
                let row = index / geometry.groups * channels;
                // Pass 1: dz = dy silu'(z) into dx, with the sums of dz and dz xhat per channel.
                let (mut mean_dxhat, mut mean_dxhat_xhat) = (0.0f64, 0.0f64);
                for (offset, ((dz, dy), x)) in dx.chunks_mut(pixels).zip(dy.chunks(pixels)).zip(x.chunks(pixels)).enumerate() {
                    let c = first_channel + offset;
                    let (scale, offset) = (gamma[c], beta[c] + shift[row + c]);
                    let (sum_dz, sum_dz_xhat) = silu_affine_grad(dz, dy, x, [mean, rstd, scale, offset]);
                    d_beta[c] += sum_dz;
                    d_shift[row + c] = sum_dz;
                    d_gamma[c] += sum_dz_xhat;
                    mean_dxhat += (scale * sum_dz) as f64;
                    mean_dxhat_xhat += (scale * sum_dz_xhat) as f64;
                }
                let (m1, m2) = ((mean_dxhat / group_len as f64) as f32, (mean_dxhat_xhat / group_len as f64) as f32);
                // Pass 2: dx = rstd (gamma dz - mean(dxhat) - xhat mean(dxhat xhat)).
                for (offset, (dx, x)) in dx.chunks_mut(pixels).zip(x.chunks(pixels)).enumerate() {
                    let scale = gamma[first_channel + offset];
                    for (dx, &x) in dx.iter_mut().zip(x) {
                        let xhat = (x - mean) * rstd;
                        *dx = rstd * (scale * *dx - m1 - xhat * m2);
                    }
                }
            }
            (d_gamma, d_beta)
        })
        .collect();
    let (d_gamma, d_beta) = sum_in_order(shares);
    (dx, d_gamma, d_beta, d_shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_over_its_range() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = (-87.0 + 175.0 * i as f64 / 200_000.0) as f32;
            let exact = (x as f64).exp();
            worst = worst.max(((exp(x) as f64 - exact) / exact).abs());
        }
        assert!(worst < 3.0 * f32::EPSILON as f64, "worst relative error {worst:e}");
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(sigmoid(-200.0) >= 0.0 && sigmoid(200.0) == 1.0);
    }
}
