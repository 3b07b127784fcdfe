//! Scratch memory for the kernels, kept by each thread between calls.

use std::cell::RefCell;

/// Runs `f` on a buffer of `len` values, reused across calls by each thread so that its pages are not
/// faulted in afresh on every convolution (a fresh buffer when this thread's is in use: a task stolen
/// while waiting inside a parallel GEMM). Its contents are whatever the last use left.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static BUFFER: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            f(&mut buffer[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}
