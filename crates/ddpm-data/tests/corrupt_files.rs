//! The readers of files users hand the toolkit (.npy arrays, PNG and JPEG images) on thousands of
//! corrupted versions of valid files: random bytes changed, headers rewritten, files cut short. Each
//! must read the file or return an error; none may panic.

use std::path::Path;

use ddpm_data::{SingleImage, read_npy_f32, write_npy_f32};

/// A small deterministic generator (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// `original` with a few bytes overwritten (often with 0, 0xFF or an ASCII digit, which rewrite
/// lengths and header numbers), or cut short, or both.
fn corrupt(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len());
        bytes[at] = [0, 0xFF, b'9', rng.below(256) as u8][rng.below(4)];
    }
    if rng.below(3) == 0 {
        bytes.truncate(rng.below(bytes.len()));
    }
    bytes
}

fn encoded(image: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

#[test]
fn no_corrupted_npy_file_panics_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (valid, case) = (dir.path().join("valid.npy"), dir.path().join("case.npy"));
    write_npy_f32(&valid, &[0.5; 12], &[3, 1, 2, 2]).unwrap();
    let original = std::fs::read(&valid).unwrap();
    let mut rng = Rng(7);
    for i in 0..3000 {
        std::fs::write(&case, corrupt(&original, &mut rng)).unwrap();
        if let Ok((values, shape)) = std::panic::catch_unwind(|| read_npy_f32(&case)).unwrap_or_else(|_| panic!("case {i} panicked")) {
            assert_eq!(values.len(), shape.iter().product::<usize>(), "case {i}");
        }
    }
}

#[test]
fn no_corrupted_png_or_jpeg_panics_the_decoder() {
    let gradient = image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([(x * 10) as u8, (y * 15) as u8, 128]));
    let gradient = image::DynamicImage::from(gradient);
    let mut rng = Rng(11);
    for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
        let original = encoded(&gradient, format);
        for i in 0..1500 {
            let bytes = corrupt(&original, &mut rng);
            let decoded = std::panic::catch_unwind(|| SingleImage::decode(&bytes, Path::new("case"), 3, 8));
            let decoded = decoded.unwrap_or_else(|_| panic!("{format:?} case {i} panicked"));
            if let Ok(image) = decoded {
                assert_eq!(image.pixels.len(), 3 * 8 * 8, "{format:?} case {i}");
            }
        }
    }
}
