use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::{Activation, Denoiser, NetError, TimeEncoding, TimeTable};

/// A fully connected noise predictor for low-dimensional data.
///
/// The defaults are the reference tutorial's network for 1-D data:
/// Linear(2, 128) - ReLU - Linear(128, 128) - ReLU - Linear(128, 1), fed concat(x_t, t / T).
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Features per example (1 for scalar data).
    #[config(default = 1)]
    pub data_dim: usize,
    /// Outputs per example; `None` is `data_dim` (twice it for a network that learns its variance).
    #[config(default = "None")]
    pub out_dim: Option<usize>,
    /// Widths of the hidden layers.
    #[config(default = "vec![128, 128]")]
    pub hidden: Vec<usize>,
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    #[config(default = "TimeEncoding::Normalized")]
    pub time_encoding: TimeEncoding,
    /// T, used to normalise t; must match the noise schedule.
    #[config(default = 1000)]
    pub num_steps: usize,
}

/// The network built from [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    time: TimeTable,
}

impl MlpConfig {
    /// Explains the first setting that cannot work.
    pub fn validate(&self) -> Result<(), NetError> {
        if self.data_dim == 0 {
            return Err(NetError::config("mlp", "data_dim", "the MLP needs at least one feature per example (data_dim >= 1)"));
        }
        if self.out_dim == Some(0) {
            return Err(NetError::config("mlp", "out_dim", "the MLP needs at least one output per example (out_dim >= 1)"));
        }
        if self.hidden.contains(&0) {
            return Err(NetError::config(
                "mlp",
                "hidden",
                format!("every hidden layer needs at least one unit (got widths {:?})", self.hidden),
            ));
        }
        if self.time_encoding.width() == 0 {
            return Err(NetError::config("mlp", "time_encoding", "the sinusoidal time embedding needs a width of at least 1"));
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Mlp {
        let widths: Vec<usize> = std::iter::once(self.data_dim + self.time_encoding.width())
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(self.out_dim.unwrap_or(self.data_dim)))
            .collect();
        Mlp {
            layers: widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect(),
            activation: self.activation,
            time: self.time_encoding.table(self.num_steps),
        }
    }
}

impl Mlp {
    /// # Shapes
    /// - `x_t`: `[B, data_dim]`
    /// - `timesteps`: `B` 0-based steps
    /// - output: `[B, out_dim]`
    pub fn forward(&self, x_t: Tensor<2>, timesteps: &[usize]) -> Tensor<2> {
        let time = self.time.encode(timesteps, &x_t.device());
        // The first layer reads [x_t, time] (`[B, data_dim + time width]`) without concatenating them.
        let (last, hidden) = self.layers.split_last().expect("an MLP has at least one layer");
        let Some((first, others)) = hidden.split_first() else {
            return ddpm_kernels::linear_of_cat(last, x_t, time, false);
        };
        let mut h = self.activated(|relu| ddpm_kernels::linear_of_cat(first, x_t, time, relu));
        for layer in others {
            h = self.activated(|relu| if relu { ddpm_kernels::linear_relu(layer, h) } else { ddpm_kernels::linear(layer, h) });
        }
        ddpm_kernels::linear(last, h)
    }

    /// The activation after a hidden layer, given the layer as a function of whether to fuse a ReLU into it.
    fn activated(&self, layer: impl FnOnce(bool) -> Tensor<2>) -> Tensor<2> {
        match self.activation {
            Activation::Relu => layer(true),
            other => other.apply(layer(false)),
        }
    }
}

impl Denoiser<2> for Mlp {
    fn predict(&self, x_t: Tensor<2>, timesteps: &[usize], _classes: Option<&[usize]>) -> Tensor<2> {
        self.forward(x_t, timesteps)
    }
}
