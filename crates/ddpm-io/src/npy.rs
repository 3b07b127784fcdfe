//! NumPy `.npy` (format 1.0) for little-endian float32 arrays: what `np.load` reads.

use std::path::Path;

use crate::IoError;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Writes `values` (C order) as a float32 array of `shape`. The file appears whole or not at all:
/// it is written beside its destination and renamed into place.
pub fn write_npy_f32(path: &Path, values: &[f32], shape: &[usize]) -> Result<(), IoError> {
    let expected: usize = shape.iter().product();
    if expected != values.len() {
        return Err(IoError::ShapeMismatch { shape: shape.to_vec(), expected, actual: values.len() });
    }
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');

    let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * values.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    values.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
    crate::write_atomically(path, &bytes)
}

/// Reads a little-endian float32 C-order `.npy` file (format version 1.0, 2.0 or 3.0): its values and shape.
pub fn read_npy_f32(path: &Path) -> Result<(Vec<f32>, Vec<usize>), IoError> {
    let bytes = std::fs::read(path).map_err(|source| IoError::Read { path: path.into(), source })?;
    let bad = |reason: &str| IoError::BadNpy { path: path.into(), reason: reason.into() };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    // Version 1 stores the header's length in 2 bytes; versions 2 and 3 (longer, or UTF-8, headers) in 4.
    let (header_start, header_len): (usize, usize) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (12, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        2 | 3 => return Err(bad("truncated header")),
        version => return Err(bad(&format!("format version {version}.{} is not one of 1.0, 2.0 and 3.0", bytes[7]))),
    };
    let header_end = header_start.checked_add(header_len).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(bytes.get(header_start..header_end).ok_or_else(|| bad("truncated header"))?)
        .map_err(|_| bad("header is not text"))?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(bad("only little-endian float32 arrays in C order are supported"));
    }
    let shape_text = header.split("'shape': (").nth(1).and_then(|rest| rest.split(')').next()).ok_or_else(|| bad("no shape in header"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("shape is not a tuple of integers")))
        .collect::<Result<Vec<_>, _>>()?;
    let data = &bytes[header_end..];
    let needed = shape.iter().try_fold(4usize, |bytes, &dim| bytes.checked_mul(dim));
    if needed != Some(data.len()) {
        let needed = needed.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
        return Err(bad(&format!("shape {shape:?} needs {needed} data bytes, found {}", data.len())));
    }
    let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((values, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_values_and_shape_with_an_aligned_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let values: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_npy_f32(&path, &values, &[3, 2]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0, "numpy requires a 64-byte aligned preamble");
        assert_eq!(
            &bytes[10..10 + header_len],
            format!("{:<w$}\n", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", w = header_len - 1).as_bytes()
        );
        assert_eq!(read_npy_f32(&path).unwrap(), (values, vec![3, 2]));
    }

    #[test]
    fn versions_2_and_3_with_their_four_byte_header_length_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.npy");
        write_npy_f32(&path, &[1.5, -2.0], &[2, 1]).unwrap();
        let version_1 = std::fs::read(&path).unwrap();
        let header = &version_1[10..];
        for version in [2u8, 3] {
            // The same header and data behind a 12-byte preamble, as numpy writes them for long headers.
            let header_len = (header.len() - 8) as u32;
            let bytes = [MAGIC, &[version, 0], &header_len.to_le_bytes(), header].concat();
            let path = dir.path().join(format!("v{version}.npy"));
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(read_npy_f32(&path).unwrap(), (vec![1.5, -2.0], vec![2, 1]), "version {version}");
        }
        let mut version_4 = version_1.clone();
        version_4[6] = 4;
        std::fs::write(&path, version_4).unwrap();
        assert!(read_npy_f32(&path).unwrap_err().to_string().contains("version 4.0"));
    }

    #[test]
    fn one_dimensional_shapes_use_a_trailing_comma() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.npy");
        write_npy_f32(&path, &[1.0, 2.0], &[2]).unwrap();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
        assert!(text.contains("'shape': (2,)"));
        assert_eq!(read_npy_f32(&path).unwrap().1, vec![2]);
    }

    #[test]
    fn mismatched_shape_and_unwritable_folder_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_npy_f32(&dir.path().join("x.npy"), &[1.0], &[2]).unwrap_err();
        assert!(err.to_string().contains("holds 2 values but 1"), "{err}");
        std::fs::write(dir.path().join("a-file"), "").unwrap();
        let err = write_npy_f32(&dir.path().join("a-file/x.npy"), &[1.0], &[1]).unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
    }

    #[test]
    fn truncated_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npy");
        write_npy_f32(&path, &[1.0, 2.0, 3.0], &[3]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
        assert!(read_npy_f32(&path).unwrap_err().to_string().contains("needs 12 data bytes"));
    }

    #[test]
    fn a_shape_whose_size_overflows_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.npy");
        write_npy_f32(&path, &[1.0], &[1]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }";
        bytes[10..10 + header_len].copy_from_slice(format!("{header:<w$}\n", w = header_len - 1).as_bytes());
        std::fs::write(&path, bytes).unwrap();
        assert!(read_npy_f32(&path).unwrap_err().to_string().contains("needs more than 2^64 data bytes"));
    }
}
