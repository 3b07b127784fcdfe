//! 2-D convolution as GEMM over f32 slices in NCHW layout, with no Burn types: the forward pass, the
//! input gradient and the weight and bias gradients.
//!
//! For one image, `col(x)` is the `[K, P]` matrix of input patches (`K = c_in k k` rows, one column per
//! output pixel, `P = h_out w_out`); then
//! - forward: `y = W col(x) + b`, with `W` the `[c_out, K]` weight matrix;
//! - input gradient: `dx = col2im(W^T dy)`;
//! - weight gradient: `dW = sum over images of dy col(x)^T`, and `db = sum of dy over images and pixels`.
//!
//! The batch is split into one contiguous share per thread (see `shares`); each share has its own
//! patch buffer and weight-gradient accumulator. A 1x1 convolution of stride 1 and no padding uses the
//! image itself as `col(x)`.

use rayon::prelude::*;

use crate::scratch::with_scratch;
use crate::shares::{images_per_share, sum_in_order};

/// The sizes of one convolution: a square kernel, the same stride and padding on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub channels_in: usize,
    pub height: usize,
    pub width: usize,
    pub channels_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    pub fn height_out(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn width_out(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// `P`: output pixels per channel.
    pub fn pixels_out(&self) -> usize {
        self.height_out() * self.width_out()
    }

    /// `K`: rows of `col(x)`, the length of one output channel's weight vector.
    pub fn patch_len(&self) -> usize {
        self.channels_in * self.kernel * self.kernel
    }

    fn image_len(&self) -> usize {
        self.channels_in * self.height * self.width
    }

    fn output_len(&self) -> usize {
        self.channels_out * self.pixels_out()
    }

    /// True for a stride-1 convolution that keeps the image size (`2 p = k - 1`): then tap `(ky, kx)`
    /// of output pixel `q` (flat index `oy W + ox`) reads input pixel `q + shift(ky, kx)`, so a row of
    /// `col(x)` is the input plane shifted by a constant (see [`im2col_keeping_size`]).
    fn keeps_size(&self) -> bool {
        self.stride == 1 && 2 * self.padding + 1 == self.kernel
    }

    /// The flat offset from an output pixel to the input pixel tap `(ky, kx)` reads when the
    /// convolution [keeps the size](Self::keeps_size): `(ky - p) W + (kx - p)`.
    fn tap_shift(&self, ky: usize, kx: usize) -> isize {
        (ky as isize - self.padding as isize) * self.width as isize + (kx as isize - self.padding as isize)
    }

    /// True when `col(x)` is the image itself.
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// The length of the patch buffer `col(x)` needs (none when it is the image itself).
    fn patch_buffer_len(&self) -> usize {
        if self.is_pointwise() { 0 } else { self.patch_len() * self.pixels_out() }
    }

    /// `col(x)` of one image: the image itself, or its patches written into `buffer`.
    fn patches<'a>(&self, x: &'a [f32], buffer: &'a mut [f32]) -> &'a [f32] {
        if self.is_pointwise() {
            x
        } else if self.keeps_size() {
            im2col_keeping_size(self, x, buffer);
            buffer
        } else {
            im2col(self, x, buffer);
            buffer
        }
    }

    /// Adds the patch columns `col` of one image back onto it (`dx`): the transpose of
    /// [`patches`](Self::patches) for a convolution that has a patch buffer. `col` may be overwritten.
    fn add_patches(&self, col: &mut [f32], dx: &mut [f32]) {
        if self.keeps_size() {
            col2im_keeping_size(self, col, dx);
        } else {
            col2im(self, col, dx);
        }
    }
}

/// How GEMMs run: batch shares in parallel with sequential GEMMs, or (fewer images than threads)
/// images in turn with each GEMM parallel.
pub(crate) fn gemm_parallelism(geometry: &ConvGeometry) -> (usize, gemm::Parallelism) {
    let threads = rayon::current_num_threads();
    if geometry.batch >= threads { (threads, gemm::Parallelism::None) } else { (1, gemm::Parallelism::Rayon(threads)) }
}

/// Fills `col` (`[K, P]`, row-major) with the patches of one image `x` (`[c_in, H, W]`); taps that fall
/// in the padding are zero.
fn im2col(geometry: &ConvGeometry, x: &[f32], col: &mut [f32]) {
    let ConvGeometry { height, width, stride, padding, .. } = *geometry;
    let (height_out, width_out) = (geometry.height_out(), geometry.width_out());
    let rows = col.chunks_exact_mut(height_out * width_out);
    for (row, (c, ky, kx)) in rows.zip(taps(geometry)) {
        let plane = &x[c * height * width..(c + 1) * height * width];
        let valid = valid_range(kx, width, width_out, stride, padding);
        for (oy, out_row) in row.chunks_exact_mut(width_out).enumerate() {
            let iy = (oy * stride + ky) as isize - padding as isize;
            if iy < 0 || iy >= height as isize || valid.is_empty() {
                out_row.fill(0.0);
                continue;
            }
            let input_row = &plane[iy as usize * width..(iy as usize + 1) * width];
            out_row[..valid.start].fill(0.0);
            out_row[valid.end..].fill(0.0);
            let first = valid.start * stride + kx - padding;
            if stride == 1 {
                out_row[valid.clone()].copy_from_slice(&input_row[first..first + valid.len()]);
            } else {
                for (value, ix) in out_row[valid.clone()].iter_mut().zip((first..).step_by(stride)) {
                    *value = input_row[ix];
                }
            }
        }
    }
}

/// The taps of one image in convolution order: `(c, ky, kx)`, one per row of `col(x)`.
fn taps(geometry: &ConvGeometry) -> impl Iterator<Item = (usize, usize, usize)> {
    let kernel = geometry.kernel;
    (0..geometry.channels_in).flat_map(move |c| (0..kernel).flat_map(move |ky| (0..kernel).map(move |kx| (c, ky, kx))))
}

/// `(output, input)`: the output pixels `q` (flat indices of `[H, W]`) whose shifted input pixel
/// `q + shift` lies inside the plane of `pixels` values, and those input pixels.
fn shifted_ranges(pixels: usize, shift: isize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let reach = shift.unsigned_abs().min(pixels);
    let output = if shift < 0 { reach..pixels } else { 0..pixels - reach };
    let input = if shift < 0 { 0..pixels - reach } else { reach..pixels };
    (output, input)
}

/// Zeroes, in every row of `width` values of `row`, the columns whose tap `ox + dx` falls outside
/// the row: those a flat shift wrapped around onto the neighbouring row.
///
/// One column at a time, by stride: a `fill` per line would be a `memset` call per one or two values.
fn zero_wrapped_columns(row: &mut [f32], width: usize, dx: isize) {
    let wrapped = dx.unsigned_abs().min(width);
    let columns = if dx < 0 { 0..wrapped } else { width - wrapped..width };
    for column in columns {
        row.iter_mut().skip(column).step_by(width).for_each(|value| *value = 0.0);
    }
}

/// [`im2col`] for a convolution that [keeps the size](ConvGeometry::keeps_size): each row of `col` is
/// one block copy of the shifted input plane, then the taps that fell off the plane are zeroed (the
/// general loop copies a few values per output row, and the calls dominate).
fn im2col_keeping_size(geometry: &ConvGeometry, x: &[f32], col: &mut [f32]) {
    let pixels = geometry.height * geometry.width;
    for (row, (c, ky, kx)) in col.chunks_exact_mut(pixels).zip(taps(geometry)) {
        let plane = &x[c * pixels..(c + 1) * pixels];
        let (inside, source) = shifted_ranges(pixels, geometry.tap_shift(ky, kx));
        row[..inside.start].fill(0.0);
        row[inside.end..].fill(0.0);
        row[inside].copy_from_slice(&plane[source]);
        zero_wrapped_columns(row, geometry.width, kx as isize - geometry.padding as isize);
    }
}

/// [`col2im`] for a convolution that [keeps the size](ConvGeometry::keeps_size): the wrapped taps of
/// each row of `col` are zeroed (so `col` is overwritten), then the row is added onto the shifted
/// plane in one pass.
fn col2im_keeping_size(geometry: &ConvGeometry, col: &mut [f32], dx: &mut [f32]) {
    let pixels = geometry.height * geometry.width;
    for (row, (c, ky, kx)) in col.chunks_exact_mut(pixels).zip(taps(geometry)) {
        let plane = &mut dx[c * pixels..(c + 1) * pixels];
        zero_wrapped_columns(row, geometry.width, kx as isize - geometry.padding as isize);
        let (inside, target) = shifted_ranges(pixels, geometry.tap_shift(ky, kx));
        for (target, value) in plane[target].iter_mut().zip(&row[inside]) {
            *target += value;
        }
    }
}

/// Adds the columns of `col` (`[K, P]`) back onto the image `dx` (`[c_in, H, W]`): the transpose of
/// [`im2col`].
fn col2im(geometry: &ConvGeometry, col: &[f32], dx: &mut [f32]) {
    let ConvGeometry { height, width, stride, padding, .. } = *geometry;
    let (height_out, width_out) = (geometry.height_out(), geometry.width_out());
    let rows = col.chunks_exact(height_out * width_out);
    for (row, (c, ky, kx)) in rows.zip(taps(geometry)) {
        let plane = &mut dx[c * height * width..(c + 1) * height * width];
        let valid = valid_range(kx, width, width_out, stride, padding);
        for (oy, col_row) in row.chunks_exact(width_out).enumerate() {
            let iy = (oy * stride + ky) as isize - padding as isize;
            if iy < 0 || iy >= height as isize || valid.is_empty() {
                continue;
            }
            let input_row = &mut plane[iy as usize * width..(iy as usize + 1) * width];
            let first = valid.start * stride + kx - padding;
            if stride == 1 {
                for (target, value) in input_row[first..first + valid.len()].iter_mut().zip(&col_row[valid.clone()]) {
                    *target += value;
                }
            } else {
                for (value, ix) in col_row[valid.clone()].iter().zip((first..).step_by(stride)) {
                    input_row[ix] += value;
                }
            }
        }
    }
}

/// The output columns `ox` whose tap `kx` lands inside a row of `width` pixels: `0 <= ox s + kx - p < width`.
fn valid_range(kx: usize, width: usize, width_out: usize, stride: usize, padding: usize) -> std::ops::Range<usize> {
    let start = padding.saturating_sub(kx).div_ceil(stride).min(width_out);
    let end = (width + padding).saturating_sub(kx).div_ceil(stride).min(width_out);
    start..end.max(start)
}

/// `dst = (accumulate ? dst : 0) + lhs rhs` for row-major `[m, k] x [k, n]` operands given by their
/// strides (`(row stride, column stride)`), so that transposes are free.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    [m, n, k]: [usize; 3],
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
    parallelism: gemm::Parallelism,
) {
    assert!(dst.len() >= m * n);
    // SAFETY: `dst` holds the `[m, n]` result and is borrowed mutably, so it aliases neither operand.
    unsafe { gemm_into(dst.as_mut_ptr(), [m, n, k], accumulate, (lhs, lhs_strides), (rhs, rhs_strides), parallelism) }
}

/// `lhs rhs` as a new row-major `[m, n]` matrix (see [`matmul`]), written straight into fresh memory:
/// not zeroed first, for the GEMM reads none of it.
pub(crate) fn product(
    [m, n, k]: [usize; 3],
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
    parallelism: gemm::Parallelism,
) -> Vec<f32> {
    let mut dst = Vec::with_capacity(m * n);
    // SAFETY: `dst` has room for the `[m, n]` result, a fresh allocation that aliases neither operand.
    // The GEMM, not asked to accumulate, writes every one of the `m n` values and reads none, so all
    // are initialised when the length is set.
    unsafe {
        gemm_into(dst.as_mut_ptr(), [m, n, k], false, (lhs, lhs_strides), (rhs, rhs_strides), parallelism);
        dst.set_len(m * n);
    }
    dst
}

/// The one call to `gemm` behind [`matmul`] and [`product`].
///
/// # Safety
/// `dst` must be valid for writes of the row-major `[m, n]` result (and for reads too when
/// `accumulate`), and alias neither operand.
unsafe fn gemm_into(
    dst: *mut f32,
    [m, n, k]: [usize; 3],
    accumulate: bool,
    (lhs, (lhs_rs, lhs_cs)): (&[f32], (usize, usize)),
    (rhs, (rhs_rs, rhs_cs)): (&[f32], (usize, usize)),
    parallelism: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(k == 0 || (lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs && rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs));
    // SAFETY: the assertion keeps every index of the two strided operands inside their slices, and the
    // caller vouches for `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `y = conv(x, W) + b`.
///
/// # Shapes
/// - `x`: `[B, c_in, H, W]`; `weight`: `[c_out, c_in, k, k]`; `bias`: `[c_out]`
/// - returns `[B, c_out, h_out, w_out]`
pub fn forward(geometry: &ConvGeometry, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let (threads, parallelism) = gemm_parallelism(geometry);
    let share = images_per_share(geometry.batch, threads);
    let (pixels, patch) = (geometry.pixels_out(), geometry.patch_len());
    assert_eq!(x.len(), geometry.batch * geometry.image_len());
    let mut bias_image = vec![0.0; geometry.output_len()];
    for (channel, &b) in bias_image.chunks_exact_mut(pixels).zip(bias) {
        channel.fill(b);
    }
    let len = geometry.batch * geometry.output_len();
    let mut y = Vec::with_capacity(len);
    let col_len = geometry.patch_buffer_len();
    y.spare_capacity_mut()[..len].par_chunks_mut(share * geometry.output_len()).zip(x.par_chunks(share * geometry.image_len())).for_each(
        |(y, x)| {
            with_scratch(col_len, |col| {
                for (y, x) in y.chunks_exact_mut(geometry.output_len()).zip(x.chunks_exact(geometry.image_len())) {
                    // Each image's output is first written here, on the thread that computes it: the bias,
                    // then the GEMM adds `W col(x)` while the image is still in cache.
                    let y = y.write_copy_of_slice(&bias_image);
                    let col = geometry.patches(x, col);
                    matmul([geometry.channels_out, pixels, patch], y, true, weight, (patch, 1), col, (pixels, 1), parallelism);
                }
            })
        },
    );
    // SAFETY: the images' chunks cover all `len` values, and each was initialised by the copy of the bias.
    unsafe { y.set_len(len) };
    y
}

/// `dx = col2im(W^T dy)`.
///
/// # Shapes
/// - `dy`: `[B, c_out, h_out, w_out]`; `weight`: `[c_out, c_in, k, k]`
/// - returns `[B, c_in, H, W]`
pub fn input_grad(geometry: &ConvGeometry, dy: &[f32], weight: &[f32]) -> Vec<f32> {
    let (threads, parallelism) = gemm_parallelism(geometry);
    let share = images_per_share(geometry.batch, threads);
    let (pixels, patch) = (geometry.pixels_out(), geometry.patch_len());
    let mut dx = vec![0.0; geometry.batch * geometry.image_len()];
    let col_len = geometry.patch_buffer_len();
    dx.par_chunks_mut(share * geometry.image_len()).zip(dy.par_chunks(share * geometry.output_len())).for_each(|(dx, dy)| {
        with_scratch(col_len, |col| {
            for (dx, dy) in dx.chunks_exact_mut(geometry.image_len()).zip(dy.chunks_exact(geometry.output_len())) {
                let shape = [patch, pixels, geometry.channels_out];
                if geometry.is_pointwise() {
                    matmul(shape, dx, false, weight, (1, patch), dy, (pixels, 1), parallelism);
                } else {
                    matmul(shape, col, false, weight, (1, patch), dy, (pixels, 1), parallelism);
                    geometry.add_patches(col, dx);
                }
            }
        })
    });
    dx
}

/// `(dW, db)`: `dW = sum_b dy_b col(x_b)^T` and `db = sum_b sum_pixels dy_b`.
///
/// # Shapes
/// - `dy`: `[B, c_out, h_out, w_out]`; `x`: `[B, c_in, H, W]`
/// - returns `[c_out, c_in, k, k]` and `[c_out]`
pub fn weight_grad(geometry: &ConvGeometry, dy: &[f32], x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (threads, parallelism) = gemm_parallelism(geometry);
    let share = images_per_share(geometry.batch, threads);
    let (pixels, patch) = (geometry.pixels_out(), geometry.patch_len());
    let col_len = geometry.patch_buffer_len();
    let shares: Vec<(Vec<f32>, Vec<f32>)> = dy
        .par_chunks(share * geometry.output_len())
        .zip(x.par_chunks(share * geometry.image_len()))
        .map(|(dy, x)| {
            let mut d_weight = vec![0.0; geometry.channels_out * patch];
            let mut d_bias = vec![0.0; geometry.channels_out];
            with_scratch(col_len, |col| {
                for (dy, x) in dy.chunks_exact(geometry.output_len()).zip(x.chunks_exact(geometry.image_len())) {
                    let col = geometry.patches(x, &mut *col);
                    matmul([geometry.channels_out, patch, pixels], &mut d_weight, true, dy, (pixels, 1), col, (1, pixels), parallelism);
                    for (sum, channel) in d_bias.iter_mut().zip(dy.chunks_exact(pixels)) {
                        *sum += channel.iter().sum::<f32>();
                    }
                }
            });
            (d_weight, d_bias)
        })
        .collect();
    sum_in_order(shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct definition of the convolution, for one output value.
    fn direct(geometry: &ConvGeometry, x: &[f32], weight: &[f32], [b, o, oy, ox]: [usize; 4]) -> f32 {
        let ConvGeometry { channels_in, height, width, kernel, stride, padding, .. } = *geometry;
        let mut sum = 0.0;
        for c in 0..channels_in {
            for ky in 0..kernel {
                for kx in 0..kernel {
                    let (iy, ix) = ((oy * stride + ky) as isize - padding as isize, (ox * stride + kx) as isize - padding as isize);
                    if (0..height as isize).contains(&iy) && (0..width as isize).contains(&ix) {
                        let input = x[((b * channels_in + c) * height + iy as usize) * width + ix as usize];
                        sum += input * weight[((o * channels_in + c) * kernel + ky) * kernel + kx];
                    }
                }
            }
        }
        sum
    }

    /// `im2col` and `col2im` against the definition, at every stride and padding a U-Net uses and at
    /// odd sizes: the forward pass matches the direct sum, and `col2im` is `im2col`'s transpose
    /// (`<im2col(x), c> = <x, col2im(c)>`).
    #[test]
    fn patches_match_the_definition_and_their_transpose() {
        for (height, width, kernel, stride, padding) in
            [(5, 7, 3, 1, 1), (6, 5, 3, 2, 1), (7, 7, 5, 1, 2), (4, 3, 1, 1, 0), (5, 5, 3, 2, 0)]
        {
            let geometry = ConvGeometry { batch: 3, channels_in: 2, height, width, channels_out: 3, kernel, stride, padding };
            let wave = |n: usize, phase: f32| (0..n).map(|i| (i as f32 * 0.37 + phase).sin()).collect::<Vec<_>>();
            let x = wave(geometry.batch * geometry.image_len(), 0.1);
            let weight = wave(geometry.channels_out * geometry.patch_len(), 0.7);
            let y = forward(&geometry, &x, &weight, &[0.5, -1.0, 2.0]);
            let (h_out, w_out) = (geometry.height_out(), geometry.width_out());
            for (index, value) in y.iter().enumerate() {
                let at = [index / (3 * h_out * w_out), index / (h_out * w_out) % 3, index / w_out % h_out, index % w_out];
                let expected = direct(&geometry, &x, &weight, at) + [0.5, -1.0, 2.0][at[1]];
                assert!((value - expected).abs() < 1e-5, "{geometry:?} at {at:?}: {value} vs {expected}");
            }
            let image = &x[..geometry.image_len()];
            let mut col = vec![0.0; geometry.patch_len() * geometry.pixels_out()];
            im2col(&geometry, image, &mut col);
            let probe = wave(col.len(), 2.0);
            let mut back = vec![0.0; image.len()];
            col2im(&geometry, &probe, &mut back);
            let lhs: f32 = col.iter().zip(&probe).map(|(a, b)| a * b).sum();
            let rhs: f32 = image.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-4, "{geometry:?}: {lhs} vs {rhs}");
        }
    }

    /// The block-copy `im2col` and `col2im` of size-keeping convolutions equal the general loops,
    /// also on images narrower or shorter than the kernel's reach (every tap wraps or falls off).
    #[test]
    fn size_keeping_patches_equal_the_general_loops() {
        for (height, width, kernel) in [(5, 7, 3), (28, 28, 3), (7, 7, 5), (1, 1, 3), (1, 4, 3), (3, 1, 5), (2, 3, 5)] {
            let geometry =
                ConvGeometry { batch: 1, channels_in: 3, height, width, channels_out: 2, kernel, stride: 1, padding: kernel / 2 };
            assert!(geometry.keeps_size());
            let x: Vec<f32> = (0..geometry.image_len()).map(|i| 1.0 + i as f32).collect();
            let len = geometry.patch_len() * geometry.pixels_out();
            let (mut general, mut blocks) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            im2col(&geometry, &x, &mut general);
            im2col_keeping_size(&geometry, &x, &mut blocks);
            assert_eq!(general, blocks, "im2col {geometry:?}");
            let col: Vec<f32> = (0..len).map(|i| (i as f32 * 0.61).sin()).collect();
            let (mut general, mut blocks) = (vec![0.5; x.len()], vec![0.5; x.len()]);
            col2im(&geometry, &col, &mut general);
            col2im_keeping_size(&geometry, &mut col.clone(), &mut blocks);
            for (a, b) in general.iter().zip(&blocks) {
                assert!((a - b).abs() < 1e-6, "col2im {geometry:?}: {a} vs {b}");
            }
        }
    }
}
