//! A fully connected layer over f32 slices, with no Burn types: `y = x W + b`, optionally through a
//! ReLU, and its gradients. `W` is `[d_in, d_out]`, the layout of Burn's `Linear`.
//!
//! Burn's `linear` on flex is a matmul into a zero-filled buffer that flex then copies into an aligned
//! one, a bias add and, in the toy's MLP, a ReLU: four passes over the activations and three buffers.
//! Here the GEMM writes `x W` into fresh memory, and one pass adds the bias and applies the ReLU while
//! the output is still in cache. The backward pass masks `dy` by the ReLU in one pass, then `dx` and `dW` are
//! GEMMs over strided operands, with no transposed copies.

use std::mem::MaybeUninit;

use crate::gemm_conv::{matmul, product};

/// The sizes of one layer: `rows` examples of `inputs` features each, mapped to `outputs` features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearGeometry {
    pub rows: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// How the GEMMs run: split by gemm over the kernels' threads when there are several (it keeps small
/// products on one), on the calling thread otherwise.
fn parallelism() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        1 => gemm::Parallelism::None,
        threads => gemm::Parallelism::Rayon(threads),
    }
}

/// `y = x W + b`, then `max(y, 0)` when `relu`.
///
/// # Shapes
/// - `x`: `[rows, inputs]`; `weight`: `[inputs, outputs]`; `bias`: `[outputs]`
/// - returns `[rows, outputs]`
pub fn forward(geometry: &LinearGeometry, x: &[f32], weight: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    let LinearGeometry { rows, inputs, outputs } = *geometry;
    assert!(x.len() == rows * inputs && weight.len() == inputs * outputs && bias.len() == outputs);
    let mut y = product([rows, outputs, inputs], x, (inputs, 1), weight, (outputs, 1), parallelism());
    add_bias(&mut y, bias, relu);
    y
}

with_simd_versions! {
    /// Adds `bias` to each row of `y` (and applies the ReLU when `relu`), in one pass over the GEMM's
    /// output while it is in cache.
    fn add_bias(y: &mut [f32], bias: &[f32], relu: bool) = add_bias_body;
}

#[inline(always)]
fn add_bias_body(y: &mut [f32], bias: &[f32], relu: bool) {
    if relu {
        for row in y.chunks_exact_mut(bias.len()) {
            row.iter_mut().zip(bias).for_each(|(value, b)| *value = relu_of(*value + b));
        }
    } else {
        for row in y.chunks_exact_mut(bias.len()) {
            row.iter_mut().zip(bias).for_each(|(value, b)| *value += b);
        }
    }
}

/// Burn's ReLU: 0 where `z <= 0`, so that a NaN passes through (`f32::max` would hide it). A select,
/// not a branch: the signs are a coin toss, and a branch on them ran 5x slower.
#[inline(always)]
fn relu_of(z: f32) -> f32 {
    if z <= 0.0 { 0.0 } else { z }
}

/// The largest input width the layer over two column blocks ([`forward_of_cat`]) sums directly, row by
/// row, rather than by GEMM: a GEMM over two or three inputs (the toy's first layer) took 6.8 us for 500
/// rows, mostly packing and writing its output, before the bias pass.
const DIRECT_INPUTS: usize = 4;

/// `y = [a b] W + bias`, then the ReLU when `relu`: the layer over the concatenation of `a` and `b`,
/// with no concatenated copy. Rows `0..inputs_a` of `W` take `a`, the others `b`.
///
/// # Shapes
/// - `a`: `[rows, inputs_a]`; `b`: `[rows, inputs_b]`; `weight`: `[inputs_a + inputs_b, outputs]`;
///   `bias`: `[outputs]`
/// - returns `[rows, outputs]`
pub fn forward_of_cat(rows: usize, a: &[f32], b: &[f32], weight: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    let outputs = bias.len();
    let (inputs_a, inputs_b) = (a.len() / rows.max(1), b.len() / rows.max(1));
    assert!(rows > 0 && inputs_a > 0 && inputs_b > 0, "two non-empty blocks of inputs");
    assert!(a.len() == rows * inputs_a && b.len() == rows * inputs_b && weight.len() == (inputs_a + inputs_b) * outputs);
    let (weight_a, weight_b) = weight.split_at(inputs_a * outputs);
    if inputs_a + inputs_b > DIRECT_INPUTS {
        let mut y = product([rows, outputs, inputs_a], a, (inputs_a, 1), weight_a, (outputs, 1), parallelism());
        matmul([rows, outputs, inputs_b], &mut y, true, b, (inputs_b, 1), weight_b, (outputs, 1), parallelism());
        add_bias(&mut y, bias, relu);
        return y;
    }
    let len = rows * outputs;
    let mut y = Vec::with_capacity(len);
    small_layer(&mut y.spare_capacity_mut()[..len], [(a, weight_a), (b, weight_b)], bias, relu);
    // SAFETY: `small_layer` wrote every one of the `len` values.
    unsafe { y.set_len(len) };
    y
}

with_simd_versions! {
    /// The layer over two column blocks `(x, W)` with few inputs, summed directly into `y` (which need
    /// not be initialised) one row at a time: the bias, each input times its row of `W`, then the ReLU.
    fn small_layer(y: &mut [MaybeUninit<f32>], blocks: [(&[f32], &[f32]); 2], bias: &[f32], relu: bool) = small_layer_body;
}

#[inline(always)]
fn small_layer_body(y: &mut [MaybeUninit<f32>], blocks: [(&[f32], &[f32]); 2], bias: &[f32], relu: bool) {
    let outputs = bias.len();
    let rows = y.len() / outputs;
    let [(a, weight_a), (b, weight_b)] = blocks;
    let (inputs_a, inputs_b) = (a.len() / rows, b.len() / rows);
    for ((y, a), b) in y.chunks_exact_mut(outputs).zip(a.chunks_exact(inputs_a)).zip(b.chunks_exact(inputs_b)) {
        for (y, &bias) in y.iter_mut().zip(bias) {
            y.write(bias);
        }
        // SAFETY: every value of the row was just written.
        let y = unsafe { std::slice::from_raw_parts_mut(y.as_mut_ptr().cast::<f32>(), outputs) };
        let inputs = a.iter().zip(weight_a.chunks_exact(outputs)).chain(b.iter().zip(weight_b.chunks_exact(outputs)));
        for (&x, w) in inputs {
            y.iter_mut().zip(w).for_each(|(y, &w)| *y += x * w);
        }
        if relu {
            y.iter_mut().for_each(|y| *y = relu_of(*y));
        }
    }
}

/// `(dW, db)` of [`forward_of_cat`]: `dW = [a^T dz; b^T dz]` and `db` = the sum of `dz` over the rows.
///
/// # Shapes
/// - `dz`: `[rows, outputs]`; `a`: `[rows, inputs_a]`; `b`: `[rows, inputs_b]`
/// - returns `[inputs_a + inputs_b, outputs]` and `[outputs]`
pub fn weight_grad_of_cat(rows: usize, dz: &[f32], a: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let outputs = dz.len() / rows.max(1);
    let (d_weight_a, d_bias) = weight_grad(&LinearGeometry { rows, inputs: a.len() / rows.max(1), outputs }, dz, a);
    let inputs_b = b.len() / rows.max(1);
    let mut d_weight = d_weight_a;
    d_weight.extend(product([inputs_b, outputs, rows], b, (1, inputs_b), dz, (outputs, 1), parallelism()));
    (d_weight, d_bias)
}

/// The gradient at the ReLU's input from the one at its output: 0 where the output `y <= 0`, `dy`
/// elsewhere (Burn's mask: a NaN output passes `dy` on).
pub fn relu_grad(dy: &[f32], y: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), y.len());
    let mut dz = Vec::with_capacity(dy.len());
    mask_by_relu(&mut dz.spare_capacity_mut()[..dy.len()], dy, y);
    // SAFETY: `mask_by_relu` wrote every one of the `dy.len()` values.
    unsafe { dz.set_len(dy.len()) };
    dz
}

with_simd_versions! {
    /// `dz = dy` where `y > 0` (or is NaN), 0 elsewhere, written into `dz` (which need not be initialised).
    fn mask_by_relu(dz: &mut [MaybeUninit<f32>], dy: &[f32], y: &[f32]) = mask_by_relu_body;
}

#[inline(always)]
fn mask_by_relu_body(dz: &mut [MaybeUninit<f32>], dy: &[f32], y: &[f32]) {
    assert!(dz.len() == dy.len() && dy.len() == y.len());
    for ((dz, &d), &y) in dz.iter_mut().zip(dy).zip(y) {
        dz.write(if y <= 0.0 { 0.0 } else { d });
    }
}

/// `dx = dz W^T`, from the gradient `dz` at the layer's output (before any ReLU).
///
/// # Shapes
/// - `dz`: `[rows, outputs]`; `weight`: `[inputs, outputs]`
/// - returns `[rows, inputs]`
pub fn input_grad(geometry: &LinearGeometry, dz: &[f32], weight: &[f32]) -> Vec<f32> {
    let LinearGeometry { rows, inputs, outputs } = *geometry;
    assert!(dz.len() == rows * outputs && weight.len() == inputs * outputs);
    product([rows, inputs, outputs], dz, (outputs, 1), weight, (1, outputs), parallelism())
}

/// `(dW, db)`: `dW = x^T dz` and `db` = the sum of `dz` over the rows.
///
/// # Shapes
/// - `dz`: `[rows, outputs]`; `x`: `[rows, inputs]`
/// - returns `[inputs, outputs]` and `[outputs]`
pub fn weight_grad(geometry: &LinearGeometry, dz: &[f32], x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let LinearGeometry { rows, inputs, outputs } = *geometry;
    assert!(dz.len() == rows * outputs && x.len() == rows * inputs);
    let d_weight = product([inputs, outputs, rows], x, (1, inputs), dz, (outputs, 1), parallelism());
    let mut d_bias = vec![0.0; outputs];
    sum_rows(&mut d_bias, dz);
    (d_weight, d_bias)
}

with_simd_versions! {
    /// Adds every row of `matrix` (rows of `sums.len()` values) into `sums`, in row order.
    fn sum_rows(sums: &mut [f32], matrix: &[f32]) = sum_rows_body;
}

#[inline(always)]
fn sum_rows_body(sums: &mut [f32], matrix: &[f32]) {
    for row in matrix.chunks_exact(sums.len()) {
        sums.iter_mut().zip(row).for_each(|(sum, &d)| *sum += d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of the forward pass and the gradients against their definitions, on a layer small
    /// enough to write out: 2 rows, 3 inputs, 2 outputs.
    #[test]
    fn equals_the_definitions() {
        let geometry = LinearGeometry { rows: 2, inputs: 3, outputs: 2 };
        let x = [1.0, -2.0, 0.5, 3.0, 0.0, -1.0];
        let weight = [0.5, -1.0, 2.0, 0.25, -0.5, 1.0];
        let bias = [0.1, -0.2];
        // Row 0: [0.5 - 4 - 0.25, -1 - 0.5 + 0.5] + b; row 1: [1.5 + 0.5, -3 - 1] + b.
        let y = [-3.65, -1.2, 2.1, -4.2];
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-6) && a.len() == b.len();
        assert!(close(&forward(&geometry, &x, &weight, &bias, false), &y));
        assert!(close(&forward(&geometry, &x, &weight, &bias, true), &[0.0, 0.0, 2.1, 0.0]));

        let dy = [1.0, 2.0, -1.0, 0.5];
        assert_eq!(relu_grad(&dy, &[0.0, -1.0, 2.1, 3.0]), [0.0, 0.0, -1.0, 0.5]);
        // A NaN is not hidden by the ReLU, forward or backward.
        let nan_x = [f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert!(forward(&geometry, &nan_x, &weight, &bias, true)[..2].iter().all(|v| v.is_nan()));
        assert_eq!(relu_grad(&[1.0], &[f32::NAN]), [1.0]);
        // dx[r][i] = sum_o dy[r][o] W[i][o].
        let dx = [0.5 - 2.0, 2.0 + 0.5, -0.5 + 2.0, -0.5 - 0.5, -2.0 + 0.125, 0.5 + 0.5];
        assert!(close(&input_grad(&geometry, &dy, &weight), &dx));
        // dW[i][o] = sum_r x[r][i] dy[r][o]; db[o] = sum_r dy[r][o].
        let (d_weight, d_bias) = weight_grad(&geometry, &dy, &x);
        assert!(close(&d_weight, &[1.0 - 3.0, 2.0 + 1.5, -2.0, -4.0, 0.5 + 1.0, 1.0 - 0.5]));
        assert!(close(&d_bias, &[0.0, 2.5]));
    }
}
