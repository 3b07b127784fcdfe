//! What the editing commands read: the images to edit (a PNG, a folder of them, or an `.npy` of
//! `[N, C, H, W]` in [0, 1]) and inpainting masks (a PNG, an `.npy`, or a named shape).

use std::path::Path;

use anyhow::Context;
use ddpm_data::{ImageFolder, SingleImage};

/// Images as pixels in [0, 1], `[n, channels, size, size]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitImages {
    pub pixels: Vec<f32>,
    pub shape: [usize; 4],
}

impl UnitImages {
    pub fn count(&self) -> usize {
        self.shape[0]
    }

    /// The first `n` images.
    pub fn first(&self, n: usize) -> Self {
        let n = n.min(self.count());
        let per_image: usize = self.shape[1..].iter().product();
        Self { pixels: self.pixels[..n * per_image].to_vec(), shape: [n, self.shape[1], self.shape[2], self.shape[3]] }
    }
}

/// Reads `path` as images of `channels` x `size` x `size`: an `.npy` of float32 `[N, C, H, W]` in [0, 1]
/// (its shape must match), a folder of PNG and JPEG files, or one such file (resized and cropped to
/// `size` like training data, grayscale and RGB converted as the model needs). `flag` names the flag in
/// errors.
pub fn read_images(path: &Path, channels: usize, size: usize, flag: &str) -> anyhow::Result<UnitImages> {
    let is_npy = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        let (pixels, shape) = ddpm_data::read_npy_f32(path).with_context(|| format!("{flag} {}", path.display()))?;
        let expected = [channels, size, size];
        let shape: [usize; 4] = match shape.as_slice() {
            [n, rest @ ..] if rest == expected && *n > 0 => [*n, channels, size, size],
            _ => anyhow::bail!(
                "{flag} {} holds an array of shape {shape:?}; this model takes [N, {channels}, {size}, {size}] float32 in [0, 1]",
                path.display()
            ),
        };
        if let Some(bad) = pixels.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            anyhow::bail!("{flag} {} holds {bad}; pixels must be in [0, 1] (NaN is not a pixel)", path.display());
        }
        return Ok(UnitImages { pixels, shape });
    }
    if path.is_dir() {
        let folder = ImageFolder::load(path, channels, size, false, |_, _| {}).map_err(crate::data_error)?;
        let pixels = ddpm_data::image::to_unit_range(&folder.pixels);
        return Ok(UnitImages { pixels, shape: [folder.count, channels, size, size] });
    }
    let image = SingleImage::load(path, channels, size).map_err(crate::data_error)?;
    Ok(UnitImages { pixels: image.unit_pixels(), shape: [1, channels, size, size] })
}

/// Where inpainting keeps pixels (1) and where the model fills them (0).
#[derive(Debug, Clone, PartialEq)]
pub enum MaskChoice {
    /// A PNG (black fills, white keeps) or an `.npy` of 0 and 1.
    File(std::path::PathBuf),
    /// A centred square hole of this many pixels a side.
    Centre(usize),
    /// Half of the image missing: `bottom`, `top`, `left` or `right`.
    Half(Side),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Bottom,
    Top,
    Left,
    Right,
}

impl std::str::FromStr for MaskChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let side = match text {
            "bottom" => Some(Side::Bottom),
            "top" => Some(Side::Top),
            "left" => Some(Side::Left),
            "right" => Some(Side::Right),
            _ => None,
        };
        if let Some(side) = side {
            return Ok(Self::Half(side));
        }
        if let Some(size) = text.strip_prefix("centre:").or_else(|| text.strip_prefix("center:")) {
            return match size.parse::<usize>() {
                Ok(size) if size > 0 => Ok(Self::Centre(size)),
                _ => Err(format!("`{text}`: centre:K takes the hole's side in pixels, a whole number of at least 1")),
            };
        }
        if text.is_empty() {
            return Err("expected a mask file, centre:K, bottom, top, left or right".into());
        }
        Ok(Self::File(text.into()))
    }
}

impl MaskChoice {
    /// The mask of `n` images of `[channels, size, size]`: 1 keeps a pixel, 0 asks for it, `[n, channels,
    /// size, size]`. A file's mask of one image (or one channel) is repeated over the images (channels).
    pub fn read(&self, n: usize, channels: usize, size: usize) -> anyhow::Result<Vec<f32>> {
        let plane = |keep: &dyn Fn(usize, usize) -> bool| -> Vec<f32> {
            (0..size * size).map(|i| if keep(i / size, i % size) { 1.0 } else { 0.0 }).collect()
        };
        let (planes, per_channel) = match self {
            Self::Centre(hole) => {
                anyhow::ensure!(*hole < size, "--mask centre:{hole} leaves nothing of a {size} x {size} image; the hole must be smaller");
                let start = (size - hole) / 2;
                let inside = |v: usize| (start..start + hole).contains(&v);
                (plane(&|r, c| !(inside(r) && inside(c))), false)
            }
            Self::Half(side) => {
                let half = size / 2;
                (
                    plane(&|r, c| match side {
                        Side::Bottom => r < half,
                        Side::Top => r >= size - half,
                        Side::Left => c >= size - half,
                        Side::Right => c < size - half,
                    }),
                    false,
                )
            }
            Self::File(path) => read_mask_file(path, channels, size)?,
        };
        let one_image: Vec<f32> = if per_channel { planes.clone() } else { planes.repeat(channels) };
        let per_image = channels * size * size;
        Ok(match one_image.len() / per_image {
            1 => one_image.repeat(n),
            count if count == n => one_image,
            count => anyhow::bail!("--mask holds {count} masks for {n} images; give one mask, or one per image"),
        })
    }
}

/// A mask file's values, and whether they hold every channel (else one plane per image).
fn read_mask_file(path: &Path, channels: usize, size: usize) -> anyhow::Result<(Vec<f32>, bool)> {
    let not_binary = |bad: f32| {
        anyhow::anyhow!(
            "--mask {} holds the value {bad}; a mask is 1 (white in a PNG) where the pixel is kept and 0 (black) where the model fills it",
            path.display()
        )
    };
    let is_npy = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (values, per_channel) = if is_npy {
        let (values, shape) = ddpm_data::read_npy_f32(path).with_context(|| format!("--mask {}", path.display()))?;
        let per_channel = match shape.as_slice() {
            [_, c, h, w] if *h == size && *w == size && (*c == 1 || *c == channels) => *c == channels && channels > 1,
            [h, w] if *h == size && *w == size => false,
            _ => anyhow::bail!(
                "--mask {} holds an array of shape {shape:?}; a mask is [{size}, {size}] or [N, 1 or {channels}, {size}, {size}] of 0 and 1",
                path.display()
            ),
        };
        (values, per_channel)
    } else {
        let image = SingleImage::load(path, 1, size).map_err(crate::data_error)?;
        anyhow::ensure!(
            image.source_size == [size as u32; 2],
            "--mask {} is {} x {} pixels; it must be the model's {size} x {size} (a resized mask would not be 0 and 1)",
            path.display(),
            image.source_size[0],
            image.source_size[1]
        );
        (image.unit_pixels(), false)
    };
    if let Some(&bad) = values.iter().find(|&&v| v != 0.0 && v != 1.0) {
        return Err(not_binary(bad));
    }
    Ok((values, per_channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_masks_keep_what_they_say() {
        let centre = MaskChoice::Centre(2).read(1, 1, 4).unwrap();
        assert_eq!(centre, [1., 1., 1., 1., 1., 0., 0., 1., 1., 0., 0., 1., 1., 1., 1., 1.]);
        let bottom: MaskChoice = "bottom".parse().unwrap();
        assert_eq!(bottom.read(2, 1, 2).unwrap(), [1., 1., 0., 0., 1., 1., 0., 0.], "repeated over the images");
        let right: MaskChoice = "right".parse().unwrap();
        assert_eq!(right.read(1, 3, 2).unwrap(), [1., 0., 1., 0., 1., 0., 1., 0., 1., 0., 1., 0.], "repeated over the channels");
        assert!("centre:0".parse::<MaskChoice>().is_err());
        assert!(MaskChoice::Centre(4).read(1, 1, 4).unwrap_err().to_string().contains("smaller"));
    }

    #[test]
    fn mask_files_must_be_zero_or_one_and_the_models_size() {
        let dir = std::env::temp_dir().join(format!("ddpm-mask-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let npy = dir.join("m.npy");
        ddpm_data::write_npy_f32(&npy, &[1.0, 0.0, 0.5, 1.0], &[2, 2]).unwrap();
        let err = MaskChoice::File(npy.clone()).read(1, 1, 2).unwrap_err().to_string();
        assert!(err.contains("0.5") && err.contains("kept"), "{err}");
        ddpm_data::write_npy_f32(&npy, &[1.0, 0.0, 0.0, 1.0], &[2, 2]).unwrap();
        assert_eq!(MaskChoice::File(npy.clone()).read(2, 1, 2).unwrap(), [1., 0., 0., 1., 1., 0., 0., 1.]);
        let err = MaskChoice::File(npy.clone()).read(1, 1, 3).unwrap_err().to_string();
        assert!(err.contains("[3, 3]"), "{err}");
        ddpm_data::write_npy_f32(&npy, &[1.0; 12], &[3, 1, 2, 2]).unwrap();
        assert!(MaskChoice::File(npy).read(2, 1, 2).unwrap_err().to_string().contains("3 masks for 2 images"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
