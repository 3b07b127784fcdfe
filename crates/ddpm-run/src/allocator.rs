//! The apps' allocator: mimalloc, which reuses freed tensor buffers instead of returning them to the
//! OS, with its purging of freed pages turned off. Each binary declares it (a library must not choose
//! its users' allocator):
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: ddpm_run::MiMalloc = ddpm_run::MiMalloc;
//! ```
//!
//! By default mimalloc v3 hands idle freed pages back to the OS (`MADV_DONTNEED`) after a delay, and
//! the next step's buffers fault them in afresh: the kernel's `clear_page` took 12% of a U-Net forward
//! pass on flex, and a short `mnist-train bench` run made about 95,000 page faults. Without purging it
//! made about 580 (`perf stat -e page-faults`, BENCHMARKS.md), for 50-120 MiB more resident memory.

use libmimalloc_sys as sys;

/// `mi_option_purge_delay` in the `mi_option_t` enum of the mimalloc v3 that libmimalloc-sys 0.1.49
/// builds (`c_src/mimalloc/v3/include/mimalloc.h`); the crate exports no constant for it, so its
/// version is pinned in Cargo.toml and [`tests::the_option_is_purge_delay`] checks the index.
const PURGE_DELAY: sys::mi_option_t = 15;

/// Turns purging off (delay -1), unless `MIMALLOC_PURGE_DELAY` in the environment chose a delay. It
/// acts only in a binary that declares [`MiMalloc`] its global allocator.
pub(crate) fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is thread-safe in mimalloc and takes plain integers.
        unsafe { sys::mi_option_set(PURGE_DELAY, -1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index names the purge delay (no other option of this mimalloc defaults to 1000), and the
    /// value set is the one read back.
    #[test]
    fn the_option_is_purge_delay() {
        // SAFETY: as in `keep_freed_pages`.
        let default = unsafe { sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(default, 1000, "option {PURGE_DELAY} is not purge_delay (default 1000 ms)");
        }
        keep_freed_pages();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(unsafe { sys::mi_option_get(PURGE_DELAY) }, -1);
        }
    }
}
