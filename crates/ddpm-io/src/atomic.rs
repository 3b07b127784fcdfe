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
    let temp = path.with_file_name(temporary_name(path.file_name().unwrap_or_default()));
    let mut file = std::fs::File::create(&temp).map_err(error)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(source) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(error(source));
    }
    Ok(())
}

/// The longest file name most file systems take (ext4, XFS, APFS, NTFS: 255 bytes or UTF-16 units).
const MAX_NAME_BYTES: usize = 255;

/// The hidden name a file called `name` is written under before its rename: `.NAME.PID.tmp`, which
/// says what it was for if a crash leaves it behind, or `.ddpm-write.PID.tmp` when that would not
/// fit the file system's name limit while `name` itself does.
fn temporary_name(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.tmp", std::process::id()));
    if temp.len() > MAX_NAME_BYTES {
        temp = format!(".ddpm-write.{}.tmp", std::process::id()).into();
    }
    temp
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
    fn a_name_at_the_file_systems_limit_is_written_under_a_short_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{}.png", "n".repeat(MAX_NAME_BYTES - 4)));
        write_atomically(&path, b"bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"bytes");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
        assert!(temporary_name(std::ffi::OsStr::new("grid.png")).to_string_lossy().starts_with(".grid.png."));
    }

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
