//! Fetching a file from the first of several mirrors that serves a verified copy.
//!
//! The transfer is delegated to `curl` (present on Linux, macOS and Windows 10+), which keeps TLS and
//! proxies out of this crate's dependencies; any URL scheme curl knows works, `file://` included.

use std::path::Path;
use std::process::Command;

/// Tries each URL in turn; the first download that `verify` accepts is written atomically to `target`.
/// On failure, the error lists every URL with the reason it was rejected.
pub(crate) fn download_first(urls: &[String], target: &Path, verify: impl Fn(&[u8]) -> Result<(), String>) -> Result<(), String> {
    let mut failures = Vec::new();
    for url in urls {
        eprintln!("downloading {url}");
        match fetch(url).and_then(|bytes| verify(&bytes).map(|()| bytes)) {
            Ok(bytes) => return crate::write_atomically(target, &bytes).map_err(|e| e.to_string()),
            Err(reason) => failures.push(format!("  {url}: {reason}")),
        }
    }
    Err(format!("every mirror failed:\n{}", failures.join("\n")))
}

/// The body of `url`, via `curl`.
fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let output = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location", "--connect-timeout", "15", "--max-time", "300", url])
        .output()
        .map_err(|e| format!("cannot run curl ({e}); install curl or download the files by hand"))?;
    if output.status.success() { Ok(output.stdout) } else { Err(String::from_utf8_lossy(&output.stderr).trim().to_string()) }
}
