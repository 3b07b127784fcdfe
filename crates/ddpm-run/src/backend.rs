//! Picking the backend at run time, among those compiled in.
//!
//! Burn 0.22 selects a backend by its `Device`, and each backend exists only when its Cargo feature
//! is on. Apps forward their `flex`/`ndarray`/`wgpu`/... features here, and turn a `--device` flag
//! into a [`burn::tensor::Device`] with [`DeviceChoice::device`]. This is the only library crate that
//! names a backend.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use ddpm_exec::Execution;

use crate::numbers::{MAX_THREADS, count};

/// A backend a user can ask for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// Burn's pure-Rust CPU backend (SIMD + rayon): the default.
    Flex,
    /// The older CPU backend, deprecated in Burn 0.22.
    Ndarray,
    /// GPU through wgpu, which picks Vulkan, Metal, DX12 or GL at run time.
    Wgpu,
    Vulkan,
    Metal,
    Cuda,
}

impl DeviceChoice {
    const ALL: [(Self, &'static str); 6] = [
        (Self::Flex, "flex"),
        (Self::Ndarray, "ndarray"),
        (Self::Wgpu, "wgpu"),
        (Self::Vulkan, "vulkan"),
        (Self::Metal, "metal"),
        (Self::Cuda, "cuda"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(c, _)| *c == self).map(|(_, n)| *n).expect("every choice has a name")
    }

    /// Whether the backend runs on the CPU (flex, ndarray).
    pub fn is_cpu(self) -> bool {
        matches!(self, Self::Flex | Self::Ndarray)
    }

    /// Whether this backend's Cargo feature was on when the binary was built.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::Ndarray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Vulkan => cfg!(feature = "vulkan"),
            Self::Metal => cfg!(feature = "metal"),
            Self::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends compiled into this binary, fastest CPU backend first.
    pub fn compiled() -> Vec<Self> {
        Self::ALL.iter().map(|(c, _)| *c).filter(|c| c.is_compiled()).collect()
    }

    /// The default: the first compiled-in backend in the order flex, ndarray, wgpu, vulkan, metal, cuda.
    pub fn default_compiled() -> Option<Self> {
        Self::compiled().first().copied()
    }

    /// The device for this backend, or an error naming the Cargo feature to enable.
    pub fn device(self) -> Result<Device, String> {
        let missing = || {
            Err(format!(
                "the {0} backend is not compiled into this binary; rebuild with `--features {0}` \
                 (compiled in: {1})",
                self.name(),
                compiled_names()
            ))
        };
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "vulkan")]
            Self::Vulkan => Ok(Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "metal")]
            Self::Metal => Ok(Device::metal(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0usize)),
            #[allow(unreachable_patterns)]
            _ => missing(),
        }
    }
}

fn compiled_names() -> String {
    let names: Vec<&str> = DeviceChoice::compiled().into_iter().map(DeviceChoice::name).collect();
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Self::ALL.iter().find(|(_, n)| *n == lower).map(|(c, _)| *c).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
            format!("unknown device '{s}': choose one of {}", names.join(", "))
        })
    }
}

/// Sets how many threads the CPU backends' kernels (flex, ndarray) may use; 0 means one per core.
///
/// Call it before the first tensor operation. Small networks such as the toy MLP run faster on one
/// thread: their matrices are too small for a split across cores to pay for the synchronisation.
pub fn set_cpu_threads(threads: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| format!("cannot set the CPU thread count to {threads}: {e}"))
}

/// The `--device` and `--threads` flags every app shares.
#[derive(clap::Args, Debug, Clone)]
pub struct BackendArgs {
    /// Backend: flex, ndarray, wgpu, vulkan, metal or cuda (each needs its Cargo feature).
    /// [default: the first compiled in, flex in a default build]
    #[arg(long, global = true)]
    pub device: Option<DeviceChoice>,
    /// CPU threads for the flex and ndarray kernels; 0 uses every core. Training and sampling on these
    /// backends also cut each batch into slices that run at the same time, so that every core runs one:
    /// one per kernel thread, or one per core when the kernels have fewer threads than cores.
    #[arg(long, global = true, default_value_t = 0, value_parser = count(0..=MAX_THREADS))]
    pub threads: usize,
}

impl BackendArgs {
    /// Sizes the CPU thread pool, sets the allocator's options (see `allocator`) and opens the chosen
    /// (or default) device.
    pub fn init(&self) -> Result<Device, String> {
        crate::allocator::keep_freed_pages();
        set_cpu_threads(self.threads)?;
        self.choice()?.device()
    }

    /// The chosen backend, or the default one.
    pub fn choice(&self) -> Result<DeviceChoice, String> {
        match self.device {
            Some(choice) => Ok(choice),
            None => DeviceChoice::default_compiled().ok_or_else(|| "no backend compiled in: build with --features flex".into()),
        }
    }

    /// How the trainer and the sampling chain cut a batch: on the CPU backends every core runs a slice
    /// ([`Execution::cpu`] over the pool [`BackendArgs::init`] sized), on a GPU the batch runs whole.
    pub fn execution(&self) -> Execution {
        match self.choice() {
            Ok(choice) if choice.is_cpu() => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                Execution::cpu(rayon::current_num_threads(), cores)
            }
            _ => Execution::default(),
        }
    }
}
