use burn::config::Config;
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

    /// The encoded timesteps, `[B, width]`.
    ///
    /// Computed on the host (timesteps live there); when every example shares one step, as in
    /// sampling, a single row is computed and broadcast.
    pub fn encode(&self, timesteps: &[usize], num_steps: usize, device: &Device) -> Tensor<2> {
        let batch = timesteps.len();
        let width = self.width();
        if batch > 1 && timesteps.iter().all(|&t| t == timesteps[0]) {
            let row = self.encode_row(timesteps[0], num_steps);
            return Tensor::<2>::from_data(TensorData::new(row, [1, width]), device).expand([batch, width]);
        }
        let values: Vec<f32> = timesteps.iter().flat_map(|&t| self.encode_row(t, num_steps)).collect();
        Tensor::from_data(TensorData::new(values, [batch, width]), device)
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
