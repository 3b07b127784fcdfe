//! The image-training machinery on a tiny U-Net: global-norm clipping, exact resume from a
//! checkpoint, what happens when the loss diverges, data-parallel batch slices, and the project's
//! kernels against Burn's ops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{BetaSchedule, NoiseSchedule};
use ddpm_data::ShuffledBatches;
use ddpm_exec::Execution;
use ddpm_nets::{BlockStyle, UNet, UNetConfig};
use ddpm_train::{
    EmaConfig, FitEnd, FitHooks, FitPlan, LossWeighting, LrSchedule, NoHooks, TrainConfig, TrainError, Trainer, clip_global_norm, fit,
    read_state,
};

/// Every parameter's values, in visiting order.
fn weights<M: Module>(model: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

#[test]
fn clipping_scales_all_gradients_together_to_the_global_norm() {
    let device = Device::flex().autodiff();
    let model: Linear = {
        let _guard = BURN_RNG.lock().unwrap();
        let model = LinearConfig::new(3, 2).init(&device);
        weights(&model); // parameters are initialised lazily, on first read
        model
    };
    let x = Tensor::<2>::from_data(TensorData::new(vec![10.0f32, -20.0, 30.0, 5.0, 1.0, -7.0], [2, 3]), &device);
    let loss = model.forward(x).square().sum();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let raw = |g: &GradientsParams| -> Vec<f32> {
        let w: Vec<f32> = g.get::<2>(model.weight.id).unwrap().into_data().try_into_vec().unwrap();
        let b: Vec<f32> = g.get::<1>(model.bias.as_ref().unwrap().id).unwrap().into_data().try_into_vec().unwrap();
        w.into_iter().chain(b).collect()
    };
    let before = raw(&grads);
    let norm = before.iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!(norm > 10.0, "the test needs a large gradient: {norm}");

    let (clipped, reported) = clip_global_norm(grads, &model, 1.0);
    let reported = reported.unwrap().into_scalar::<f32>() as f64;
    assert!((reported - norm).abs() < 1e-3 * norm, "{reported} vs {norm}");
    let after = raw(&clipped);
    let new_norm = after.iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!((new_norm - 1.0).abs() < 1e-4, "global norm after clipping: {new_norm}");
    // One common factor: the direction is kept (per-tensor clipping would change it).
    for (a, b) in after.iter().zip(&before) {
        assert!((*a as f64 - *b as f64 / norm).abs() < 1e-5, "{a} vs {}", *b as f64 / norm);
    }
}

/// Guards flex's process-wide RNG: tests run in parallel, and a model initialised in one test between
/// another's seeding and its initialisation would shift that test's weights.
static BURN_RNG: Mutex<()> = Mutex::new(());

/// Seeds Burn's process-wide RNG and builds the model under [`BURN_RNG`].
fn tiny_unet(device: &Device, seed: u64) -> UNet {
    tiny_unet_of(BlockStyle::ConvNormAct, device, seed)
}

fn tiny_unet_of(block: BlockStyle, device: &Device, seed: u64) -> UNet {
    let _guard = BURN_RNG.lock().unwrap();
    device.seed(seed);
    let config = UNetConfig::small(1, 8).with_base_channels(8).with_channel_mults(vec![1]).with_mid_mult(2).with_num_steps(50);
    let model = config.with_block(block).with_groups(4).init(device);
    let materialised = weights(&model);
    assert!(!materialised.is_empty());
    model
}

fn config(steps: usize) -> TrainConfig {
    TrainConfig::new()
        .with_steps(steps)
        .with_batch_size(Some(4))
        .with_learning_rate(2e-3)
        .with_lr_schedule(LrSchedule::Cosine { warmup_steps: 2, min_lr: 1e-4 })
        .with_grad_clip_norm(Some(1.0))
        .with_ema(Some(EmaConfig::new().with_decay(0.9)))
        .with_seed(7)
        .with_log_every(1)
}

fn images() -> Arc<[f32]> {
    (0..16 * 64).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect()
}

fn batch_stream(first_step: usize, device: &Device) -> impl FnMut() -> Tensor<4> {
    let mut batches = ShuffledBatches::new(images(), 64, 4, 3, first_step as u64);
    let device = device.clone();
    move || Tensor::from_data(TensorData::new(batches.next().unwrap().values, [4, 1, 8, 8]), &device)
}

/// Sets the stop flag once the trainer reaches `at` steps, as Ctrl-C would.
struct StopAt {
    at: usize,
    flag: Arc<AtomicBool>,
}

impl<M> FitHooks<M> for StopAt {
    fn after_step(&mut self, trainer: &Trainer<M>) -> Result<(), TrainError> {
        if trainer.step_count() == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[test]
fn an_interrupted_and_resumed_run_matches_an_uninterrupted_one() {
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 50).unwrap();
    let steps = 6;

    let mut whole = Trainer::new(tiny_unet(&device, 1), &schedule, &config(steps)).unwrap();
    let (whole_history, end) =
        fit(&mut whole, batch_stream(0, &device), &FitPlan { batch_size: 4, run: (), ..FitPlan::default() }, &mut NoHooks).unwrap();
    assert_eq!(end, FitEnd::Finished);

    let run_dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let plan = FitPlan {
        run_dir: Some(run_dir.path().into()),
        stop: Some(stop.clone()),
        batch_size: 4,
        run: serde_json::json!({"note": "test"}),
        ..FitPlan::default()
    };
    let mut first = Trainer::new(tiny_unet(&device, 1), &schedule, &config(steps)).unwrap();
    let (first_history, end) = fit(&mut first, batch_stream(0, &device), &plan, &mut StopAt { at: 3, flag: stop.clone() }).unwrap();
    assert_eq!((end, first.step_count()), (FitEnd::Stopped, 3));
    let (_, state) = read_state::<serde_json::Value>(run_dir.path()).unwrap();
    assert_eq!((state.step, state.run["note"].as_str()), (3, Some("test")), "the stop wrote a checkpoint");

    // A fresh process: different initial weights, which the checkpoint must overwrite.
    stop.store(false, Ordering::SeqCst);
    let resumed = Trainer::new(tiny_unet(&device, 99), &schedule, &config(steps)).unwrap();
    let mut resumed = resumed.resume(run_dir.path()).unwrap();
    assert_eq!(resumed.step_count(), 3);
    let (second_history, end) = fit(&mut resumed, batch_stream(3, &device), &plan, &mut NoHooks).unwrap();
    assert_eq!(end, FitEnd::Finished);

    let losses = |h: &ddpm_train::LossHistory| h.records.iter().map(|r| (r.step, r.loss)).collect::<Vec<_>>();
    let joined: Vec<_> = losses(&first_history).into_iter().chain(losses(&second_history)).collect();
    assert_eq!(joined, losses(&whole_history), "the same loss curve, step for step");
    assert_eq!(weights(&resumed.model), weights(&whole.model), "the same final weights");
    assert_eq!(weights(resumed.ema.as_ref().unwrap()), weights(whole.ema.as_ref().unwrap()), "the same EMA");
    let metrics = std::fs::read_to_string(run_dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), steps, "metrics.jsonl has each step once");
}

#[test]
fn a_diverged_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 50).unwrap();
    let run_dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(tiny_unet(&device, 2), &schedule, &config(10)).unwrap();
    let mut clean = batch_stream(0, &device);
    let mut calls = 0;
    // The fifth batch holds a NaN.
    let batches = || {
        calls += 1;
        let batch = clean();
        if calls == 5 { batch.mul_scalar(f32::NAN) } else { batch }
    };
    let plan = FitPlan { run_dir: Some(run_dir.path().into()), checkpoint_every: Some(2), batch_size: 4, run: (), ..FitPlan::default() };
    let err = fit(&mut trainer, batches, &plan, &mut NoHooks).unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { step: 4, last_checkpoint: Some(4), .. }), "{err}");
    assert!(err.to_string().contains("The checkpoint of step 4, before it, is intact"), "{err}");
    let (_, state) = read_state::<serde_json::Value>(run_dir.path()).unwrap();
    assert_eq!(state.step, 4, "the checkpoint from before the NaN is kept");
}

#[test]
fn a_batch_cut_into_slices_takes_the_same_steps_as_the_whole_batch() {
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 50).unwrap();
    let train = |slices: usize, weighting: LossWeighting| {
        // A large epsilon keeps AdamW linear in the gradient: with the default 1e-8, its first step moves every
        // weight by about +-lr whatever the gradient's size, so the rounding noise in gradients that are
        // nearly zero would flip whole steps and hide what this test compares.
        let config = config(3).with_loss_weighting(weighting).with_adam_epsilon(1.0);
        let mut trainer =
            Trainer::new(tiny_unet(&device, 3), &schedule, &config).unwrap().with_execution(Execution::default().with_slices(slices));
        let mut batches = batch_stream(0, &device);
        let losses: Vec<f32> = (0..3).map(|_| trainer.step(batches()).into_scalar::<f32>()).collect();
        (losses, weights(&trainer.model))
    };
    let weights_of_fresh = weights(&tiny_unet(&device, 3));
    for weighting in [LossWeighting::Uniform, LossWeighting::MinSnr { gamma: 5.0 }] {
        let (whole_losses, whole_weights) = train(1, weighting);
        // Two even slices, and three uneven ones (4 examples: 2 + 1 + 1; on fewer than 3 cores they run on
        // the slices' own threads, the toy's path).
        for slices in [2, 3] {
            let (losses, weights) = train(slices, weighting);
            for (a, b) in losses.iter().zip(&whole_losses) {
                assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "{weighting:?}, {slices} slices: loss {a} vs {b}");
            }
            let worst = weights.iter().zip(&whole_weights).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-5, "{weighting:?}, {slices} slices: weights differ by up to {worst}");
            assert_ne!(weights, weights_of_fresh, "the steps moved the weights");
        }
    }
}

/// A whole U-Net training step through the kernels (conv by GEMM, fused GroupNorm + SiLU) equals one
/// through Burn's ops: the losses and the weights after 3 AdamW steps, for every block style.
#[test]
fn the_kernels_take_the_same_training_steps_as_burns_ops() {
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 50).unwrap();
    for block in [BlockStyle::ConvNormAct, BlockStyle::DoubleConv, BlockStyle::Residual] {
        let train = || {
            // AdamW kept linear in the gradient (see the slices test), so the weights compare the gradients.
            let config = config(3).with_adam_epsilon(1.0);
            let mut trainer = Trainer::new(tiny_unet_of(block, &device, 4), &schedule, &config).unwrap();
            let mut batches = batch_stream(0, &device);
            let losses: Vec<f32> = (0..3).map(|_| trainer.step(batches()).into_scalar::<f32>()).collect();
            (losses, weights(&trainer.model))
        };
        let initial = weights(&tiny_unet_of(block, &device, 4));
        let (losses, trained) = train();
        let (reference_losses, reference) = ddpm_kernels::with_burn_ops(train);
        for (a, b) in losses.iter().zip(&reference_losses) {
            assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "{block:?}: loss {a} vs {b}");
        }
        // The updates, not the weights: they are small beside the weights, and rounding makes the two
        // paths' gradients differ by about 1e-6 relative.
        let update = |w: &[f32]| w.iter().zip(&initial).map(|(a, b)| a - b).collect::<Vec<_>>();
        let (update, reference_update) = (update(&trained), update(&reference));
        let scale = reference_update.iter().fold(0.0f32, |m, u| m.max(u.abs()));
        let worst = update.iter().zip(&reference_update).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(scale > 0.0 && worst <= 1e-3 * scale, "{block:?}: updates up to {scale:e} differ by up to {worst:e}");
    }
}

/// Sampling through the kernels (no autodiff) matches Burn's ops: DDIM (deterministic) and DDPM
/// (ancestral, the same counter-based noise) from a lightly trained tiny U-Net of each block style.
#[test]
fn the_kernels_sample_what_burns_ops_sample() {
    use ddpm_core::NoiseRng;
    use ddpm_sample::{DdimSampler, DdpmSampler, Sampler, Spacing, VarianceType};
    let device = Device::flex().autodiff();
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 50).unwrap();
    let plain = device.clone().inner();
    for block in [BlockStyle::ConvNormAct, BlockStyle::DoubleConv, BlockStyle::Residual] {
        let mut trainer = Trainer::new(tiny_unet_of(block, &device, 5), &schedule, &config(2)).unwrap();
        let mut batches = batch_stream(0, &device);
        (0..2).for_each(|_| drop(trainer.step(batches())));
        let model = trainer.sampling_model();
        let (shape, seed) = ([3, 1, 8, 8], 9);
        let values = |x: Tensor<4>| x.into_data().try_into_vec::<f32>().unwrap();
        let draw = || {
            let ddim =
                DdimSampler::new(&schedule, 5, Spacing::Leading).sample(&model, shape, &mut NoiseRng::new(seed), &plain, None, |_, _| {});
            let ddpm =
                DdpmSampler::new(&schedule, VarianceType::Beta).sample(&model, shape, &mut NoiseRng::new(seed), &plain, None, |_, _| {});
            [values(ddim.samples), values(ddpm.samples)]
        };
        let reference = ddpm_kernels::with_burn_ops(draw);
        for ((name, samples), reference) in ["DDIM-5", "DDPM-50"].iter().zip(draw()).zip(reference) {
            let worst = samples.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-4, "{block:?}, {name}: samples differ by up to {worst}");
        }
    }
}
