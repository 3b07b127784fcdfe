//! Which kernels run: all by default; `DDPM_KERNELS` in the environment picks some or none (for
//! benchmarks), and [`with_burn_ops`] turns them off around a call (for tests).

use std::cell::Cell;
use std::sync::OnceLock;

/// One of the kernels, by the name `DDPM_KERNELS` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// `conv2d`: convolution by GEMM.
    Conv2d,
    /// `group_norm_silu`: GroupNorm + shift + SiLU in one pass.
    GroupNormSilu,
    /// `upsample_cat`: nearest 2x upsampling and the skip concatenation in one pass.
    UpsampleCat,
    /// `winograd`: the forward pass and input gradient of the 3x3 stride-1 convolutions by Winograd's
    /// F(2x2, 3x3), in place of the GEMM over patches (so it runs only where `conv2d` does).
    Winograd,
    /// `linear`: a fully connected layer (and a ReLU after it), the bias and ReLU in one pass over its output.
    Linear,
    /// `attention`: multi-head softmax attention over blocks of queries, flash attention's way.
    Attention,
}

impl Kernel {
    pub const ALL: [Kernel; 6] =
        [Kernel::Conv2d, Kernel::GroupNormSilu, Kernel::UpsampleCat, Kernel::Winograd, Kernel::Linear, Kernel::Attention];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Conv2d => "conv2d",
            Kernel::GroupNormSilu => "group_norm_silu",
            Kernel::UpsampleCat => "upsample_cat",
            Kernel::Winograd => "winograd",
            Kernel::Linear => "linear",
            Kernel::Attention => "attention",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

thread_local! {
    /// Set inside [`with_burn_ops`].
    static BURN_OPS_HERE: Cell<bool> = const { Cell::new(false) };
}

/// The kernels `DDPM_KERNELS` allows, as bits: unset or `all`, every kernel; `burn`, none (Burn's ops
/// everywhere); else a comma-separated list of kernel names.
///
/// # Panics
/// On a name that is not a kernel's, naming the choices: a benchmark must not silently measure
/// something else than it was asked to.
fn allowed_by_env() -> u8 {
    static ALLOWED: OnceLock<u8> = OnceLock::new();
    *ALLOWED.get_or_init(|| match std::env::var("DDPM_KERNELS").as_deref() {
        Err(_) | Ok("all") => Kernel::ALL.iter().map(|k| k.bit()).sum(),
        Ok("burn") => 0,
        Ok(list) => list
            .split(',')
            .map(|name| {
                let kernel = Kernel::ALL.into_iter().find(|k| k.name() == name.trim());
                kernel.unwrap_or_else(|| {
                    let names: Vec<_> = Kernel::ALL.iter().map(|k| k.name()).collect();
                    panic!("DDPM_KERNELS: no kernel is called {name:?}; use all, burn, or a comma-separated list of {}", names.join(", "))
                })
            })
            .map(|k| k.bit())
            .fold(0, |bits, bit| bits | bit),
    })
}

/// Whether `kernel` may run on this thread: allowed by `DDPM_KERNELS` and not inside [`with_burn_ops`].
pub fn enabled(kernel: Kernel) -> bool {
    !BURN_OPS_HERE.get() && allowed_by_env() & kernel.bit() != 0
}

/// Runs `f` with Burn's own ops in place of every kernel, for the ops called on this thread: work `f`
/// hands to other threads (batch slices on rayon's pool) follows `DDPM_KERNELS` instead.
pub fn with_burn_ops<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the previous setting, also when `f` panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BURN_OPS_HERE.set(self.0);
        }
    }
    let _restore = Restore(BURN_OPS_HERE.replace(true));
    f()
}
