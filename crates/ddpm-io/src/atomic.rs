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
