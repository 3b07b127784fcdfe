//! Images to PNG: grids of samples, rows of a process, any RGB8 picture.

use std::path::Path;

use crate::IoError;

/// Maps model outputs in [-1, 1] to pixel intensities in [0, 1], clamping what falls outside.
pub fn to_unit_range(values: &[f32]) -> Vec<f32> {
    values.iter().map(|v| ((v + 1.0) * 0.5).clamp(0.0, 1.0)).collect()
}

/// Writes a batch of images as one PNG grid, row-major, `columns` images per row, with a 2-pixel
/// gap and each pixel drawn as a `scale` x `scale` block.
///
/// `images` is `[n, channels, height, width]` with values in [0, 1] (anything outside is clamped);
/// `channels` is 1 (grayscale) or 3 (RGB).
pub fn write_grid(path: &Path, images: &[f32], shape: [usize; 4], columns: usize, scale: usize) -> Result<(), IoError> {
    let [n, channels, height, width] = shape;
    if images.len() != n * channels * height * width || !(channels == 1 || channels == 3) || n == 0 {
        return Err(IoError::ShapeMismatch { shape: shape.to_vec(), expected: n * channels * height * width, actual: images.len() });
    }
    let (columns, scale, gap) = (columns.clamp(1, n), scale.max(1), 2);
    let rows = n.div_ceil(columns);
    let cell = |size: usize| size * scale + gap;
    let (grid_w, grid_h) = (columns * cell(width) + gap, rows * cell(height) + gap);
    let mut rgb = vec![40u8; grid_w * grid_h * 3]; // dark grey gaps
    for (i, image) in images.chunks_exact(channels * height * width).enumerate() {
        let (x0, y0) = (gap + (i % columns) * cell(width), gap + (i / columns) * cell(height));
        for y in 0..height * scale {
            for x in 0..width * scale {
                let pixel = (y / scale) * width + x / scale;
                let out = ((y0 + y) * grid_w + x0 + x) * 3;
                for c in 0..3 {
                    let value = image[(c % channels) * height * width + pixel];
                    rgb[out + c] = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    write_png(path, &rgb, grid_w as u32, grid_h as u32)
}

/// Writes RGB8 pixels to `path` as a PNG, atomically. An existing file is replaced only if it is a
/// PNG (an earlier figure): a mistyped output path naming a checkpoint or a dataset is refused, not lost.
pub fn write_png(path: &Path, rgb: &[u8], width: u32, height: u32) -> Result<(), IoError> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
    if path.exists() {
        let mut head = [0u8; 8];
        let is_png = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok() && head == SIGNATURE;
        if !is_png {
            return Err(IoError::NotAPng { path: path.into() });
        }
    }
    crate::write_atomically(path, &encode_png(rgb, width, height))
}

/// RGB8 pixels to PNG bytes.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("writing to a Vec cannot fail");
    writer.write_image_data(rgb).expect("the buffer matches the declared size");
    writer.finish().expect("writing to a Vec cannot fail");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_the_expected_size_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        // Three 2x2 grayscale images: black, white, grey.
        let images: Vec<f32> = [0.0, 1.0, 0.5].iter().flat_map(|&v| [v; 4]).collect();
        write_grid(&path, &images, [3, 1, 2, 2], 2, 1).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (2 * 4 + 2, 2 * 4 + 2));
        let at = |x: usize, y: usize| buf[(y * info.width as usize + x) * 3];
        assert_eq!((at(2, 2), at(6, 2), at(2, 6), at(6, 6)), (0, 255, 128, 40));
        assert!(write_grid(&path, &images, [2, 1, 2, 2], 2, 1).is_err(), "a wrong shape is refused");
    }

    #[test]
    fn a_grid_replaces_an_earlier_png_but_not_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let (png, other) = (dir.path().join("grid.png"), dir.path().join("state.json"));
        write_grid(&png, &[0.5; 4], [1, 1, 2, 2], 1, 1).unwrap();
        write_grid(&png, &[1.0; 4], [1, 1, 2, 2], 1, 1).unwrap();
        std::fs::write(&other, "{}").unwrap();
        let err = write_grid(&other, &[0.5; 4], [1, 1, 2, 2], 1, 1).unwrap_err().to_string();
        assert!(err.contains("is not a PNG, so it is not replaced"), "{err}");
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "{}");
    }

    #[test]
    fn unit_range_clamps() {
        assert_eq!(to_unit_range(&[-2.0, -1.0, 0.0, 1.0, 3.0]), vec![0.0, 0.0, 0.5, 1.0, 1.0]);
    }
}
