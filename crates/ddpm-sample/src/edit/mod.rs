//! Editing with a trained model rather than drawing from noise: image-to-image (SDEdit), inversion of
//! the deterministic DDIM chain, inpainting (RePaint) and spherical interpolation of noises. Each is a
//! step rule or a plan run on the same [`crate::SamplingChain`] machinery and counter-based noise as
//! sampling, so it works with any denoiser, conditioning and guidance.

mod classify;
mod img2img;
mod interpolate;
mod inversion;
mod repaint;

pub use classify::infer_classes;
pub use img2img::SamplerTail;
pub use interpolate::slerp;
pub use inversion::DdimInversion;
pub use repaint::{JumpMove, Repaint, RepaintConfig, jump_plan};
