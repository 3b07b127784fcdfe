//! The project's one progress-bar style, for training and sampling alike.

use burn::tensor::Device;
use ddpm_core::Denoiser;
use ddpm_core::NoiseRng;
use ddpm_sample::{ChainStart, Sampled, Sampler, SamplingChain};
use ddpm_train::{FitHooks, FitProgress, TrainError, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

/// `label [bar] pos/len rate ETA message`, drawn on stderr. indicatif hides it when stderr is not a
/// terminal, so logs and CI stay clean.
pub fn progress_bar(len: usize, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// The training loop's hooks with a progress bar in front: loss, learning rate and images/s.
pub struct WithProgressBar<'h, H> {
    bar: ProgressBar,
    inner: &'h mut H,
}

impl<'h, H> WithProgressBar<'h, H> {
    /// A bar over `total` steps that starts at `first_step` (a resumed run), around `inner`.
    pub fn new(first_step: usize, total: usize, inner: &'h mut H) -> Self {
        let bar = progress_bar(total, "training");
        bar.set_position(first_step as u64);
        bar.reset_eta();
        Self { bar, inner }
    }

    pub fn finish(self) {
        self.bar.finish();
    }
}

impl<M, H: FitHooks<M>> FitHooks<M> for WithProgressBar<'_, H> {
    fn after_step(&mut self, trainer: &Trainer<M>) -> Result<(), TrainError> {
        self.inner.after_step(trainer)
    }

    fn on_progress(&mut self, progress: &FitProgress) {
        // A time-bounded run re-plans its total as it measures its pace.
        self.bar.set_length(progress.total as u64);
        self.bar.set_position(progress.step as u64);
        self.inner.on_progress(progress);
        let note = self.inner.progress_note().map(|note| format!(" {note}")).unwrap_or_default();
        self.bar.set_message(format!(
            "loss {:.4} lr {:.1e} {:.0} img/s{note}",
            progress.loss, progress.learning_rate, progress.images_per_second
        ));
    }

    fn progress_note(&self) -> Option<String> {
        self.inner.progress_note()
    }
}

/// [`SamplingChain::run`] with a progress bar, labelled `label`, over the sampler's steps.
#[allow(clippy::too_many_arguments)]
pub fn sample_with_progress<const D: usize, S, M>(
    label: &str,
    chain: &SamplingChain,
    sampler: &S,
    model: &M,
    start: impl Into<ChainStart<D>>,
    classes: Option<&[usize]>,
    rng: &mut NoiseRng,
    device: &Device,
) -> Sampled<D>
where
    S: Sampler,
    M: Denoiser<D>,
{
    let bar = progress_bar(sampler.timesteps().len(), label);
    let sampled = chain.run(sampler, model, start, classes, rng, device, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    sampled
}
