use indicatif::{ProgressBar, ProgressStyle};

/// The project's progress bar: `label [bar] pos/len rate ETA message`, drawn on stderr.
/// indicatif hides it when stderr is not a terminal, so logs and CI stay clean.
pub fn progress_bar(len: usize, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}
