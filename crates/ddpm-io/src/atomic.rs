use std::io::Write;
use std::path::Path;

use crate::IoError;

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`, so a
/// reader (or a crash) sees either the old file or the complete new one, never a torn write.
/// Creates the parent folder when it is missing.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let error = |source| IoError::Write { path: path.into(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(path.file_name().unwrap_or_default());
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let mut file = std::fs::File::create(&temp).map_err(error)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(source) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(error(source));
    }
    Ok(())
}

/// Creates the folder `dir` when it is missing and checks that files can be written into it, so a
/// command finds an unwritable output folder before its long work rather than after.
pub fn ensure_writable_dir(dir: &Path) -> Result<(), IoError> {
    let error = |source| IoError::Write { path: dir.into(), source };
    std::fs::create_dir_all(dir).map_err(error)?;
    let probe = dir.join(format!(".write-check.{}.tmp", std::process::id()));
    std::fs::File::create(&probe).map_err(error)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_made_and_a_file_in_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b");
        ensure_writable_dir(&out).unwrap();
        assert!(out.is_dir());
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "the probe is removed");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = ensure_writable_dir(&file.join("out")).unwrap_err().to_string();
        assert!(err.contains("file/out"), "{err}");
    }
}
