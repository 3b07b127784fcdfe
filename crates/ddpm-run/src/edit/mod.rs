//! The editing commands of every image app: `inpaint` (RePaint), `img2img` (SDEdit), `invert` (DDIM
//! inversion) and `interpolate` (slerp between inverted images or noises), on run folders and diffusers
//! pipeline folders alike. Each reads its images in [0, 1], runs a chain of `ddpm-sample`'s editing
//! module with the run's schedule, target and conditioning, and writes `samples.npy` and `grid.png`
//! as `sample` does, plus a figure of what changed.

mod args;
mod input;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use ddpm_core::{NoiseRng, NoiseSchedule};
use ddpm_data::image::{to_unit_range, write_grid};
use ddpm_nets::{AnyImageNetwork, ImageDenoiser};
use ddpm_sample::{
    DdimInversion, DdimSampler, Estimator, Guided, Repaint, RepaintConfig, SamplerConfig, SamplerKind, SamplerTail, SamplingChain,
    infer_classes, slerp,
};
use serde::de::DeserializeOwned;

pub use args::{ClassLabel, EditSource, Img2ImgArgs, InpaintArgs, InterpolateArgs, InvertArgs};
pub use input::{MaskChoice, Side, UnitImages, read_images};

use crate::progress::{progress_bar, sample_with_progress};
use crate::{DiffusersPipeline, Execution, Experiment, RunDescription, SampleSource};

/// The noise levels, as shares of T, at which a conditional model is asked which class it sees. On the
/// default MNIST model with a 12 x 12 hole, these four read 78% of the digits right (two at 0.3 and 0.5:
/// 75%; sixteen from 0.3 to 0.6: 81%; levels below 0.3 T, where the digit shows through, 33%).
const CLASS_PROBE_LEVELS: [f64; 4] = [0.35, 0.45, 0.55, 0.65];

/// A model opened for editing, with what every edit needs beside it.
struct Editor<E> {
    source: SampleSource<E>,
    schedule: NoiseSchedule,
    /// The run's sampler with the command's flags applied.
    sampler: SamplerConfig,
    execution: Execution,
    device: Device,
}

impl<E: DeserializeOwned + Experiment> Editor<E> {
    fn open(
        app: &str,
        args: &EditSource,
        experiment: impl FnOnce(&DiffusersPipeline) -> E,
        device: &Device,
        execution: Execution,
    ) -> anyhow::Result<Self> {
        let source = SampleSource::<E>::open(app, &args.checkpoint, args.sampler.weights, experiment, device)?;
        let schedule = source.description.noise_schedule()?;
        let sampler = args.sampler.apply(&source.description.sampler);
        Ok(Self { source, schedule, sampler, execution, device: device.clone() })
    }

    fn run(&self) -> &RunDescription<E> {
        &self.source.description
    }

    fn model(&self) -> &AnyImageNetwork {
        &self.source.model
    }

    fn estimator(&self) -> Estimator<'_> {
        Estimator::new(&self.schedule, self.run().prediction).with_variance(self.run().variance).with_clip_x0(self.sampler.clip_x0)
    }

    /// The images at `path`, in this model's shape.
    fn read(&self, path: &Path) -> anyhow::Result<UnitImages> {
        let data = &self.run().data;
        read_images(path, data.channels, data.image_size, "--image")
    }

    /// Unit pixels as a tensor in the model's range, `[n, c, h, w]`.
    fn tensor(&self, images: &UnitImages) -> Tensor<4> {
        let values = images.pixels.iter().map(|&p| p * 2.0 - 1.0).collect::<Vec<_>>();
        Tensor::from_data(TensorData::new(values, images.shape), &self.device)
    }

    /// A tensor in the model's range back to unit pixels, refusing NaN and infinities.
    fn unit(&self, x: Tensor<4>) -> anyhow::Result<UnitImages> {
        let shape = x.dims();
        let values: Vec<f32> = x.into_data().try_into_vec().expect("f32 images");
        anyhow::ensure!(
            values.iter().all(|v| v.is_finite()),
            "the model's output holds NaN or infinite values (weights far from any trained model?); nothing was written"
        );
        Ok(UnitImages { pixels: to_unit_range(&values), shape })
    }

    /// The class labels for `n` images and the guidance scale: as `--class` says, or, where `infer` and
    /// the model is conditional, what the model reads in the kept pixels of `images`.
    fn classes(&self, args: &EditSource, n: usize, infer: Option<(&Tensor<4>, &Tensor<4>)>) -> anyhow::Result<Option<Vec<usize>>> {
        let known = self.model().classes();
        match (args.class, known) {
            (Some(ClassLabel::Class(c)), None) => {
                anyhow::bail!("--class {c}: this run was trained unconditionally; drop --class")
            }
            (Some(ClassLabel::Class(c)), Some(count)) if c >= count => {
                anyhow::bail!("--class {c} is out of range: this run knows classes 0 to {}", count - 1)
            }
            (Some(ClassLabel::Class(c)), Some(_)) => Ok(Some(vec![c; n])),
            (Some(ClassLabel::Unconditional), _) | (None, None) => Ok(None),
            (None, Some(count)) => {
                let Some((images, mask)) = infer else { return Ok(None) };
                let t = self.schedule.num_steps() as f64;
                let levels: Vec<usize> = CLASS_PROBE_LEVELS.iter().map(|share| (share * t) as usize).collect();
                let mut rng = NoiseRng::new(args.sampler.seed ^ 0x0063_6c61_7373_6573); // "classes": apart from the edit's draws
                Ok(Some(infer_classes(self.model(), &self.estimator(), images.clone(), mask.clone(), count, &levels, &mut rng)))
            }
        }
    }

    /// The model under classifier-free guidance at the command's scale.
    fn guided(&self, guidance: f64) -> Guided<'_, AnyImageNetwork> {
        Guided::new(self.model(), guidance, self.model().classes().unwrap_or(0))
    }

    /// The output folder: `--out`, or `<checkpoint>/<command>`.
    fn out(&self, args: &EditSource, command: &str) -> anyhow::Result<PathBuf> {
        let out = args.out.clone().unwrap_or_else(|| self.source.folder.join(command));
        ddpm_data::ensure_writable_dir(&out)?;
        Ok(out)
    }
}

/// Refuses `--init-noise` where the command starts from images, not noise.
fn refuse_init_noise(args: &EditSource, command: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.sampler.init_noise.is_none(),
        "--init-noise has no meaning for {command}, which starts from the images; drop it (interpolate takes two noises)"
    );
    Ok(())
}

/// Writes `samples.npy`, `grid.png` and the labels the model was given (`classes.json`) into `out`.
fn write_samples(out: &Path, images: &UnitImages, classes: Option<&[usize]>) -> anyhow::Result<()> {
    let n = images.count();
    write_grid(&out.join("grid.png"), &images.pixels, images.shape, n.isqrt().max(8), 2)?;
    ddpm_data::write_npy_f32(&out.join("samples.npy"), &images.pixels, &images.shape)?;
    let classes_file = out.join("classes.json");
    match classes {
        Some(classes) => ddpm_data::write_atomically(&classes_file, serde_json::to_string(classes)?.as_bytes())?,
        None if classes_file.exists() => std::fs::remove_file(&classes_file)?,
        None => {}
    }
    Ok(())
}

/// A figure of up to 8 examples, one per row, each row the same image index of every set in `columns`.
fn write_rows(path: &Path, columns: &[&UnitImages]) -> anyhow::Result<()> {
    let rows = columns[0].count().min(8);
    let [_, c, h, w] = columns[0].shape;
    let per_image = c * h * w;
    let pixels: Vec<f32> =
        (0..rows).flat_map(|i| columns.iter().flat_map(move |set| set.pixels[i * per_image..][..per_image].to_vec())).collect();
    write_grid(path, &pixels, [rows * columns.len(), c, h, w], columns.len(), 3)?;
    Ok(())
}

fn describe_classes(classes: Option<&[usize]>, guidance: f64, inferred: bool) -> String {
    match classes {
        None => "unconditional".into(),
        Some(classes) if inferred => {
            format!("classes read from the images by the model, guidance {guidance} ({} distinct)", distinct(classes))
        }
        Some(classes) => format!("class {}, guidance {guidance}", classes[0]),
    }
}

fn distinct(classes: &[usize]) -> usize {
    let mut seen = classes.to_vec();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// `inpaint`: RePaint fills the pixels the mask marks 0 and keeps the others exactly.
pub fn inpaint<E: DeserializeOwned + Experiment>(
    app: &str,
    args: &InpaintArgs,
    experiment: impl FnOnce(&DiffusersPipeline) -> E,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<()> {
    let source = &args.source;
    refuse_init_noise(source, "inpaint")?;
    anyhow::ensure!(
        source.sampler.sampler.is_none(),
        "--sampler: inpaint runs RePaint's own chain (DDPM steps with jumps back); set its levels with --steps and its noise with --eta"
    );
    let editor = Editor::open(app, source, experiment, device, execution)?;
    let images = editor.read(&args.image)?;
    let [n, c, size, _] = images.shape;
    let mask_values = args.mask.read(n, c, size)?;
    let config = RepaintConfig::new()
        .with_steps(source.sampler.steps.unwrap_or(RepaintConfig::new().steps))
        .with_jump_length(args.jump_length)
        .with_resamples(args.resamples)
        .with_eta(source.sampler.eta.unwrap_or(RepaintConfig::new().eta));
    let t = editor.schedule.num_steps();
    anyhow::ensure!(config.steps <= t, "--steps {} is more than this model's T = {t} levels", config.steps);
    let known = editor.tensor(&images);
    let mask = Tensor::<4>::from_data(TensorData::new(mask_values.clone(), images.shape), device);
    let out = editor.out(source, "inpaint")?;

    let started = Instant::now();
    let classes = editor.classes(source, n, Some((&known, &mask)))?;
    let repaint = Repaint::new(editor.estimator(), &config, editor.sampler.spacing);
    let bar = progress_bar(repaint.moves().len(), "inpainting");
    let mut rng = NoiseRng::new(source.sampler.seed);
    let filled = repaint.run(&editor.guided(source.guidance), known, mask, classes.as_deref(), &mut rng, execution, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let filled = editor.unit(filled)?;
    let seconds = started.elapsed().as_secs_f64();

    write_samples(&out, &filled, classes.as_deref())?;
    let hidden: Vec<f32> = images.pixels.iter().zip(&mask_values).map(|(&p, &m)| if m == 1.0 { p } else { 0.5 }).collect();
    write_rows(&out.join("inpaint.png"), &[&UnitImages { pixels: hidden, shape: images.shape }, &filled, &images])?;
    println!(
        "{app} inpaint: {n} images, RePaint over {} levels (jumps of {} levels, {} passes, eta {}; {} model evaluations), {}, in {seconds:.1} s",
        config.steps,
        config.jump_length,
        config.resamples,
        config.eta,
        repaint.model_evaluations(),
        describe_classes(classes.as_deref(), source.guidance, source.class.is_none())
    );
    println!("  wrote {}/{{grid.png, samples.npy, inpaint.png (the kept pixels, the completion, the input)}}", out.display());
    Ok(())
}

/// `img2img`: SDEdit at a strength.
pub fn img2img<E: DeserializeOwned + Experiment>(
    app: &str,
    args: &Img2ImgArgs,
    experiment: impl FnOnce(&DiffusersPipeline) -> E,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<()> {
    let source = &args.source;
    refuse_init_noise(source, "img2img")?;
    let editor = Editor::open(app, source, experiment, device, execution)?;
    let images = editor.read(&args.image)?;
    let n = images.count();
    let sampler =
        editor.sampler.init(&editor.schedule, editor.run().parameterization()).map_err(|e| anyhow::anyhow!("{e} (--steps, --eta)"))?;
    let tail = SamplerTail::at_strength(&sampler, args.strength);
    let clean = editor.tensor(&images);
    let out = editor.out(source, "img2img")?;

    let started = Instant::now();
    let everywhere = Tensor::<4>::ones(images.shape, device);
    // At strength 0 the model is never asked: nothing to classify.
    let runs_steps = !ddpm_sample::Sampler::timesteps(&tail).is_empty();
    let classes = editor.classes(source, n, runs_steps.then_some((&clean, &everywhere)))?;
    let start = tail.start(clean, &editor.schedule);
    let chain = SamplingChain::new(execution);
    let mut rng = NoiseRng::new(source.sampler.seed);
    let guided = editor.guided(source.guidance);
    let edited = sample_with_progress("img2img", &chain, &tail, &guided, start, classes.as_deref(), &mut rng, device);
    let edited = editor.unit(edited.samples)?;
    let seconds = started.elapsed().as_secs_f64();

    write_samples(&out, &edited, classes.as_deref())?;
    write_rows(&out.join("img2img.png"), &[&images, &edited])?;
    let steps = ddpm_sample::Sampler::timesteps(&tail).len();
    println!(
        "{app} img2img: {n} images at strength {} ({steps} of the {} steps of {}), {}, in {seconds:.1} s",
        args.strength,
        editor.sampler.chain_length(editor.schedule.num_steps()),
        editor.sampler.describe(editor.schedule.num_steps()),
        describe_classes(classes.as_deref(), source.guidance, source.class.is_none())
    );
    println!("  wrote {}/{{grid.png, samples.npy, img2img.png (the input, the edit)}}", out.display());
    Ok(())
}

/// The DDIM settings inversion and regeneration share: `--steps` (50 unless given), the run's spacing.
fn inversion_steps(source: &EditSource, t: usize) -> anyhow::Result<usize> {
    anyhow::ensure!(
        source.sampler.sampler.is_none_or(|kind| kind == SamplerKind::Ddim),
        "--sampler: inversion runs DDIM (eta 0) forwards; only --sampler ddim applies"
    );
    anyhow::ensure!(source.sampler.eta.is_none_or(|eta| eta == 0.0), "--eta: inversion is deterministic DDIM, eta 0");
    let steps = source.sampler.steps.unwrap_or(DDIM_EDIT_STEPS);
    anyhow::ensure!((1..=t).contains(&steps), "--steps {steps} must be between 1 and this model's T = {t}");
    Ok(steps)
}

/// DDIM steps of `invert` and `interpolate` unless `--steps` says otherwise.
const DDIM_EDIT_STEPS: usize = 50;

impl<E: DeserializeOwned + Experiment> Editor<E> {
    /// x_T of `images` by DDIM inversion over `steps` steps.
    fn invert(&self, images: Tensor<4>, steps: usize, classes: Option<&[usize]>, guidance: f64, seed: u64) -> Tensor<4> {
        let inversion = DdimInversion::new(self.estimator(), steps, self.sampler.spacing);
        let chain = SamplingChain::new(self.execution);
        let guided = self.guided(guidance);
        sample_with_progress("inverting", &chain, &inversion, &guided, images, classes, &mut NoiseRng::new(seed), &self.device).samples
    }

    /// The images DDIM (eta 0, no clipping) draws from `x_t` over `steps` steps: the inverse of [`Editor::invert`].
    fn regenerate(&self, x_t: Tensor<4>, steps: usize, classes: Option<&[usize]>, guidance: f64, seed: u64) -> Tensor<4> {
        let ddim = DdimSampler::with_estimator(self.estimator().with_clip_x0(false), steps, self.sampler.spacing);
        let chain = SamplingChain::new(self.execution);
        let guided = self.guided(guidance);
        sample_with_progress("sampling", &chain, &ddim, &guided, x_t, classes, &mut NoiseRng::new(seed), &self.device).samples
    }
}

/// `invert`: DDIM inversion, writing `x_T.npy`.
pub fn invert<E: DeserializeOwned + Experiment>(
    app: &str,
    args: &InvertArgs,
    experiment: impl FnOnce(&DiffusersPipeline) -> E,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<()> {
    let source = &args.source;
    refuse_init_noise(source, "invert")?;
    let editor = Editor::open(app, source, experiment, device, execution)?;
    let steps = inversion_steps(source, editor.schedule.num_steps())?;
    let images = editor.read(&args.image)?;
    let n = images.count();
    let classes = editor.classes(source, n, None)?;
    let out = editor.out(source, "invert")?;
    let started = Instant::now();
    let x_t = editor.invert(editor.tensor(&images), steps, classes.as_deref(), source.guidance, source.sampler.seed);
    let values: Vec<f32> = x_t.into_data().try_into_vec().expect("f32 noise");
    anyhow::ensure!(values.iter().all(|v| v.is_finite()), "the inversion overflowed (NaN or infinite values); nothing was written");
    let seconds = started.elapsed().as_secs_f64();
    let path = out.join("x_T.npy");
    ddpm_data::write_npy_f32(&path, &values, &images.shape)?;
    let spacing = format!("{:?}", editor.sampler.spacing).to_lowercase();
    println!(
        "{app} invert: {n} images to x_T by DDIM-{steps} ({spacing} spacing) forwards, {}, in {seconds:.1} s",
        describe_classes(classes.as_deref(), source.guidance, false)
    );
    println!("  wrote {}", path.display());
    let class = match (&classes, source.class) {
        (Some(_), Some(ClassLabel::Class(c))) => format!(" --class {c} --guidance {}", source.guidance),
        (None, _) if editor.model().classes().is_some() => " --class none".into(),
        _ => String::new(),
    };
    println!(
        "  regenerate with: {app} sample --checkpoint {} --init-noise {} --sampler ddim --steps {steps} --eta 0 --spacing {spacing} --clip-x0 false{class}",
        source.checkpoint.display(),
        path.display()
    );
    Ok(())
}

/// `interpolate`: images along the great circle between two noises (drawn, given, or two images' inversions).
pub fn interpolate<E: DeserializeOwned + Experiment>(
    app: &str,
    args: &InterpolateArgs,
    experiment: impl FnOnce(&DiffusersPipeline) -> E,
    device: &Device,
    execution: Execution,
) -> anyhow::Result<()> {
    let source = &args.source;
    let editor = Editor::open(app, source, experiment, device, execution)?;
    let steps = inversion_steps(source, editor.schedule.num_steps())?;
    let shape = editor.run().batch_shape(2);
    let classes = editor.classes(source, 2, None)?;
    let (guidance, seed) = (source.guidance, source.sampler.seed);
    let ends: Tensor<4> = match (args.image.as_slice(), source.sampler.read_init_noise(device)?) {
        ([], Some(noise)) => {
            anyhow::ensure!(noise.dims() == shape, "--init-noise holds {:?}; interpolate takes two noises, {shape:?}", noise.dims());
            noise
        }
        ([], None) => NoiseRng::new(seed).normal(shape, device),
        (images, None) => {
            let read: Vec<UnitImages> = images.iter().map(|path| editor.read(path)).collect::<anyhow::Result<_>>()?;
            let pixels: Vec<f32> = read.iter().flat_map(|i| i.pixels.clone()).collect();
            let both = UnitImages { shape: [pixels.len() / shape[1..].iter().product::<usize>(), shape[1], shape[2], shape[3]], pixels };
            anyhow::ensure!(both.count() == 2, "--image: interpolate goes between two images; got {}", both.count());
            editor.invert(editor.tensor(&both), steps, classes.as_deref(), guidance, seed)
        }
        (_, Some(_)) => anyhow::bail!("interpolate takes two --image or an --init-noise of two noises, not both"),
    };
    let ends: Vec<f32> = ends.into_data().try_into_vec().expect("f32 noise");
    let (a, b) = ends.split_at(ends.len() / 2);
    let frames = args.frames;
    let path: Vec<f32> = (0..frames).flat_map(|k| slerp(a, b, k as f64 / (frames - 1) as f64)).collect();
    let frame_shape = editor.run().batch_shape(frames);
    let x_t = Tensor::<4>::from_data(TensorData::new(path.clone(), frame_shape), device);
    let frame_classes = classes.as_ref().map(|c| vec![c[0]; frames]);
    let out = editor.out(source, "interpolate")?;
    let started = Instant::now();
    let drawn = editor.unit(editor.regenerate(x_t, steps, frame_classes.as_deref(), guidance, seed))?;
    let seconds = started.elapsed().as_secs_f64();
    write_grid(&out.join("strip.png"), &drawn.pixels, drawn.shape, frames, 3)?;
    ddpm_data::write_npy_f32(&out.join("samples.npy"), &drawn.pixels, &drawn.shape)?;
    ddpm_data::write_npy_f32(&out.join("x_T.npy"), &path, &frame_shape)?;
    println!(
        "{app} interpolate: {frames} frames by DDIM-{steps} from slerped noise, {}, in {seconds:.1} s",
        describe_classes(frame_classes.as_deref(), guidance, false)
    );
    println!("  wrote {}/{{strip.png, samples.npy, x_T.npy}}", out.display());
    Ok(())
}
