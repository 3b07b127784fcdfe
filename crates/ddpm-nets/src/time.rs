use burn::config::Config;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

/// How a network sees the timestep t.
#[derive(Config, Debug, PartialEq)]
pub enum TimeEncoding {
    /// One feature, t / T (the reference tutorials' choice).
    Normalized,
    /// The Transformer's sinusoidal embedding of the raw step t with `dim` features (half sines, half
    /// cosines over geometrically spaced frequencies), as used by the DDPM U-Net.
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
            Self::Sinusoidal { dim } => {
                let half = dim / 2;
                let frequency = |i: usize| (-(10_000f64.ln()) * i as f64 / half.max(1) as f64).exp();
                let sines = (0..half).map(|i| (t as f64 * frequency(i)).sin() as f32);
                let cosines = (0..half).map(|i| (t as f64 * frequency(i)).cos() as f32);
                // An odd width gets a zero pad so the layer widths stay as configured.
                let pad = std::iter::repeat_n(0.0, dim - 2 * half);
                sines.chain(cosines).chain(pad).collect()
            }
        }
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
    fn normalized_is_t_over_t_max_and_uniform_batches_broadcast() {
        let table = TimeEncoding::Normalized.table(1000);
        let rows: Vec<f32> = table.encode(&[250, 250, 250], &Device::flex()).into_data().try_into_vec().unwrap();
        assert_eq!(rows, vec![0.25; 3]);
    }
}
