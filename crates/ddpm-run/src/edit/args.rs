//! The flags of the editing commands, the same in every image app.

use std::path::PathBuf;

use clap::Args;

use super::MaskChoice;
use crate::SamplerArgs;
use crate::numbers::{count, real};

/// `--class`: a class label, or `none` for a conditional model's unconditional output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassLabel {
    Class(usize),
    Unconditional,
}

impl std::str::FromStr for ClassLabel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "none" => Ok(Self::Unconditional),
            label => label.parse().map(Self::Class).map_err(|_| format!("expected a class number (0, 1, ...) or `none`, got `{text}`")),
        }
    }
}

/// What every editing command reads: the model, where to write, the conditioning and the sampler flags.
#[derive(Args, Debug, Clone)]
pub struct EditSource {
    /// A training run's --out folder (or its checkpoint/ folder), or a diffusers pipeline folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output folder. [default: a folder named after the command (inpaint, img2img, ...) in the --checkpoint folder]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// For a class-conditional run: the class given to the model, or `none` for its unconditional output.
    /// [default: inpaint and img2img ask the model which class it sees in each image's kept pixels;
    /// invert and interpolate use `none`]
    #[arg(long)]
    pub class: Option<ClassLabel>,
    /// Classifier-free guidance scale w for a conditional run (1 is plain conditional, 0 unconditional).
    /// The default 1 costs one model evaluation per step, half of guidance's two; the kept pixels hold
    /// the image already (with its digit given, RePaint's MNIST completions read 98.5% right at 1).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0, value_parser = real(0.0..=100.0))]
    pub guidance: f64,
    #[command(flatten)]
    pub sampler: SamplerArgs,
}

/// `inpaint`: fill the masked pixels of images (RePaint, Lugmayr et al. 2022).
#[derive(Args, Debug, Clone)]
pub struct InpaintArgs {
    /// The images: a PNG or JPEG, a folder of them, or an .npy of float32 [N, C, H, W] in [0, 1].
    #[arg(long)]
    pub image: PathBuf,
    /// Which pixels to keep (1, white) and which to fill (0, black): a PNG or .npy of the model's size
    /// (one for all images, or one per image), or `centre:K` (a K x K hole in the middle), `bottom`,
    /// `top`, `left` or `right` (that half missing).
    #[arg(long)]
    pub mask: MaskChoice,
    /// Levels the chain goes down before each jump back up (RePaint's j); --steps sets the levels
    /// (default 50) and --eta the noise of each step (default 1, DDPM's posterior).
    #[arg(long, default_value_t = ddpm_sample::RepaintConfig::new().jump_length, value_parser = count(1..=10_000))]
    pub jump_length: usize,
    /// How many times each stretch of --jump-length levels is gone down (RePaint's r; 1: no jumps).
    #[arg(long, default_value_t = ddpm_sample::RepaintConfig::new().resamples, value_parser = count(1..=100))]
    pub resamples: usize,
    #[command(flatten)]
    pub source: EditSource,
}

/// `img2img`: redraw images part way (SDEdit, Meng et al. 2022; diffusers' "strength").
#[derive(Args, Debug, Clone)]
pub struct Img2ImgArgs {
    /// The images: a PNG or JPEG, a folder of them, or an .npy of float32 [N, C, H, W] in [0, 1].
    #[arg(long)]
    pub image: PathBuf,
    /// The share of the sampler's steps run from the image noised to match: 0 returns the image, 1
    /// samples from fresh noise (it ignores the image).
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.5, value_parser = real(0.0..=1.0))]
    pub strength: f64,
    #[command(flatten)]
    pub source: EditSource,
}

/// `invert`: the x_T from which DDIM (eta 0) draws each image back (DDIM inversion).
#[derive(Args, Debug, Clone)]
pub struct InvertArgs {
    /// The images: a PNG or JPEG, a folder of them, or an .npy of float32 [N, C, H, W] in [0, 1].
    /// DDIM's steps are --steps (default 50), its spacing the run's.
    #[arg(long)]
    pub image: PathBuf,
    #[command(flatten)]
    pub source: EditSource,
}

/// `interpolate`: frames between two images (through their inversions) or two noises.
#[derive(Args, Debug, Clone)]
pub struct InterpolateArgs {
    /// The two ends: two --image (each a PNG or a one-image .npy), or one .npy or folder of two. Without
    /// --image, two noises: --init-noise (an .npy of two) or drawn from --seed.
    #[arg(long)]
    pub image: Vec<PathBuf>,
    /// Frames, the two ends included.
    #[arg(long, default_value_t = 8, value_parser = count(2..=1000))]
    pub frames: usize,
    #[command(flatten)]
    pub source: EditSource,
}
