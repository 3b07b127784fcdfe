//! The U-Net's decoder input over f32 slices in NCHW layout, with no Burn types: `x` upsampled 2x by
//! nearest neighbour and the skip connection concatenated after it on the channels, in one pass that
//! writes each output value once (Burn's composition expands, copies strided, then copies again to
//! concatenate), and its backward pass.
//!
//! The images are independent, so each runs as its own parallel task.

use rayon::prelude::*;

/// The sizes of one upsample-and-concatenate; every size is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsampleGeometry {
    pub batch: usize,
    /// Channels of `x`, the first channels of the output.
    pub channels: usize,
    /// Channels of the skip, the last channels of the output.
    pub skip_channels: usize,
    /// Height of `x` (the output has twice as many rows).
    pub height: usize,
    /// Width of `x` (the output has twice as many columns).
    pub width: usize,
}

impl UpsampleGeometry {
    fn plane_in(&self) -> usize {
        self.height * self.width
    }

    fn plane_out(&self) -> usize {
        4 * self.plane_in()
    }

    fn image_in(&self) -> usize {
        self.channels * self.plane_in()
    }

    fn skip_image(&self) -> usize {
        self.skip_channels * self.plane_out()
    }

    fn image_out(&self) -> usize {
        self.image_in() * 4 + self.skip_image()
    }
}

/// `cat([upsample_2x(x), skip], 1)`.
///
/// # Shapes
/// - `x`: `[B, C, H, W]`; `skip`: `[B, C_skip, 2H, 2W]`
/// - returns `[B, C + C_skip, 2H, 2W]`
pub fn forward(geometry: &UpsampleGeometry, x: &[f32], skip: &[f32]) -> Vec<f32> {
    assert!(x.len() == geometry.batch * geometry.image_in() && skip.len() == geometry.batch * geometry.skip_image());
    let width = geometry.width;
    let len = geometry.batch * geometry.image_out();
    // Written once by the threads that compute it, never zeroed first.
    let mut y = Vec::with_capacity(len);
    y.spare_capacity_mut()[..len]
        .par_chunks_mut(geometry.image_out())
        .zip(x.par_chunks(geometry.image_in()).zip(skip.par_chunks(geometry.skip_image())))
        .for_each(|(y, (x, skip))| {
            let (upsampled, skipped) = y.split_at_mut(4 * x.len());
            for (rows, row) in upsampled.chunks_exact_mut(4 * width).zip(x.chunks_exact(width)) {
                for line in rows.chunks_exact_mut(2 * width) {
                    for (pair, &value) in line.chunks_exact_mut(2).zip(row) {
                        pair[0].write(value);
                        pair[1].write(value);
                    }
                }
            }
            skipped.write_copy_of_slice(skip);
        });
    // SAFETY: the images' chunks cover all `len` values: each image's first `4 x.len()` values are its
    // `H` pairs of output rows, each written pair by pair, and the rest is the copy of its skip.
    unsafe { y.set_len(len) };
    y
}

/// `(dx, dskip)` from `dy`: each value of `x` receives the sum of the 2x2 block it was copied to, and
/// the skip its own channels of `dy`.
///
/// # Shapes
/// `dy`: `[B, C + C_skip, 2H, 2W]` -> `[B, C, H, W]`, `[B, C_skip, 2H, 2W]`
pub fn backward(geometry: &UpsampleGeometry, dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let width = geometry.width;
    let mut dx = vec![0.0; geometry.batch * geometry.image_in()];
    let mut d_skip = vec![0.0; geometry.batch * geometry.skip_image()];
    dx.par_chunks_mut(geometry.image_in())
        .zip(d_skip.par_chunks_mut(geometry.skip_image()))
        .zip(dy.par_chunks(geometry.image_out()))
        .for_each(|((dx, d_skip), dy)| {
            let (upsampled, skipped) = dy.split_at(4 * dx.len());
            for (row, rows) in dx.chunks_exact_mut(width).zip(upsampled.chunks_exact(4 * width)) {
                let (top, bottom) = rows.split_at(2 * width);
                for ((value, top), bottom) in row.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                    *value = (top[0] + top[1]) + (bottom[0] + bottom[1]);
                }
            }
            d_skip.copy_from_slice(skipped);
        });
    (dx, d_skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every output value against its definition, and the backward pass as the forward's transpose
    /// (`<forward(x, s), g> = <x, dx> + <s, ds>`), on odd sizes.
    #[test]
    fn upsampling_matches_the_definition_and_its_transpose() {
        let geometry = UpsampleGeometry { batch: 2, channels: 3, skip_channels: 2, height: 3, width: 5 };
        let wave = |n: usize, phase: f32| (0..n).map(|i| (i as f32 * 0.37 + phase).sin()).collect::<Vec<_>>();
        let x = wave(geometry.batch * geometry.image_in(), 0.1);
        let skip = wave(geometry.batch * geometry.skip_image(), 0.9);
        let y = forward(&geometry, &x, &skip);
        let (height_out, width_out) = (2 * geometry.height, 2 * geometry.width);
        let channels_out = geometry.channels + geometry.skip_channels;
        for (index, &value) in y.iter().enumerate() {
            let (b, c) = (index / (channels_out * height_out * width_out), index / (height_out * width_out) % channels_out);
            let (oy, ox) = (index / width_out % height_out, index % width_out);
            let expected = if c < geometry.channels {
                x[((b * geometry.channels + c) * geometry.height + oy / 2) * geometry.width + ox / 2]
            } else {
                skip[((b * geometry.skip_channels + c - geometry.channels) * height_out + oy) * width_out + ox]
            };
            assert_eq!(value, expected, "at {index}");
        }
        let probe = wave(y.len(), 2.0);
        let (dx, d_skip) = backward(&geometry, &probe);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
        let (lhs, rhs) = (dot(&y, &probe), dot(&x, &dx) + dot(&skip, &d_skip));
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }
}
