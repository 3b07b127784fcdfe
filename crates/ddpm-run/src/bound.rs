//! `eval --bpd` in every image app: the variational bound of a run or a diffusers pipeline on held-out
//! images, in bits per dimension (see [`ddpm_sample::VariationalBound`]), with a progress bar.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use ddpm_core::{ModelVariance, NoiseRng};
use ddpm_nets::ImageDenoiser;
use ddpm_sample::{BoundParts, BoundPlan, Estimator, VariationalBound};
use serde::Serialize;

use crate::numbers::count;
use crate::{SampleSource, Weights, progress_bar};

/// The most images `--n` takes for the bound: MNIST's whole test set.
const MAX_BOUND_IMAGES: u64 = 10_000;

/// `eval --bpd`'s flags.
#[derive(Args, Debug, Clone)]
pub struct BoundArgs {
    /// Score the likelihood: the variational bound on -log2 p(x) per dimension (Ho et al. 2020, eq. 5) of
    /// the held-out images under the model in --checkpoint: the prior term, the KL terms of every step and
    /// the decoder's 8-bit likelihood, as improved DDPM's calc_bpd_loop computes them.
    #[arg(long, requires = "checkpoint")]
    pub bpd: bool,
    /// The run folder or diffusers pipeline folder --bpd scores.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Held-out images the bound is averaged over (the first N).
    #[arg(long, default_value_t = 100, value_parser = count(1..=MAX_BOUND_IMAGES))]
    pub n: usize,
    /// Steps per image for the KL terms, drawn uniformly from 1..T: an unbiased estimate of their sum in
    /// K network evaluations per image instead of T - 1 (the prior and decoder terms stay exact).
    /// [default: all T - 1]
    #[arg(long, value_parser = count(1..=ddpm_core::MAX_TIMESTEPS as u64))]
    pub bpd_timesteps: Option<usize>,
    /// Images per network evaluation.
    #[arg(long, default_value_t = 50, value_parser = count(1..=1024))]
    pub bpd_batch: usize,
    /// Which weights of a run to score.
    #[arg(long, value_enum, default_value_t = Weights::Ema)]
    pub weights: Weights,
}

/// What `eval --bpd` reports (and writes as JSON): the bound in bits per dimension, averaged over the
/// images, its standard error over them, and its three parts.
#[derive(Debug, Clone, Serialize)]
pub struct BoundReport {
    pub bits_per_dim: f64,
    /// The standard error of `bits_per_dim` over the images.
    pub stderr: f64,
    pub n: usize,
    /// L_T, KL(q(x_T | x_0) || N(0, I)).
    pub prior_bpd: f64,
    /// The sum of the KL terms of steps t >= 1 (estimated from `timesteps_per_image` when sampled).
    pub kl_bpd: f64,
    /// L_0, -log p(x_0 | x_1) over the 8-bit bins.
    pub decoder_bpd: f64,
    /// Network evaluations per image for the KL terms: T - 1, or --bpd-timesteps.
    pub timesteps_per_image: usize,
    pub timesteps_sampled: bool,
    /// Values per image (C x H x W) the bits are divided by.
    pub dimensions: usize,
    /// The model's reverse variance: learned ("LearnedRange"), or the run's DDPM sampler's fixed one
    /// ("Beta" or "Posterior").
    pub variance: String,
    pub clip_x0: bool,
    /// Whether the bound is conditional on each image's label (p(x | y)).
    pub conditional: bool,
    pub weights: String,
    pub model: PathBuf,
    pub seed: u64,
    pub seconds: f64,
}

impl BoundReport {
    /// Prints the summary and writes the report as JSON to `out`, or to `bpd.json` in the scored
    /// model's folder.
    pub fn print_and_write(&self, out: Option<&Path>) -> anyhow::Result<()> {
        println!("  {}", self.summary());
        let out = out.map_or_else(|| self.model.join("bpd.json"), Path::to_path_buf);
        ddpm_data::write_atomically(&out, serde_json::to_string_pretty(self)?.as_bytes())?;
        println!("  wrote {}", out.display());
        Ok(())
    }

    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let estimate =
            if self.timesteps_sampled { format!(", KL terms from {} steps per image", self.timesteps_per_image) } else { String::new() };
        format!(
            "{:.4} +- {:.4} bits/dim over {} images (prior {:.4}, KL terms {:.4}, decoder {:.4}{estimate})",
            self.bits_per_dim, self.stderr, self.n, self.prior_bpd, self.kl_bpd, self.decoder_bpd
        )
    }
}

/// The bound of `images` (`[N, C, H, W]` row-major, 8-bit data scaled to [-1, 1], the first `args.n`
/// used) under `source`'s model, conditional on `labels` when the model takes classes.
pub fn evaluate_bound<E>(
    source: &SampleSource<E>,
    images: &[f32],
    shape: [usize; 4],
    labels: Option<&[usize]>,
    args: &BoundArgs,
    seed: u64,
    device: &Device,
) -> anyhow::Result<BoundReport> {
    let run = &source.description;
    anyhow::ensure!(
        run.data.range == [-1.0, 1.0],
        "the bound is that of 8-bit images scaled to [-1, 1], but this model's data spans {:?}",
        run.data.range
    );
    let [available, channels, height, width] = shape;
    let n = args.n.min(available);
    anyhow::ensure!(n > 0, "no held-out images to score");
    let dimensions = channels * height * width;
    let schedule = run.noise_schedule()?;
    let estimator = Estimator::new(&schedule, run.prediction).with_variance(run.variance).with_clip_x0(run.sampler.clip_x0);
    let bound = VariationalBound::new(estimator, run.sampler.variance);
    let mut rng = NoiseRng::new(seed);
    let plan = match args.bpd_timesteps {
        Some(k) => {
            anyhow::ensure!(schedule.num_steps() >= 2, "a schedule of one step has no KL terms to sample");
            BoundPlan::sampled(schedule.num_steps(), k, n, &mut rng)
        }
        None => BoundPlan::all(schedule.num_steps(), &mut rng),
    };
    let labels = source.model.classes().and(labels);

    let batches = n.div_ceil(args.bpd_batch);
    let bar = progress_bar(batches * (plan.evaluations() + 1), "bound");
    let started = Instant::now();
    let mut parts = BoundParts::default();
    for first in (0..n).step_by(args.bpd_batch) {
        let rows = args.bpd_batch.min(n - first);
        let values = images[first * dimensions..(first + rows) * dimensions].to_vec();
        let x0 = Tensor::<4>::from_data(TensorData::new(values, [rows, channels, height, width]), device);
        let classes = labels.map(|labels| &labels[first..first + rows]);
        parts.extend(bound.evaluate(&source.model, x0, classes, &plan, first, || bar.inc(1)));
    }
    bar.finish_and_clear();

    let totals = parts.total();
    anyhow::ensure!(totals.iter().all(|v| v.is_finite()), "the bound is not finite: the model's outputs hold NaN or infinity");
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let bits_per_dim = mean(&totals);
    let variance = totals.iter().map(|v| (v - bits_per_dim).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    Ok(BoundReport {
        bits_per_dim,
        stderr: (variance / n as f64).sqrt(),
        n,
        prior_bpd: mean(&parts.prior),
        kl_bpd: mean(&parts.kl),
        decoder_bpd: mean(&parts.decoder),
        timesteps_per_image: plan.evaluations(),
        timesteps_sampled: args.bpd_timesteps.is_some(),
        dimensions,
        variance: match run.variance {
            ModelVariance::LearnedRange => format!("{:?}", run.variance),
            ModelVariance::Fixed => format!("{:?}", run.sampler.variance),
        },
        clip_x0: run.sampler.clip_x0,
        conditional: labels.is_some(),
        weights: source.weights.to_string(),
        model: source.folder.clone(),
        seed,
        seconds: started.elapsed().as_secs_f64(),
    })
}
