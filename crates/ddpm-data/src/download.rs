//! Fetching a file from the first of several mirrors that serves a verified copy.
//!
//! The transfer is delegated to `curl` (present on Linux, macOS and Windows 10+), which keeps TLS and
//! proxies out of this crate's dependencies; any URL scheme curl knows works, `file://` included.

use std::path::Path;
use std::process::Command;

use crate::DataError;

/// Tries each URL in turn; the first download that `verify` accepts is written atomically to `target`.
/// On failure, the error lists every URL with the reason it was rejected.
pub(crate) fn download_first(urls: &[String], target: &Path, verify: impl Fn(&[u8]) -> Result<(), DataError>) -> Result<(), DataError> {
    let mut failures = Vec::new();
    for url in urls {
        eprintln!("downloading {url}");
        match fetch(url).and_then(|bytes| verify(&bytes).map(|()| bytes)) {
            Ok(bytes) => return Ok(crate::write_atomically(target, &bytes)?),
            Err(reason) => failures.push(format!("  {url}: {reason}")),
        }
    }
    Err(DataError::Download(format!("every mirror failed:\n{}", failures.join("\n"))))
}

/// The body of `url`, via `curl`.
fn fetch(url: &str) -> Result<Vec<u8>, DataError> {
    let output = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location", "--connect-timeout", "15", "--max-time", "300", url])
        .output()
        .map_err(|e| DataError::Download(format!("cannot run curl ({e}); install curl or download the files by hand")))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(DataError::Download(String::from_utf8_lossy(&output.stderr).trim().to_string()))
    }
}
