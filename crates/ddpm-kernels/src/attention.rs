//! Multi-head softmax attention, `softmax(Q K^T / sqrt(d)) V`, over blocks of query rows, and its
//! backward pass, as flash attention computes them (Dao et al. 2022): the scores of one block of
//! [`QUERY_BLOCK`] queries against every key are formed, turned into probabilities and multiplied
//! into the output while they are in cache, so the `[N, N]` matrix of a head is never held whole; the
//! forward pass keeps each row's log-sum-exp, from which the backward pass recomputes a block's
//! probabilities instead of storing them.
//!
//! A block takes every key at once rather than flash attention's key blocks with an online softmax: a
//! row of scores is at most 64 KiB (128 x 128 pixels, the largest map attention is allowed over), so
//! the exact softmax of a whole row fits in cache and needs no rescaling.
//!
//! Layout: `q`, `k`, `v` and the output are `[B, N, C]` with the heads side by side in `C` (head `h`
//! is columns `h d .. (h + 1) d`), as the projections produce them: heads are read through strides,
//! never split into a copy. The log-sum-exp is `[B, N, heads]`.

use rayon::prelude::*;

use crate::gemm_conv::{matmul, product};
use crate::group_norm::exp;
use crate::shares::images_per_share;

/// Queries per block: `[64, N]` scores, 4 MiB at the largest map (16,384 keys), 64 KiB at 16 x 16.
const QUERY_BLOCK: usize = 64;

/// The sizes of one attention.
#[derive(Debug, Clone, Copy)]
pub struct AttentionGeometry {
    pub batch: usize,
    /// N: the pixels of the feature map.
    pub tokens: usize,
    /// C: the heads' widths together.
    pub channels: usize,
    pub heads: usize,
}

impl AttentionGeometry {
    fn head_dim(&self) -> usize {
        self.channels / self.heads
    }

    fn image_len(&self) -> usize {
        self.tokens * self.channels
    }

    fn scale(&self) -> f32 {
        (self.head_dim() as f32).powf(-0.5)
    }

    /// Images run as parallel tasks when there are enough of them to keep every thread busy, each
    /// running its GEMMs on one thread; otherwise one image at a time with the GEMMs on every thread.
    fn parallelism(&self) -> (usize, gemm::Parallelism) {
        let threads = rayon::current_num_threads();
        let share = images_per_share(self.batch, threads);
        if share < self.batch || threads == 1 { (share, gemm::Parallelism::None) } else { (self.batch, gemm::Parallelism::Rayon(threads)) }
    }
}

/// One head of one image: where its columns start, and the strides that read it as a matrix.
#[derive(Clone, Copy)]
struct Head {
    /// The first column of the head, `h d`.
    column: usize,
    dim: usize,
    /// The row stride of every `[N, C]` operand: C.
    row: usize,
}

impl Head {
    /// `[rows, d]` of the head starting at `row`, as `(slice, strides)` for [`matmul`].
    fn rows<'a>(&self, image: &'a [f32], row: usize) -> (&'a [f32], (usize, usize)) {
        (&image[row * self.row + self.column..], (self.row, 1))
    }

    /// The head transposed, `[d, N]`.
    fn transposed<'a>(&self, image: &'a [f32]) -> (&'a [f32], (usize, usize)) {
        (&image[self.column..], (1, self.row))
    }
}

/// `(O, logsumexp)`: `O = softmax(Q K^T / sqrt(d)) V` per head, and each row's log-sum-exp of its scaled
/// scores.
///
/// # Shapes
/// `q`, `k`, `v`: `[B, N, C]` -> `([B, N, C], [B, N, heads])`
pub fn forward(geometry: &AttentionGeometry, q: &[f32], k: &[f32], v: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let &AttentionGeometry { batch, tokens, heads, .. } = geometry;
    assert!([q, k, v].iter().all(|t| t.len() == batch * geometry.image_len()), "attention: q, k and v must be [B, N, C]");
    let (mut out, mut logsumexp) = (vec![0.0; batch * geometry.image_len()], vec![0.0; batch * tokens * heads]);
    let (share, parallelism) = geometry.parallelism();
    let image_len = geometry.image_len();
    out.par_chunks_mut(share * image_len).zip(logsumexp.par_chunks_mut(share * tokens * heads)).enumerate().for_each(
        |(s, (out, logsumexp))| {
            for (i, (out, logsumexp)) in out.chunks_mut(image_len).zip(logsumexp.chunks_mut(tokens * heads)).enumerate() {
                let image = (s * share + i) * image_len..(s * share + i + 1) * image_len;
                let inputs = [&q[image.clone()], &k[image.clone()], &v[image]];
                forward_image(geometry, inputs, out, logsumexp, parallelism);
            }
        },
    );
    (out, logsumexp)
}

fn forward_image(
    geometry: &AttentionGeometry,
    [q, k, v]: [&[f32]; 3],
    out: &mut [f32],
    logsumexp: &mut [f32],
    parallelism: gemm::Parallelism,
) {
    let &AttentionGeometry { tokens, channels, heads, .. } = geometry;
    let dim = geometry.head_dim();
    let mut scores = vec![0.0; QUERY_BLOCK * tokens];
    for h in 0..heads {
        let head = Head { column: h * dim, dim, row: channels };
        for first in (0..tokens).step_by(QUERY_BLOCK) {
            let rows = QUERY_BLOCK.min(tokens - first);
            let scores = &mut scores[..rows * tokens];
            let (q_rows, q_strides) = head.rows(q, first);
            let (k_t, k_strides) = head.transposed(k);
            matmul([rows, tokens, dim], scores, false, q_rows, q_strides, k_t, k_strides, parallelism);
            let mut sums = [0.0; QUERY_BLOCK];
            for (r, row) in scores.chunks_exact_mut(tokens).enumerate() {
                (logsumexp[(first + r) * heads + h], sums[r]) = unnormalised_softmax_in_place(row, geometry.scale());
            }
            let (v_all, v_strides) = head.rows(v, 0);
            let mut block = product([rows, dim, tokens], scores, (tokens, 1), v_all, v_strides, parallelism);
            for (values, sum) in block.chunks_exact_mut(dim).zip(sums) {
                values.iter_mut().for_each(|o| *o /= sum);
            }
            scatter_head(&head, &block, &mut out[first * channels..]);
        }
    }
}

/// `(dQ, dK, dV)` from the gradient `d_out` at the output, recomputing each block's probabilities from
/// the log-sum-exp: with `P` the probabilities and `dP = dO V^T`, `dS = P (dP - rowsum(dO O))`,
/// `dQ = dS K / sqrt(d)`, `dK = dS^T Q / sqrt(d)`, `dV = P^T dO`.
///
/// # Shapes
/// `d_out`, `q`, `k`, `v`, `out`: `[B, N, C]`; `logsumexp`: `[B, N, heads]` -> three `[B, N, C]`
pub fn backward(
    geometry: &AttentionGeometry,
    d_out: &[f32],
    [q, k, v]: [&[f32]; 3],
    out: &[f32],
    logsumexp: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let &AttentionGeometry { batch, tokens, heads, .. } = geometry;
    let image_len = geometry.image_len();
    let (mut dq, mut dk, mut dv) = (vec![0.0; batch * image_len], vec![0.0; batch * image_len], vec![0.0; batch * image_len]);
    let (share, parallelism) = geometry.parallelism();
    let chunk = share * image_len;
    dq.par_chunks_mut(chunk).zip(dk.par_chunks_mut(chunk)).zip(dv.par_chunks_mut(chunk)).enumerate().for_each(|(s, ((dq, dk), dv))| {
        for (i, ((dq, dk), dv)) in dq.chunks_mut(image_len).zip(dk.chunks_mut(image_len)).zip(dv.chunks_mut(image_len)).enumerate() {
            let b = s * share + i;
            let image = b * image_len..(b + 1) * image_len;
            let inputs = [&q[image.clone()], &k[image.clone()], &v[image.clone()]];
            let saved = (&out[image.clone()], &logsumexp[b * tokens * heads..(b + 1) * tokens * heads]);
            backward_image(geometry, &d_out[image], inputs, saved, [dq, dk, dv], parallelism);
        }
    });
    (dq, dk, dv)
}

fn backward_image(
    geometry: &AttentionGeometry,
    d_out: &[f32],
    [q, k, v]: [&[f32]; 3],
    (out, logsumexp): (&[f32], &[f32]),
    [dq, dk, dv]: [&mut [f32]; 3],
    parallelism: gemm::Parallelism,
) {
    let &AttentionGeometry { tokens, channels, heads, .. } = geometry;
    let (dim, scale) = (geometry.head_dim(), geometry.scale());
    let (mut probabilities, mut d_scores) = (vec![0.0; QUERY_BLOCK * tokens], vec![0.0; QUERY_BLOCK * tokens]);
    for h in 0..heads {
        let head = Head { column: h * dim, dim, row: channels };
        let (mut dk_head, mut dv_head) = (vec![0.0; tokens * dim], vec![0.0; tokens * dim]);
        for first in (0..tokens).step_by(QUERY_BLOCK) {
            let rows = QUERY_BLOCK.min(tokens - first);
            let (p, ds) = (&mut probabilities[..rows * tokens], &mut d_scores[..rows * tokens]);
            let (q_rows, q_strides) = head.rows(q, first);
            let (do_rows, do_strides) = head.rows(d_out, first);
            let (k_t, k_t_strides) = head.transposed(k);
            matmul([rows, tokens, dim], p, false, q_rows, q_strides, k_t, k_t_strides, parallelism);
            for (r, row) in p.chunks_exact_mut(tokens).enumerate() {
                probabilities_in_place(row, scale, logsumexp[(first + r) * heads + h]);
            }
            // dV += P^T dO
            matmul([tokens, dim, rows], &mut dv_head, true, p, (1, tokens), do_rows, do_strides, parallelism);
            // dP = dO V^T, then dS = P (dP - rowsum(dO O)) / sqrt(d) in its place.
            let (v_t, v_t_strides) = head.transposed(v);
            matmul([rows, tokens, dim], ds, false, do_rows, do_strides, v_t, v_t_strides, parallelism);
            for (r, (ds_row, p_row)) in ds.chunks_exact_mut(tokens).zip(p.chunks_exact(tokens)).enumerate() {
                let at = (first + r) * channels + head.column;
                let delta: f32 = d_out[at..at + dim].iter().zip(&out[at..at + dim]).map(|(a, b)| a * b).sum();
                score_grad_in_place(ds_row, p_row, delta, scale);
            }
            // dQ = dS K; dK += dS^T Q
            let (k_all, k_strides) = head.rows(k, 0);
            let dq_block = product([rows, dim, tokens], ds, (tokens, 1), k_all, k_strides, parallelism);
            scatter_head(&head, &dq_block, &mut dq[first * channels..]);
            matmul([tokens, dim, rows], &mut dk_head, true, ds, (1, tokens), q_rows, q_strides, parallelism);
        }
        scatter_head(&head, &dk_head, dk);
        scatter_head(&head, &dv_head, dv);
    }
}

/// Writes a head's `[rows, d]` block into its columns of `[rows, C]` rows starting at `dst`'s first.
fn scatter_head(head: &Head, block: &[f32], dst: &mut [f32]) {
    for (r, values) in block.chunks_exact(head.dim).enumerate() {
        dst[r * head.row + head.column..][..head.dim].copy_from_slice(values);
    }
}

with_simd_versions! {
    /// The scores of one query, `row`, replaced by `exp(scale row - max)`, the softmax before its
    /// normalisation (applied to the output row instead, `d` values rather than `N`); returns the
    /// log-sum-exp of `scale row` and the sum to divide by.
    fn unnormalised_softmax_in_place(row: &mut [f32], scale: f32) -> (f32, f32) = unnormalised_softmax_in_place_body;
}

/// Lanes of the reductions below: independent partial results, so that the loops vectorise (a single
/// f32 sum or maximum must be taken in order).
const LANES: usize = 16;

#[inline(always)]
fn unnormalised_softmax_in_place_body(row: &mut [f32], scale: f32) -> (f32, f32) {
    let mut maxima = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        maxima.iter_mut().zip(chunk).for_each(|(m, &s)| *m = m.max(s));
    }
    let max = chunks.remainder().iter().chain(&maxima).fold(f32::NEG_INFINITY, |m, &s| m.max(s)) * scale;
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (sum, s) in sums.iter_mut().zip(chunk) {
            *s = exp(*s * scale - max);
            *sum += *s;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for s in chunks.into_remainder() {
        *s = exp(*s * scale - max);
        sum += *s;
    }
    (max + sum.ln(), sum)
}

with_simd_versions! {
    /// The probabilities of one query from its scores `row` and their log-sum-exp, in place.
    fn probabilities_in_place(row: &mut [f32], scale: f32, logsumexp: f32) = probabilities_in_place_body;
}

#[inline(always)]
fn probabilities_in_place_body(row: &mut [f32], scale: f32, logsumexp: f32) {
    row.iter_mut().for_each(|s| *s = exp(*s * scale - logsumexp));
}

with_simd_versions! {
    /// `dP` of one query, `ds`, replaced by the gradient at its scores: `p (dP - delta) scale`.
    fn score_grad_in_place(ds: &mut [f32], p: &[f32], delta: f32, scale: f32) = score_grad_in_place_body;
}

#[inline(always)]
fn score_grad_in_place_body(ds: &mut [f32], p: &[f32], delta: f32, scale: f32) {
    ds.iter_mut().zip(p).for_each(|(d, &p)| *d = p * (*d - delta) * scale);
}
