use burn::config::Config;
use burn::tensor::{Tensor, activation};

/// The nonlinearity between hidden layers.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Silu,
    Gelu,
    Tanh,
}

impl Activation {
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => activation::relu(x),
            Self::Silu => activation::silu(x),
            Self::Gelu => activation::gelu(x),
            Self::Tanh => activation::tanh(x),
        }
    }
}
