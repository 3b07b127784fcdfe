//! One photograph as a training set: decoded (PNG or JPEG, grayscale or colour), its shorter side
//! resized to the model's size with an antialiased bilinear filter, centre-cropped to a square and
//! scaled to [-1, 1] — the torchvision `Resize(size)`, `CenterCrop(size)`, `Normalize(0.5, 0.5)`
//! pipeline of the DDPM tutorials.

use std::io::Cursor;
use std::path::Path;

use ::image::imageops::{self, FilterType};
use ::image::{ImageFormat, ImageReader, Rgb32FImage};

use crate::{DataError, IoError};

/// ITU-R BT.601 luma weights: what PIL's `convert("L")` uses, so a colour photo turns grey as it
/// would in the Python references.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// A square image ready to train on.
#[derive(Debug, Clone)]
pub struct SingleImage {
    /// `[channels, size, size]`, row-major, values in [-1, 1].
    pub pixels: Vec<f32>,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    pub size: usize,
    /// Width and height of the file before resizing.
    pub source_size: [u32; 2],
}

impl SingleImage {
    /// Reads `path` and prepares it as a `[channels, size, size]` target.
    ///
    /// `channels` 1 turns colour into BT.601 luma; 3 repeats a grayscale image into RGB. An alpha
    /// channel is dropped. Errors name the file and say what is wrong with it: missing, not a PNG or
    /// JPEG, or unreadable (e.g. truncated).
    pub fn load(path: &Path, channels: usize, size: usize) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::from(IoError::Read { path: path.into(), source }))?;
        Self::decode(&bytes, path, channels, size)
    }

    /// [`SingleImage::load`] on bytes already in memory; `path` only names them in errors.
    pub fn decode(bytes: &[u8], path: &Path, channels: usize, size: usize) -> Result<Self, DataError> {
        if !(channels == 1 || channels == 3) {
            return Err(DataError::InvalidParameter(format!("an image has 1 (grayscale) or 3 (RGB) channels, not {channels}")));
        }
        if size == 0 {
            return Err(DataError::InvalidParameter("the image size must be at least 1 pixel".into()));
        }
        let bad = |reason: String| DataError::BadImage { path: path.into(), reason };
        let reader = || ImageReader::new(Cursor::new(bytes)).with_guessed_format().expect("reading from memory cannot fail");
        match reader().format() {
            Some(ImageFormat::Png) => {}
            // The JPEG decoder fills a cut-off file's missing rows with grey rather than failing.
            Some(ImageFormat::Jpeg) if !has_jpeg_end_marker(bytes) => {
                return Err(bad("the JPEG is truncated (it has no end-of-image marker); copy the file again".into()));
            }
            Some(ImageFormat::Jpeg) => {}
            other => {
                let found = other.map_or_else(|| "an unrecognised format".to_string(), |f| format!("{f:?}"));
                return Err(DataError::NotAnImage { path: path.into(), found });
            }
        }
        let (width, height) = reader().into_dimensions().map_err(|e| bad(e.to_string()))?;
        check_decoded_size(path, width, height, size)?;
        let decoded = reader().decode().map_err(|e| bad(e.to_string()))?;
        let source_size = [decoded.width(), decoded.height()];
        let square = resize_and_crop(&decoded.to_rgb32f(), size);
        let pixels = planar(&square, channels).into_iter().map(|v| v * 2.0 - 1.0).collect();
        Ok(Self { pixels, channels, size, source_size })
    }

    /// `[channels, size, size]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.size, self.size]
    }

    /// The pixels mapped back to [0, 1], as image writers and quality metrics take them.
    pub fn unit_pixels(&self) -> Vec<f32> {
        crate::image::to_unit_range(&self.pixels)
    }
}

/// The most pixels a source image, or the resized image before its crop, may have: 64 Mpx take 768 MB
/// as the float RGB the resize works in. A tiny file can declare a huge image, so this is checked
/// from the header, before anything is decoded.
const MAX_PIXELS: u64 = 64 << 20;

/// Refuses a `width` x `height` image whose decoding or resizing to `size` (its shorter side) would
/// exceed [`MAX_PIXELS`].
fn check_decoded_size(path: &Path, width: u32, height: u32, size: usize) -> Result<(), DataError> {
    let (width, height) = (u64::from(width), u64::from(height));
    let short = width.min(height).max(1);
    let resized = (width.max(height) * size as u64 / short).max(size as u64) * size as u64;
    if width * height > MAX_PIXELS || resized > MAX_PIXELS {
        return Err(DataError::ImageTooLarge { path: path.into(), width, height, size, max: MAX_PIXELS });
    }
    Ok(())
}

/// Whether a JPEG's image data ends: an end-of-image marker (`FF D9`) after its first start-of-scan
/// (`FF DA`). Entropy-coded data never holds `FF D9` (a data byte `FF` is followed by `00`), so a file
/// cut inside its scans has none, while a complete one may carry data after it, as phone cameras'
/// trailers and motion photos do (and PIL reads such files).
fn has_jpeg_end_marker(bytes: &[u8]) -> bool {
    let marker = |code: u8| move |pair: &[u8]| pair == [0xFF, code];
    bytes.windows(2).position(marker(0xDA)).is_some_and(|scan| bytes[scan..].windows(2).any(marker(0xD9)))
}

/// Scales the shorter side to `size` (the longer keeps the aspect ratio, truncated as torchvision
/// does) with an antialiased triangle filter, then cuts the centred `size` x `size` square.
fn resize_and_crop(image: &Rgb32FImage, size: usize) -> Rgb32FImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let short = width.min(height);
    let scaled = |side: usize| (side * size / short).max(size) as u32;
    let resized = if short == size { image.clone() } else { imageops::resize(image, scaled(width), scaled(height), FilterType::Triangle) };
    let left = (resized.width() - size as u32) / 2;
    let top = (resized.height() - size as u32) / 2;
    imageops::crop_imm(&resized, left, top, size as u32, size as u32).to_image()
}

/// Interleaved RGB in [0, 1] to planar `[channels, h, w]`, converting to luma for one channel.
fn planar(image: &Rgb32FImage, channels: usize) -> Vec<f32> {
    let pixels = image.pixels();
    if channels == 1 {
        return pixels.map(|p| (LUMA[0] * p[0] + LUMA[1] * p[1] + LUMA[2] * p[2]).clamp(0.0, 1.0)).collect();
    }
    (0..3).flat_map(|c| image.pixels().map(move |p| p[c].clamp(0.0, 1.0))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

    fn encode(image: &::image::DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn a_constant_image_stays_constant_through_resizing() {
        let grey = GrayImage::from_pixel(40, 30, Luma([51]));
        let image = SingleImage::decode(&encode(&grey.into(), ImageFormat::Png), Path::new("grey.png"), 1, 8).unwrap();
        assert_eq!(image.shape(), [1, 8, 8]);
        assert_eq!(image.source_size, [40, 30]);
        for v in &image.pixels {
            assert!((v - (51.0 / 255.0 * 2.0 - 1.0)).abs() < 1e-5, "{v}");
        }
    }

    #[test]
    fn the_crop_is_centred_on_the_longer_side() {
        // 40 wide, 10 high, white in the middle half (x in 10..30), black at both sides. Resizing to 5 high
        // makes it 20 wide; the centred 5 x 5 crop (resized columns 7..12, source 14..24 plus the filter's
        // reach of 2) is all white, where a crop at either side would be black.
        let band = ImageBuffer::from_fn(40, 10, |x, _| if (10..30).contains(&x) { Luma([255u8]) } else { Luma([0]) });
        let image = SingleImage::decode(&encode(&band.into(), ImageFormat::Png), Path::new("band.png"), 1, 5).unwrap();
        assert!(image.pixels.iter().all(|&v| v > 0.99), "{:?}", image.pixels);
    }

    #[test]
    fn colour_becomes_bt601_luma_or_stays_planar_rgb() {
        let colour = RgbImage::from_pixel(4, 4, Rgb([255, 0, 0]));
        let bytes = encode(&colour.into(), ImageFormat::Png);
        let grey = SingleImage::decode(&bytes, Path::new("red.png"), 1, 4).unwrap();
        assert!((grey.unit_pixels()[0] - 0.299).abs() < 1e-6);
        let rgb = SingleImage::decode(&bytes, Path::new("red.png"), 3, 4).unwrap();
        let unit = rgb.unit_pixels();
        assert_eq!((unit[0], unit[16], unit[32]), (1.0, 0.0, 0.0), "planar: all red, then all green, then all blue");
    }

    #[test]
    fn a_truncated_jpeg_and_an_image_too_large_to_resize_are_refused_before_decoding() {
        let grey = GrayImage::from_pixel(64, 64, Luma([128]));
        let jpeg = encode(&grey.into(), ImageFormat::Jpeg);
        let err = SingleImage::decode(&jpeg[..jpeg.len() / 3], Path::new("cut.jpg"), 1, 16).unwrap_err().to_string();
        assert!(err.contains("cut.jpg") && err.contains("truncated"), "{err}");
        // Bytes after the end-of-image marker (a phone's trailer, a motion photo's video) are not a cut.
        let with_trailer = [&jpeg[..], b"SEFT trailer \xff\xd8 and more"].concat();
        let image = SingleImage::decode(&with_trailer, Path::new("phone.jpg"), 1, 16).unwrap();
        assert!(image.pixels.iter().all(|&v| (v - (128.0 / 255.0 * 2.0 - 1.0)).abs() < 0.05), "decoded as the grey it is");
        // 50000 x 1 pixels compress to a few hundred bytes, but resized to 128 rows they would be 6.4 M wide.
        let strip = encode(&GrayImage::from_pixel(50_000, 1, Luma([0])).into(), ImageFormat::Png);
        let err = SingleImage::decode(&strip, Path::new("strip.png"), 1, 128).unwrap_err().to_string();
        assert!(err.contains("50000 x 1 image") && err.contains("too large"), "{err}");
        assert!(SingleImage::decode(&strip, Path::new("strip.png"), 1, 1).is_ok(), "one row of 50000 resized to 1 pixel is fine");
    }

    #[test]
    fn jpeg_is_read() {
        let grey = GrayImage::from_pixel(16, 16, Luma([200]));
        let image = SingleImage::decode(&encode(&grey.into(), ImageFormat::Jpeg), Path::new("grey.jpg"), 1, 16).unwrap();
        assert!(image.unit_pixels().iter().all(|v| (v - 200.0 / 255.0).abs() < 0.02));
    }

    #[test]
    fn bad_input_is_named() {
        let not_image = SingleImage::decode(b"hello, world", Path::new("notes.txt"), 1, 8).unwrap_err();
        assert!(matches!(not_image, DataError::NotAnImage { .. }), "{not_image}");
        let png = encode(&GrayImage::from_pixel(64, 64, Luma([9])).into(), ImageFormat::Png);
        let truncated = SingleImage::decode(&png[..png.len() / 2], Path::new("cut.png"), 1, 8).unwrap_err();
        assert!(matches!(truncated, DataError::BadImage { .. }), "{truncated}");
        assert!(truncated.to_string().contains("cut.png"));
        assert!(SingleImage::decode(&png, Path::new("x.png"), 2, 8).is_err(), "two channels are refused");
        let missing = SingleImage::load(Path::new("/no/such/image.png"), 1, 8).unwrap_err();
        assert!(missing.to_string().contains("/no/such/image.png"), "{missing}");
    }
}
