//! `mnist-train bench`: the U-Net workloads of `../shared/bench/torch/mnist_unet.py` (and, for
//! `--network unet2d`, of `xtask/torch/unet2d_diffusers.py`; for `--pipeline`, of
//! `xtask/torch/cifar10_diffusers.py --workload train`), timed with the
//! project's own code paths and printed as the same JSON lines, so `cargo xtask bench` can put the
//! two side by side.

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use ddpm_core::{BetaSchedule, NamedSchedule, NoiseRng, NoiseSchedule, Prediction};
use ddpm_nets::{ImageNetwork, ImageNetworkTask, NetworkConfig};
use ddpm_run::{DiffusersPipeline, Execution, Stopwatch, peak_memory_mib};
use ddpm_sample::{DdimSampler, DdpmSampler, Sampler, SamplingChain, Spacing, StepMemory, VarianceType};
use ddpm_train::{TrainConfig, Trainer};
use serde_json::json;

use crate::cli::BenchArgs;
use crate::run;

pub fn run(args: &BenchArgs, device: &Device, execution: Execution) -> anyhow::Result<()> {
    let network = match &args.pipeline {
        Some(folder) => NetworkConfig::UNet2D(DiffusersPipeline::open(folder)?.unet),
        None => run::new_run(args.network, NamedSchedule::Linear, 1000, Prediction::Epsilon, 0, false).network,
    };
    network.run_image_task(BenchTask { args, network: &network, device, execution })?
}

/// The timings of the benchmark's network, whatever its type.
struct BenchTask<'a> {
    args: &'a BenchArgs,
    network: &'a NetworkConfig,
    device: &'a Device,
    execution: Execution,
}

impl ImageNetworkTask for BenchTask<'_> {
    type Output = anyhow::Result<()>;

    fn run<N: ImageNetwork>(self) -> Self::Output {
        bench::<N>(self.args, self.network, self.device, self.execution)
    }
}

/// The timings of `network`, of type `N`.
fn bench<N: ImageNetwork>(args: &BenchArgs, network: &NetworkConfig, device: &Device, execution: Execution) -> anyhow::Result<()> {
    // The reference recipe: linear T = 1000, AdamW lr 2e-4 with PyTorch's weight decay 0.01,
    // global-norm clipping at 1, no EMA. Data: N(0, 1) images (the speed does not depend on the pixels).
    let schedule = NoiseSchedule::new(&BetaSchedule::ddpm_linear(), 1000)?;
    let [channels, _, size] = network.image_io().expect("an image network");
    let autodiff = device.clone().autodiff();
    autodiff.seed(0);
    let config = TrainConfig::new().with_learning_rate(2e-4).with_weight_decay(0.01).with_grad_clip_norm(Some(1.0));
    let model = N::init_from(network, &autodiff).map_err(anyhow::Error::msg)?;
    let mut trainer = Trainer::new(model, &schedule, &config)?.with_execution(execution);
    let mut data = NoiseRng::new(1);
    emit(json!({"kind": "model", "n_params": trainer.model.num_params()}));

    let batch = args.train_batch;
    let watch = Stopwatch::start();
    let mut times = Vec::new();
    for i in 0..args.warmup + args.train_steps.max(1) {
        let x0 = data.normal([batch, channels, size, size], &autodiff);
        let started = Instant::now();
        let loss = trainer.step(x0).into_scalar::<f32>(); // reading the loss waits for the step
        if i >= args.warmup {
            times.push(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(loss.is_finite(), "the benchmark's loss became {loss}");
    }
    let step = median(&mut times);
    emit(json!({"kind": "bench_train", "batch": batch, "measured_steps": args.train_steps, "median_step_s": step,
        "train_images_per_s": batch as f64 / step, "cpu_util": watch.stop().cpu_utilisation, "peak_rss_mib": peak_memory_mib()}));

    let model: N = trainer.model.clone().valid();
    let batch = args.forward_batch;
    let x = data.normal([batch, channels, size, size], device);
    let timesteps = data.uniform_indices(batch, 1000);
    let watch = Stopwatch::start();
    let mut times = Vec::new();
    for i in 0..args.warmup + args.forward_reps.max(1) {
        let started = Instant::now();
        let _ = model.predict(x.clone(), &timesteps, None).into_data();
        if i >= args.warmup {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    let forward = median(&mut times);
    emit(json!({"kind": "bench_forward", "batch": batch, "measured": args.forward_reps, "median_s": forward,
        "forward_images_per_s": batch as f64 / forward, "cpu_util": watch.stop().cpu_utilisation, "peak_rss_mib": peak_memory_mib()}));

    // DDPM and DDIM-50 over their first K steps, extrapolated to the whole chain when K is smaller.
    let shape = [64, channels, size, size];
    let chain = SamplingChain::new(execution);
    let ddpm = DdpmSampler::new(&schedule, VarianceType::Beta);
    let k = args.sample_steps.clamp(1, 1000);
    let watch = Stopwatch::start();
    let _ =
        chain.run(&Prefix { inner: &ddpm, steps: k }, &model, shape, None, &mut NoiseRng::new(2), device, |_, _| {}).samples.into_data();
    let timing = watch.stop();
    emit(json!({"kind": "bench_sample", "images": 64, "steps_measured": k, "measured_wall_s": timing.seconds,
        "s_per_step": timing.seconds / k as f64, "extrapolated_1000_step_wall_s": timing.seconds / k as f64 * 1000.0,
        "extrapolated": k < 1000, "cpu_util": timing.cpu_utilisation, "peak_rss_mib": peak_memory_mib()}));
    let ddim = DdimSampler::new(&schedule, 50, Spacing::Leading);
    let k = args.ddim_steps.clamp(1, 50);
    let watch = Stopwatch::start();
    let _ =
        chain.run(&Prefix { inner: &ddim, steps: k }, &model, shape, None, &mut NoiseRng::new(3), device, |_, _| {}).samples.into_data();
    let timing = watch.stop();
    emit(json!({"kind": "bench_ddim", "images": 64, "steps_measured": k, "measured_wall_s": timing.seconds,
        "extrapolated_50_step_wall_s": timing.seconds / k as f64 * 50.0, "extrapolated": k < 50, "cpu_util": timing.cpu_utilisation}));
    emit(json!({"kind": "end", "peak_rss_mib": peak_memory_mib()}));
    Ok(())
}

fn emit(line: serde_json::Value) {
    println!("{line}");
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The first `steps` steps of a sampler: the real code path, cut short for timing.
struct Prefix<'a, P> {
    inner: &'a P,
    steps: usize,
}

impl<P: Sampler> Sampler for Prefix<'_, P> {
    fn timesteps(&self) -> &[usize] {
        &self.inner.timesteps()[..self.steps]
    }

    fn step_mean_at<const D: usize>(&self, position: usize, x_t: Tensor<D>, output: Tensor<D>, memory: &mut StepMemory<D>) -> Tensor<D> {
        self.inner.step_mean_at(position, x_t, output, memory)
    }

    fn noise_std_at(&self, position: usize) -> f64 {
        self.inner.noise_std_at(position)
    }

    fn learned_noise_std_at<const D: usize>(&self, position: usize, x_t: &Tensor<D>, output: &Tensor<D>) -> Option<Tensor<D>> {
        self.inner.learned_noise_std_at(position, x_t, output)
    }
}
