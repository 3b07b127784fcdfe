//! An exponential moving average of the weights, the copy diffusion models sample from
//! (Ho et al. use decay 0.9999). Burn has none, so a visitor collects the online weights and a
//! mapper blends them into the average, matching parameters by `ParamId` (which `valid()`,
//! optimiser steps and loading from a checkpoint all preserve).

use burn::config::Config;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use burn::tensor::container::TensorContainer;

/// How the average follows the online weights.
#[derive(Config, Debug, PartialEq)]
pub struct EmaConfig {
    /// The decay once warmed up: each step keeps this fraction of the average.
    #[config(default = 0.999)]
    pub decay: f64,
    /// Ramp the decay as `min(decay, (1 + step) / (10 + step))`, so the average forgets the random
    /// initial weights quickly in short runs.
    #[config(default = true)]
    pub warmup: bool,
}

impl EmaConfig {
    /// The decay applied after 0-based optimiser step `step`.
    pub fn decay_at(&self, step: usize) -> f64 {
        if self.warmup { self.decay.min((1.0 + step as f64) / (10.0 + step as f64)) } else { self.decay }
    }
}

/// Returns `decay * ema + (1 - decay) * online`, parameter by parameter. `ema` lives on a plain
/// (non-autodiff) device; `online` may be the autodiff model.
pub fn ema_update<M: Module>(ema: M, online: &M, decay: f64) -> M {
    let mut collect = Collect(TensorContainer::new());
    online.visit(&mut collect);
    ema.map(&mut Blend { online: collect.0, decay })
}

struct Collect(TensorContainer<ParamId>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.register(param.id, param.val().detach().without_autodiff());
    }
}

struct Blend {
    online: TensorContainer<ParamId>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(online) = self.online.remove::<Tensor<D>>(&param.id) else {
            panic!("EMA and online model differ: parameter {} has no online counterpart", param.id)
        };
        let decay = self.decay;
        param.map(|ema| ema.mul_scalar(decay) + online.mul_scalar(1.0 - decay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    #[test]
    fn decay_warms_up_then_holds() {
        let ema = EmaConfig::new();
        assert!((ema.decay_at(0) - 0.1).abs() < 1e-12);
        assert!((ema.decay_at(90) - 0.91).abs() < 1e-12);
        assert_eq!(ema.decay_at(1_000_000), 0.999);
        assert_eq!(EmaConfig::new().with_warmup(false).decay_at(0), 0.999);
    }

    #[test]
    fn blends_each_parameter_with_its_online_counterpart() {
        let device = Device::flex();
        let online: Linear = LinearConfig::new(2, 3).init(&device);
        let ema = online.clone().map(&mut Fill(0.0));
        let online = online.map(&mut Fill(1.0));
        let ema = ema_update(ema, &online, 0.75);
        let weight: Vec<f32> = ema.weight.val().into_data().try_into_vec().unwrap();
        assert!(weight.iter().all(|&w| (w - 0.25).abs() < 1e-7), "{weight:?}");
    }

    struct Fill(f32);
    impl ModuleMapper for Fill {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let value = self.0;
            param.map(|t| t.zeros_like().add_scalar(value))
        }
    }
}
