//! The sample grids a training run draws as it goes.

use std::path::PathBuf;

use ddpm_data::image::write_grid;
use ddpm_nets::ImageNetwork;
use ddpm_train::{FitHooks, TrainError, Trainer};

/// A fit hook that draws `preview(sampling weights)` (pixels in [0, 1], `[n, channels, size, size]` as
/// `shape` says) into `dir/step-N.png` every `every` steps (0: never) before the last, and at the end
/// when the app calls [`SampleGrids::draw`].
pub struct SampleGrids<P> {
    pub every: usize,
    pub dir: PathBuf,
    pub shape: [usize; 4],
    /// Images per row of the grid.
    pub columns: usize,
    pub preview: P,
}

impl<P> SampleGrids<P> {
    /// Draws the grid of the trainer's sampling weights (the EMA when there is one) for step `step`.
    pub fn draw<N: ImageNetwork>(&self, trainer: &Trainer<N>, step: usize) -> Result<(), TrainError>
    where
        P: Fn(&N) -> anyhow::Result<Vec<f32>>,
    {
        let pixels = (self.preview)(&trainer.sampling_model()).map_err(|e| TrainError::Hook(format!("{e:#}")))?;
        write_grid(&self.dir.join(format!("step-{step}.png")), &pixels, self.shape, self.columns, 2)
            .map_err(|e| TrainError::Hook(e.to_string()))
    }
}

impl<N: ImageNetwork, P: Fn(&N) -> anyhow::Result<Vec<f32>>> FitHooks<N> for SampleGrids<P> {
    fn after_step(&mut self, trainer: &Trainer<N>) -> Result<(), TrainError> {
        let step = trainer.step_count();
        if self.every > 0 && step.is_multiple_of(self.every) && step < trainer.config().steps {
            self.draw(trainer, step)?;
        }
        Ok(())
    }
}
