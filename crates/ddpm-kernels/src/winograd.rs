//! 3x3 convolutions of stride 1 and padding 1 (forward pass and input gradient) by Winograd's minimal
//! filtering F(2x2, 3x3) (Lavin & Gray 2016), over f32 slices in NCHW layout.
//!
//! Each 2x2 block of output pixels comes from the 4x4 tile of input around it:
//! `Y = A^T [sum_c (G g_oc G^T) * (B^T d_c B)] A`, with `*` elementwise, `g_oc` the 3x3 kernel from
//! input channel `c` to output channel `o` and `d_c` the tile of channel `c`. The sum over channels
//! at each of the 16 positions `xi` of the tile is a GEMM: `M_xi = U_xi V_xi`, with `U_xi` the
//! `[c_out, c_in]` transformed weights and `V_xi` the `[c_in, tiles]` transformed input. That is 16
//! multiplications per (output, input) channel pair and 2x2 output block, where the GEMM over
//! patches (`gemm_conv`) makes 36. The transforms are additions only.
//!
//! These convolutions carry most of a U-Net's arithmetic. The input gradient of one is again such a
//! convolution (of `dy`, by the kernels flipped and with their channels swapped), so it runs here too;
//! the weight gradient stays the GEMM of `gemm_conv`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::gemm_conv::{ConvGeometry, gemm_parallelism, matmul};
use crate::scratch::with_scratch;
use crate::shares::images_per_share;

/// Tiles per GEMM, about: the images of a share are transformed and multiplied in groups of about
/// this many tiles (one 28x28 image, two 14x14 ones), so that the transformed input and the GEMM's
/// output (16 values per tile and channel, 0.8 MB at 96 channels) stay in the core's cache between
/// the transforms and the GEMMs. Groups of 1024 tiles ran the U-Net's forward pass about 20% slower,
/// 256 and 64 as fast, within the machine's noise.
const TILES_PER_GEMM: usize = 128;

/// Whether F(2x2, 3x3) computes this convolution: a 3x3 kernel, stride 1, padding 1.
pub fn covers(geometry: &ConvGeometry) -> bool {
    geometry.kernel == 3 && geometry.stride == 1 && geometry.padding == 1
}

/// The 2x2 output blocks of one channel: `ceil(H / 2)` rows of `ceil(W / 2)`; a block past an odd
/// edge is computed whole and cropped. Each row of blocks is stored with one more, whose values are
/// not used: every transform is then one loop over all the blocks of a channel (long enough for SIMD
/// where the rows of a 28x28 image are not), at the price of GEMM columns that compute nothing useful.
#[derive(Debug, Clone, Copy)]
struct Tiles {
    rows: usize,
    cols: usize,
}

impl Tiles {
    fn of(geometry: &ConvGeometry) -> Self {
        Tiles { rows: geometry.height.div_ceil(2), cols: geometry.width.div_ceil(2) }
    }

    /// Stored blocks per row: `cols` and the unused one.
    fn stride(&self) -> usize {
        self.cols + 1
    }

    /// Stored blocks per channel.
    fn per_image(&self) -> usize {
        self.rows * self.stride()
    }
}

/// `y = conv(x, W) + b` for a convolution [`covers`] accepts.
///
/// # Shapes
/// - `x`: `[B, c_in, H, W]`; `weight`: `[c_out, c_in, 3, 3]`; `bias`: `[c_out]`
/// - returns `[B, c_out, H, W]`
pub fn forward(geometry: &ConvGeometry, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    assert!(covers(geometry), "F(2x2, 3x3) computes 3x3 convolutions of stride 1 and padding 1");
    let ConvGeometry { batch, channels_in, height, width, channels_out, .. } = *geometry;
    let (image_in, image_out) = (channels_in * height * width, channels_out * height * width);
    assert!(x.len() == batch * image_in && weight.len() == channels_out * channels_in * 9 && bias.len() == channels_out);
    let u = transform_weights(weight, channels_out, channels_in);
    let tiles = Tiles::of(geometry);
    let (threads, parallelism) = gemm_parallelism(geometry);
    let share = images_per_share(batch, threads);
    let group = (TILES_PER_GEMM / tiles.per_image()).clamp(1, share);

    let mut y = Vec::with_capacity(batch * image_out);
    y.spare_capacity_mut()[..batch * image_out].par_chunks_mut(share * image_out).zip(x.par_chunks(share * image_in)).for_each(|(y, x)| {
        for (y, x) in y.chunks_mut(group * image_out).zip(x.chunks(group * image_in)) {
            let n = x.len() / image_in * tiles.per_image();
            with_scratch(16 * (channels_in + channels_out) * n, |buffer| {
                let (v, m) = buffer.split_at_mut(16 * channels_in * n);
                transform_input(geometry, tiles, x, v);
                for (m, (u, v)) in m
                    .chunks_exact_mut(channels_out * n)
                    .zip(u.chunks_exact(channels_out * channels_in).zip(v.chunks_exact(channels_in * n)))
                {
                    matmul([channels_out, n, channels_in], m, false, u, (channels_in, 1), v, (n, 1), parallelism);
                }
                transform_output(geometry, tiles, m, bias, y);
            });
        }
    });
    // SAFETY: the groups of images cover all of `y`, and `transform_output` wrote every value of each.
    unsafe { y.set_len(batch * image_out) };
    y
}

/// `dx`, the input gradient of `y = conv(x, W) + b` for a convolution [`covers`] accepts: the same
/// kind of convolution of `dy` by `W'[c, o, a, b] = W[o, c, 2 - a, 2 - b]`, without a bias.
///
/// # Shapes
/// - `dy`: `[B, c_out, H, W]`; `weight`: `[c_out, c_in, 3, 3]`
/// - returns `[B, c_in, H, W]`
pub fn input_grad(geometry: &ConvGeometry, dy: &[f32], weight: &[f32]) -> Vec<f32> {
    let ConvGeometry { channels_in, channels_out, .. } = *geometry;
    assert_eq!(weight.len(), channels_out * channels_in * 9);
    let mut flipped = vec![0.0; weight.len()];
    for (pair, kernel) in weight.chunks_exact(9).enumerate() {
        let (o, c) = (pair / channels_in, pair % channels_in);
        for (tap, &value) in kernel.iter().enumerate() {
            flipped[(c * channels_out + o) * 9 + 8 - tap] = value;
        }
    }
    let transposed = ConvGeometry { channels_in: channels_out, channels_out: channels_in, ..*geometry };
    forward(&transposed, dy, &flipped, &vec![0.0; channels_in])
}

/// `U_xi = (G g G^T)_xi` for every kernel `g`, as 16 `[c_out, c_in]` matrices, with
/// `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`.
fn transform_weights(weight: &[f32], channels_out: usize, channels_in: usize) -> Vec<f32> {
    let pairs = channels_out * channels_in;
    let mut u = vec![0.0; 16 * pairs];
    let g_times = |[a, b, c]: [f32; 3]| [a, (a + b + c) * 0.5, (a - b + c) * 0.5, c];
    for (pair, g) in weight.chunks_exact(9).enumerate() {
        let columns: [[f32; 4]; 3] = std::array::from_fn(|kx| g_times([g[kx], g[3 + kx], g[6 + kx]]));
        for i in 0..4 {
            for (j, value) in g_times([columns[0][i], columns[1][i], columns[2][i]]).into_iter().enumerate() {
                u[(4 * i + j) * pairs + pair] = value;
            }
        }
    }
    u
}

/// Values per block of the loops below: one AVX-512 register. The loops run over the tiles of one
/// channel, 20 to 210 of them in the U-Nets, too short for the compiler's own vectorisation (64 values
/// per step), which left them mostly to its 4-wide and scalar remainders.
const LANES: usize = 16;

/// `out = offset + sum of sign * term`, elementwise (each sign is `1.0` or `-1.0`, folded away once
/// inlined).
#[inline(always)]
fn combine<const N: usize>(out: &mut [f32], terms: [(&[f32], f32); N], offset: f32) {
    let len = out.len();
    let terms = terms.map(|(term, sign)| (&term[..len], sign));
    let (blocks, tail) = out.as_chunks_mut::<LANES>();
    for (b, block) in blocks.iter_mut().enumerate() {
        let mut sum = [offset; LANES];
        for (term, sign) in terms {
            let term = &term.as_chunks::<LANES>().0[b];
            for (sum, &value) in sum.iter_mut().zip(term) {
                *sum += sign * value;
            }
        }
        *block = sum;
    }
    let done = len - tail.len();
    for (t, out) in tail.iter_mut().enumerate() {
        *out = terms.iter().fold(offset, |sum, &(term, sign)| sum + sign * term[done + t]);
    }
}

/// `even[k] = values[2k]`, `odd[k] = values[2k + 1]`, for `k < even.len()`.
#[inline(always)]
fn deinterleave(values: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let len = even.len();
    let (values, odd) = (&values[..2 * len], &mut odd[..len]);
    let (pair_blocks, _) = values.as_chunks::<{ 2 * LANES }>();
    let ((even_blocks, _), (odd_blocks, _)) = (even.as_chunks_mut::<LANES>(), odd.as_chunks_mut::<LANES>());
    for ((pairs, even), odd) in pair_blocks.iter().zip(even_blocks).zip(odd_blocks) {
        for l in 0..LANES {
            (even[l], odd[l]) = (pairs[2 * l], pairs[2 * l + 1]);
        }
    }
    for k in len / LANES * LANES..len {
        (even[k], odd[k]) = (values[2 * k], values[2 * k + 1]);
    }
}

/// `values[2k] = even[k]`, `values[2k + 1] = odd[k]`, for `k < even.len()`.
#[inline(always)]
fn interleave(even: &[f32], odd: &[f32], values: &mut [f32]) {
    let len = even.len();
    let (odd, values) = (&odd[..len], &mut values[..2 * len]);
    let (pair_blocks, _) = values.as_chunks_mut::<{ 2 * LANES }>();
    for ((pairs, even), odd) in pair_blocks.iter_mut().zip(even.as_chunks::<LANES>().0).zip(odd.as_chunks::<LANES>().0) {
        for l in 0..LANES {
            (pairs[2 * l], pairs[2 * l + 1]) = (even[l], odd[l]);
        }
    }
    for k in len / LANES * LANES..len {
        (values[2 * k], values[2 * k + 1]) = (even[k], odd[k]);
    }
}

with_simd_versions! {
    /// `V_xi = (B^T d B)_xi` for every tile `d` of every channel of the images `x` (`[n, c_in, H, W]`),
    /// into `v` (`[16, c_in, n stored tiles]`), with
    /// `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
    ///
    /// Tile `(ty, tx)` covers padded rows `2 ty ..= 2 ty + 3` and padded columns `2 tx ..= 2 tx + 3`
    /// (padded row `r` is input row `r - 1`, zero outside the image). Each channel is padded with its
    /// even and odd rows apart, then split into even and odd columns: row `i` and column `j` of every
    /// tile are then a contiguous run, and each product with `B^T` or `B` one loop over all the tiles.
    fn transform_input(geometry: &ConvGeometry, tiles: Tiles, x: &[f32], v: &mut [f32]) = transform_input_body;
}

#[inline(always)]
fn transform_input_body(geometry: &ConvGeometry, tiles: Tiles, x: &[f32], v: &mut [f32]) {
    let (width, channels) = (geometry.width, geometry.channels_in);
    let (stride, per_image) = (tiles.stride(), tiles.per_image());
    let images_tiles = x.len() / (geometry.height * width) / channels * per_image;
    // Padded rows 2h + p for h in 0..halves, of 2 stride columns: `[2 (p), halves, 2 stride]`.
    let halves = tiles.rows + 1;
    let half_plane = halves * 2 * stride;
    let mut padded = vec![0.0; 2 * half_plane];
    // `quarters[p][q]`: the padded rows of parity p, their columns of parity q: `[2, 2, halves, stride]`.
    let mut quarters = vec![0.0; 2 * half_plane];
    // `rows_bt[q][i]`: row i of `B^T d` over every tile, its columns of parity q, and one more value
    // read by the last (unused) tile: `[2, 4, per_image + 1]`.
    let mut rows_bt = vec![0.0; 8 * (per_image + 1)];
    for (index, channel) in x.chunks_exact(geometry.height * width).enumerate() {
        let (image, c) = (index / channels, index % channels);
        for (y, row) in channel.chunks_exact(width).enumerate() {
            let padded_row = y + 1;
            let (p, h) = (padded_row % 2, padded_row / 2);
            padded[p * half_plane + h * 2 * stride + 1..][..width].copy_from_slice(row);
        }
        for (padded, quarters) in padded.chunks_exact(half_plane).zip(quarters.chunks_exact_mut(half_plane)) {
            let (even, odd) = quarters.split_at_mut(half_plane / 2);
            deinterleave(padded, even, odd);
        }
        for (q, rows_bt) in rows_bt.chunks_exact_mut(4 * (per_image + 1)).enumerate() {
            // Row i of tile ty: padded row 2 ty + i, of parity i % 2, at half-row ty + i / 2.
            let row = |i: usize| &quarters[(2 * (i % 2) + q) * half_plane / 2 + i / 2 * stride..][..per_image];
            let mut out = rows_bt.chunks_exact_mut(per_image + 1);
            let mut next = || &mut out.next().expect("four rows")[..per_image];
            combine(next(), [(row(0), 1.0), (row(2), -1.0)], 0.0);
            combine(next(), [(row(1), 1.0), (row(2), 1.0)], 0.0);
            combine(next(), [(row(2), 1.0), (row(1), -1.0)], 0.0);
            combine(next(), [(row(1), 1.0), (row(3), -1.0)], 0.0);
        }
        for i in 0..4 {
            // Columns 2 tx + j of row i: parity j % 2, at tile column tx + j / 2.
            let column = |j: usize| &rows_bt[((j % 2) * 4 + i) * (per_image + 1) + j / 2..][..per_image];
            let at = |j: usize| ((4 * i + j) * channels + c) * images_tiles + image * per_image;
            combine(&mut v[at(0)..][..per_image], [(column(0), 1.0), (column(2), -1.0)], 0.0);
            combine(&mut v[at(1)..][..per_image], [(column(1), 1.0), (column(2), 1.0)], 0.0);
            combine(&mut v[at(2)..][..per_image], [(column(2), 1.0), (column(1), -1.0)], 0.0);
            combine(&mut v[at(3)..][..per_image], [(column(1), 1.0), (column(3), -1.0)], 0.0);
        }
    }
}

with_simd_versions! {
    /// `y = A^T M A + b` for every tile of `m` (`[16, c_out, n stored tiles]`), cropped to the image,
    /// into `y` (`[n, c_out, H, W]`, every value written), with `A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
    /// Both products are loops over all the tiles of a channel; the output rows are then interleaved
    /// from their even and odd columns and copied out.
    fn transform_output(geometry: &ConvGeometry, tiles: Tiles, m: &[f32], bias: &[f32], y: &mut [MaybeUninit<f32>]) = transform_output_body;
}

#[inline(always)]
fn transform_output_body(geometry: &ConvGeometry, tiles: Tiles, m: &[f32], bias: &[f32], y: &mut [MaybeUninit<f32>]) {
    let (height, width, channels) = (geometry.height, geometry.width, geometry.channels_out);
    let (stride, per_image) = (tiles.stride(), tiles.per_image());
    let images_tiles = y.len() / (height * width) / channels * per_image;
    // `a_m[j][i]`: (A^T M)[i, j] over every tile: `[4, 2, per_image]`.
    let mut a_m = vec![0.0; 8 * per_image];
    // `out[i][p]`: output row i of every tile, its columns of parity p: `[2, 2, per_image]`.
    let mut out = vec![0.0; 4 * per_image];
    // `rows[i]`: the output rows 2 ty + i, interleaved: `[2, tiles.rows, 2 stride]`.
    let mut rows = vec![0.0; 4 * per_image];
    for (index, channel) in y.chunks_exact_mut(height * width).enumerate() {
        let (image, o) = (index / channels, index % channels);
        let m_at = |xi: usize| &m[(xi * channels + o) * images_tiles + image * per_image..][..per_image];
        for (j, a_m) in a_m.chunks_exact_mut(2 * per_image).enumerate() {
            let (top, bottom) = a_m.split_at_mut(per_image);
            combine(top, [(m_at(j), 1.0), (m_at(4 + j), 1.0), (m_at(8 + j), 1.0)], 0.0);
            combine(bottom, [(m_at(4 + j), 1.0), (m_at(8 + j), -1.0), (m_at(12 + j), -1.0)], 0.0);
        }
        let a_m_at = |i: usize, j: usize| &a_m[(2 * j + i) * per_image..][..per_image];
        for (i, (out, rows)) in out.chunks_exact_mut(2 * per_image).zip(rows.chunks_exact_mut(2 * per_image)).enumerate() {
            let (even, odd) = out.split_at_mut(per_image);
            combine(even, [(a_m_at(i, 0), 1.0), (a_m_at(i, 1), 1.0), (a_m_at(i, 2), 1.0)], bias[o]);
            combine(odd, [(a_m_at(i, 1), 1.0), (a_m_at(i, 2), -1.0), (a_m_at(i, 3), -1.0)], bias[o]);
            interleave(even, odd, rows);
        }
        for (y_row, row) in channel.chunks_exact_mut(width).enumerate() {
            let (ty, i) = (y_row / 2, y_row % 2);
            row.write_copy_of_slice(&rows[(i * tiles.rows + ty) * 2 * stride..][..width]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm_conv;

    /// F(2x2, 3x3) equals the GEMM over patches, forward and input gradient, on odd and even sizes, one
    /// pixel, one image and the image groups of a wide batch, to f32 rounding.
    #[test]
    fn equals_the_gemm_over_patches() {
        let wave = |n: usize, phase: f32| (0..n).map(|i| ((i as f32) * 0.37 + phase).sin()).collect::<Vec<_>>();
        for (batch, channels_in, height, width, channels_out) in
            [(2, 3, 5, 7, 4), (1, 1, 1, 1, 1), (3, 2, 4, 4, 3), (2, 5, 1, 6, 2), (12, 4, 28, 28, 8), (40, 2, 7, 7, 3)]
        {
            let geometry = ConvGeometry { batch, channels_in, height, width, channels_out, kernel: 3, stride: 1, padding: 1 };
            let x = wave(batch * channels_in * height * width, 0.1);
            let weight = wave(channels_out * channels_in * 9, 1.3);
            let bias = wave(channels_out, 2.9);
            let expected = gemm_conv::forward(&geometry, &x, &weight, &bias);
            let actual = forward(&geometry, &x, &weight, &bias);
            assert_close(&actual, &expected, &format!("{geometry:?} forward"));
            let dy = wave(expected.len(), 0.7);
            let (actual, expected) = (input_grad(&geometry, &dy, &weight), gemm_conv::input_grad(&geometry, &dy, &weight));
            assert_close(&actual, &expected, &format!("{geometry:?} input gradient"));
        }
    }

    fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}");
        for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{what} at {index}: {a} vs {e}");
        }
    }
}
