//! Real (short) training runs of the MLP on 1-D Gaussian data.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::Mutex;

use ddpm_core::{BetaSchedule, ModelVariance, NoiseRng, NoiseSchedule, Prediction};
use ddpm_exec::Execution;
use ddpm_nets::{Mlp, MlpConfig, TimeEncoding};
use ddpm_sample::{DdpmSampler, Estimator, Sampler, VarianceType};
use ddpm_train::{FitEnd, FitPlan, LrSchedule, NoHooks, TrainConfig, TrainError, Trainer, fit, train};

fn gaussian_data(n: usize, mean: f32, std: f32, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = NoiseRng::new(100).normal_vec(n).into_iter().map(|z| mean + std * z).collect();
    Tensor::from_data(TensorData::new(values, [n, 1]), device)
}

/// Seeds the backend and initialises a model while holding a lock: Burn's `Device::seed` sets a
/// process-wide RNG, which tests running in parallel would otherwise draw from in any order.
/// Parameters are initialised lazily, so they are read once inside the lock.
fn init(config: MlpConfig, device: &Device, seed: u64) -> Mlp {
    struct Materialise;
    impl ModuleVisitor for Materialise {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock().unwrap();
    device.seed(seed);
    let model = config.init(device);
    model.visit(&mut Materialise);
    model
}

fn quiet(steps: usize) -> TrainConfig {
    TrainConfig::new().with_steps(steps)
}

/// Trains the MLP on N(3, 2^2) (learning its variance too when `variance` says so) and samples 4000 values
/// with DDPM (sigma_t^2 = beta_t unless learned). Returns the mean loss of the first 5 and last 100
/// steps, and the samples' mean and standard deviation.
fn train_and_sample(variance: ModelVariance) -> (f32, f32, f64, f64) {
    let device = Device::flex().autodiff();
    let steps = 200;
    let schedule = NoiseSchedule::new(&BetaSchedule::Linear { start: 1e-3, end: 0.1 }, steps).unwrap();
    let config = MlpConfig::new()
        .with_num_steps(steps)
        .with_time_encoding(TimeEncoding::Sinusoidal { dim: 16 })
        .with_out_dim(Some(variance.output_channels(1)));
    let model = init(config, &device, 0);
    let config = quiet(1500)
        .with_batch_size(Some(256))
        .with_learning_rate(3e-3)
        .with_lr_schedule(LrSchedule::Cosine { warmup_steps: 0, min_lr: 1e-4 })
        .with_variance(variance);
    let trained =
        train(model, gaussian_data(1000, 3.0, 2.0, &device), &schedule, &config, &device, Execution::default(), &mut NoHooks).unwrap();
    let first = trained.history.records[..5].iter().map(|r| r.loss).sum::<f32>() / 5.0;
    let last = trained.history.recent_mean(100).unwrap();

    let plain = Device::flex();
    let model = trained.model.valid();
    let n = 4000;
    let estimator = Estimator::new(&schedule, Prediction::Epsilon).with_variance(variance);
    let sampler = DdpmSampler::with_estimator(estimator, VarianceType::Beta);
    let samples = sampler.sample(&model, [n, 1], &mut NoiseRng::new(1), &plain, None, |_, _| {});
    let values: Vec<f32> = samples.samples.into_data().try_into_vec::<f32>().unwrap();
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let std = (values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    (first, last, mean, std)
}

#[test]
fn trained_mlp_samples_land_near_the_target() {
    let (first, last, mean, std) = train_and_sample(ModelVariance::Fixed);
    // An untrained net predicts about 0, so its loss starts near E[eps^2] = 1.
    assert!(last < 0.8 * first, "the loss must fall: {first} -> {last}");
    // An untrained net gives roughly N(0, 1); the target is N(3, 2^2).
    assert!((mean - 3.0).abs() < 0.3, "sample mean {mean}");
    assert!((std - 2.0).abs() < 0.3, "sample std {std}");
}

#[test]
fn an_mlp_that_learns_its_variance_samples_the_target_with_it() {
    // L_hybrid: the untrained variance output (v near 0) starts between the two fixed variances, where
    // the L_vlb term is well above 0; both parts fall.
    let (first, last, mean, std) = train_and_sample(ModelVariance::LearnedRange);
    assert!(last < 0.8 * first, "the loss must fall: {first} -> {last}");
    assert!((mean - 3.0).abs() < 0.3, "sample mean {mean}");
    assert!((std - 2.0).abs() < 0.3, "sample std {std}");
}

#[test]
fn training_is_reproducible_from_the_seed() {
    let run = || {
        let device = Device::flex().autodiff();
        let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100).unwrap();
        let model = init(MlpConfig::new().with_hidden(vec![16]).with_num_steps(100), &device, 4);
        let trained = train(
            model,
            gaussian_data(64, 0.0, 1.0, &device),
            &schedule,
            &quiet(20).with_log_every(7),
            &device,
            Execution::default(),
            &mut NoHooks,
        )
        .unwrap();
        trained.history.records.iter().map(|r| r.loss).collect::<Vec<f32>>()
    };
    let losses = run();
    assert_eq!(losses.len(), 20, "every step is logged, across partial chunks");
    assert_eq!(losses, run());
}

#[test]
fn non_finite_data_stops_training_with_a_clear_error() {
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 10).unwrap();
    let model = init(MlpConfig::new().with_hidden(vec![8]).with_num_steps(10), &device, 1);
    let data = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, f32::NAN], [2, 1]), &device);
    let err = train(model, data, &schedule, &quiet(3), &device, Execution::default(), &mut NoHooks).unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { step: 0, last_checkpoint: None, .. }), "{err:?}");
    assert!(err.to_string().contains("diverged") && err.to_string().contains("No checkpoint was written"), "{err}");
}

#[test]
fn bad_settings_are_clear_errors() {
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 10).unwrap();
    let model = || init(MlpConfig::new().with_hidden(vec![8]).with_num_steps(10), &device, 2);
    let data = gaussian_data(4, 0.0, 1.0, &device);
    let empty = Tensor::<2>::zeros([0, 1], &device);
    assert_eq!(
        train(model(), empty, &schedule, &quiet(1), &device, Execution::default(), &mut NoHooks).unwrap_err(),
        TrainError::EmptyDataset
    );
    assert_eq!(
        train(model(), data.clone(), &schedule, &quiet(1).with_batch_size(Some(0)), &device, Execution::default(), &mut NoHooks)
            .unwrap_err(),
        TrainError::ZeroBatch
    );
    let err =
        train(model(), data, &schedule, &quiet(1).with_learning_rate(f64::NAN), &device, Execution::default(), &mut NoHooks).unwrap_err();
    assert!(matches!(err, TrainError::InvalidSetting { field: "learning_rate", .. }), "{err}");
}

#[test]
fn cosine_schedule_warms_up_then_decays_to_the_floor() {
    let lr = LrSchedule::Cosine { warmup_steps: 10, min_lr: 1e-5 };
    assert!((lr.at(0, 110, 1e-3) - 1e-4).abs() < 1e-12);
    assert!((lr.at(9, 110, 1e-3) - 1e-3).abs() < 1e-12);
    assert!((lr.at(10, 110, 1e-3) - 1e-3).abs() < 1e-12);
    assert!((lr.at(60, 110, 1e-3) - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-12);
    assert!(lr.at(109, 110, 1e-3) < 1.1e-5);
    assert_eq!(LrSchedule::Constant.at(50, 100, 0.1), 0.1);
}

#[test]
fn the_loss_is_on_the_configured_prediction_target() {
    // A network with every weight zero outputs 0, so the first step's loss is the mean square of the target:
    // with x_0 = 2 everywhere, exactly 4 for x_0 prediction, about E[eps^2] = 1 for eps prediction, and for v
    // the mean of (sqrt(abar) eps - 2 sqrt(1 - abar))^2, which is neither.
    struct Zero;
    impl ModuleMapper for Zero {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.zeros_like().require_grad())
        }
    }
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100).unwrap();
    let first_loss = |prediction: Prediction| {
        let model = init(MlpConfig::new().with_hidden(vec![8]).with_num_steps(100), &device, 3).map(&mut Zero);
        let data = Tensor::<2>::full([256, 1], 2.0, &device);
        let config = quiet(1).with_prediction(prediction);
        train(model, data, &schedule, &config, &device, Execution::default(), &mut NoHooks).unwrap().history.records[0].loss
    };
    let (eps, x0, v) = (first_loss(Prediction::Epsilon), first_loss(Prediction::Sample), first_loss(Prediction::V));
    assert!((x0 - 4.0).abs() < 1e-5, "x_0 target: {x0}");
    assert!((eps - 1.0).abs() < 0.3, "eps target: {eps}");
    assert!((v - eps).abs() > 0.05 && (v - x0).abs() > 0.05, "v target: {v} (eps {eps}, x_0 {x0})");
}

#[test]
fn a_run_bounded_by_time_ends_with_its_learning_rate_annealed() {
    // A million steps cannot fit in two seconds: the plan must shrink to what does, so the cosine reaches
    // its floor near the end of the time, not a millionth of the way in.
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 100).unwrap();
    let model = init(MlpConfig::new().with_num_steps(100), &device, 0);
    let config =
        quiet(1_000_000).with_batch_size(Some(64)).with_log_every(5).with_lr_schedule(LrSchedule::Cosine { warmup_steps: 0, min_lr: 1e-5 });
    let mut trainer = Trainer::new(model, &schedule, &config).unwrap();
    let data = gaussian_data(64, 0.0, 1.0, &device);
    let plan: FitPlan = FitPlan { time_limit: Some(std::time::Duration::from_secs(2)), batch_size: 64, ..FitPlan::default() };
    let (history, end) = fit(&mut trainer, || data.clone(), &plan, &mut NoHooks).unwrap();
    let last = history.records.last().unwrap();
    assert!(matches!(end, FitEnd::Finished | FitEnd::TimeLimit), "{end:?}");
    assert!(
        trainer.step_count() > 40 && trainer.config().steps < 1_000_000,
        "planned {} steps, took {}",
        trainer.config().steps,
        trainer.step_count()
    );
    assert!(
        last.learning_rate < 0.1 * config.learning_rate,
        "the plan ended at lr {} of a {} peak",
        last.learning_rate,
        config.learning_rate
    );
}
