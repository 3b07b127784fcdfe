//! A check every weight loader runs: a network whose weights hold NaN or inf predicts NaN everywhere,
//! and its samples are garbage that would otherwise be written as good.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// The path (`down.0.blocks.1.conv1.weight`) of the first parameter of `model` holding a NaN or an
/// infinity, and how many such values it holds; `None` when every value is finite. Reads every
/// parameter back to the host once.
pub fn non_finite_parameter<M: Module>(model: &M) -> Option<(String, usize)> {
    let mut finder = NonFinite::default();
    model.visit(&mut finder);
    finder.found
}

#[derive(Default)]
struct NonFinite {
    path: Vec<String>,
    found: Option<(String, usize)>,
}

impl ModuleVisitor for NonFinite {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.found.is_some() {
            return;
        }
        let data = param.val().into_data().convert::<f32>();
        let bad = data.iter::<f32>().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            self.found = Some((self.path.join("."), bad));
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    use super::*;

    #[derive(Module, Debug)]
    struct TwoLayers {
        first: Linear,
        second: Linear,
    }

    #[test]
    fn the_first_non_finite_parameter_is_named_by_its_path() {
        let device = Device::flex();
        let layer = || LinearConfig::new(2, 3).init(&device);
        let model = TwoLayers { first: layer(), second: layer() };
        assert_eq!(non_finite_parameter(&model), None);
        let mut second = model.second.clone();
        second.bias = Some(Param::from_tensor(Tensor::from_floats([0.5, f32::NAN, f32::INFINITY], &device)));
        let model = TwoLayers { second, ..model };
        assert_eq!(non_finite_parameter(&model), Some(("second.bias".to_string(), 2)));
    }
}
