use std::sync::Arc;

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use num_traits::Float;

/// How a network sees the timestep t.
#[derive(Config, Debug, PartialEq)]
pub enum TimeEncoding {
    /// One feature, t / T (the reference tutorials' choice).
    Normalized,
    /// The Transformer's sinusoidal embedding of the raw step t with `dim` features (half sines, half
    /// cosines over geometrically spaced frequencies), as used by the DDPM U-Net: a
    /// [`SinusoidalEmbedding::transformer`].
    Sinusoidal { dim: usize },
}

impl TimeEncoding {
    /// How many features the encoding produces per example.
    pub fn width(&self) -> usize {
        match self {
            Self::Normalized => 1,
            Self::Sinusoidal { dim } => *dim,
        }
    }

    /// The encoding of every step `0..num_steps`, computed once so that each batch only copies rows.
    pub fn table(&self, num_steps: usize) -> TimeTable {
        let rows = (0..num_steps).flat_map(|t| self.encode_row(t, num_steps)).collect::<Vec<f32>>();
        TimeTable { rows: Arc::from(rows), width: self.width() }
    }

    fn encode_row(&self, t: usize, num_steps: usize) -> Vec<f32> {
        match *self {
            Self::Normalized => vec![(t as f64 / num_steps as f64) as f32],
            Self::Sinusoidal { dim } => SinusoidalEmbedding::transformer(dim).row(t),
        }
    }
}

/// The arithmetic a [`SinusoidalEmbedding`] is computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// f64, rounded to f32 once at the end (the project's tables).
    F64,
    /// f32 in diffusers' order of operations, so the embedding matches diffusers' `Timesteps` to the
    /// last bit (a rounding of up to 1e-4 at t = 1000 otherwise).
    F32,
}

/// The Transformer's sinusoidal embedding of the raw step t, as the DDPM U-Net and diffusers'
/// `Timesteps` compute it: `sin(t w_i)` and `cos(t w_i)` for `w_i = exp(-ln(10000) i / (half - freq_shift))`,
/// `i < half = width / 2`, sines first (cosines first when `flip_sin_to_cos`), a zero column appended for
/// an odd width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinusoidalEmbedding {
    pub width: usize,
    pub flip_sin_to_cos: bool,
    pub freq_shift: f64,
    pub arithmetic: Arithmetic,
}

impl SinusoidalEmbedding {
    /// The DDPM paper's form (the Transformer's: sines first, no shift), in f64.
    pub fn transformer(width: usize) -> Self {
        Self { width, flip_sin_to_cos: false, freq_shift: 0.0, arithmetic: Arithmetic::F64 }
    }

    /// The embedding of step `t`, `width` values.
    pub fn row(&self, t: usize) -> Vec<f32> {
        let (sines, cosines) = match self.arithmetic {
            Arithmetic::F64 => self.sines_and_cosines::<f64>(t),
            Arithmetic::F32 => self.sines_and_cosines::<f32>(t),
        };
        let (first, second) = if self.flip_sin_to_cos { (cosines, sines) } else { (sines, cosines) };
        let pad = std::iter::repeat_n(0.0, self.width - first.len() - second.len());
        first.into_iter().chain(second).chain(pad).collect()
    }

    /// `sin(t w_i)` and `cos(t w_i)` in the arithmetic of `F`, in diffusers' order of operations.
    fn sines_and_cosines<F: Float>(&self, t: usize) -> (Vec<f32>, Vec<f32>) {
        let half = self.width / 2;
        let float = |x: f64| F::from(x).expect("a float converts to f32 and f64");
        let arguments: Vec<F> = (0..half)
            .map(|i| float(t as f64) * ((float(-(10_000f64.ln())) * float(i as f64)) / (float(half as f64) - float(self.freq_shift))).exp())
            .collect();
        let to_f32 = |x: F| x.to_f32().expect("a sine is finite");
        (arguments.iter().map(|a| to_f32(a.sin())).collect(), arguments.iter().map(|a| to_f32(a.cos())).collect())
    }

    /// The embedded timesteps, `[B, width]` for `B` steps, uploaded to `device`.
    pub fn encode(&self, timesteps: &[usize], device: &Device) -> Tensor<2> {
        let values: Vec<f32> = timesteps.iter().flat_map(|&t| self.row(t)).collect();
        Tensor::from_data(TensorData::new(values, [timesteps.len(), self.width]), device)
    }
}

/// A [`TimeEncoding`] tabulated for all T steps (row `t` is the encoding of step `t`).
#[derive(Debug, Clone)]
pub struct TimeTable {
    rows: Arc<[f32]>,
    width: usize,
}

impl TimeTable {
    /// The encoded timesteps, `[B, width]`, uploaded to `device`.
    ///
    /// When every example shares one step, as in sampling, a single row is uploaded and broadcast.
    pub fn encode(&self, timesteps: &[usize], device: &Device) -> Tensor<2> {
        let (batch, width) = (timesteps.len(), self.width);
        let row = |t: usize| {
            let row = self.rows.get(t * width..(t + 1) * width);
            row.unwrap_or_else(|| panic!("timestep {t} is out of range: the table has {} steps", self.rows.len() / width.max(1)))
        };
        if batch > 1 && timesteps.iter().all(|&t| t == timesteps[0]) {
            let one = TensorData::new(row(timesteps[0]).to_vec(), [1, width]);
            return Tensor::<2>::from_data(one, device).expand([batch, width]);
        }
        let values: Vec<f32> = timesteps.iter().flat_map(|&t| row(t).iter().copied()).collect();
        Tensor::from_data(TensorData::new(values, [batch, width]), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoidal_rows_hold_sines_then_cosines() {
        let table = TimeEncoding::Sinusoidal { dim: 4 }.table(1000);
        let rows: Vec<f32> = table.encode(&[0, 7], &Device::flex()).into_data().try_into_vec().unwrap();
        assert_eq!(&rows[..4], &[0.0, 0.0, 1.0, 1.0], "t = 0: sin 0, sin 0, cos 0, cos 0");
        // Frequencies 1 and 10000^(-1/2) = 0.01.
        let expected = [7f64.sin(), 0.07f64.sin(), 7f64.cos(), 0.07f64.cos()];
        for (a, e) in rows[4..].iter().zip(expected) {
            assert!((*a as f64 - e).abs() < 1e-6, "{a} vs {e}");
        }
    }

    #[test]
    fn the_sinusoidal_embedding_is_diffusers_closed_form_in_either_arithmetic() {
        // width 7: half 3, frequencies 10000^(-i / (3 - shift)), i = 0, 1, 2, then a zero column.
        for (flip, shift, arithmetic) in [(true, 0.0, Arithmetic::F32), (false, 1.0, Arithmetic::F32), (true, 1.0, Arithmetic::F64)] {
            let embedding = SinusoidalEmbedding { width: 7, flip_sin_to_cos: flip, freq_shift: shift, arithmetic };
            let rows: Vec<f32> = embedding.encode(&[0, 25], &Device::flex()).into_data().try_into_vec().unwrap();
            let frequency = |i: f64| 10_000f64.powf(-i / (3.0 - shift));
            let sines: Vec<f64> = (0..3).map(|i| (25.0 * frequency(i as f64)).sin()).collect();
            let cosines: Vec<f64> = (0..3).map(|i| (25.0 * frequency(i as f64)).cos()).collect();
            let expected: Vec<f64> = if flip { [cosines, sines].concat() } else { [sines, cosines].concat() };
            assert_eq!(rows[13], 0.0, "an odd width ends in a zero column");
            assert_eq!(&rows[..7], if flip { &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0] } else { &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0] });
            for (got, want) in rows[7..13].iter().zip(expected) {
                assert!((*got as f64 - want).abs() < 1e-5, "flip {flip}, shift {shift}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn normalized_is_t_over_t_max_and_uniform_batches_broadcast() {
        let table = TimeEncoding::Normalized.table(1000);
        let rows: Vec<f32> = table.encode(&[250, 250, 250], &Device::flex()).into_data().try_into_vec().unwrap();
        assert_eq!(rows, vec![0.25; 3]);
    }
}
