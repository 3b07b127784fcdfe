//! `export`: a run's network in formats other programs read. `--format diffusers` writes a pipeline
//! folder `diffusers.DDPMPipeline.from_pretrained` loads (UNet2DModel runs only); `--format safetensors`
//! writes any network as a PyTorch-style state dict with its config beside it. The folder is written
//! under a temporary name and renamed into place, so a half-written export never looks complete.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use ddpm_nets::{AnyImageNetwork, DIFFUSERS_VERSION, NetworkConfig, weights};
use ddpm_sample::DiffusersScheduler;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{Experiment, LoadedRun, RunDescription, Weights};

/// What `export` writes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A diffusers DDPMPipeline folder (model_index.json, unet/, scheduler/); UNet2DModel runs only.
    Diffusers,
    /// model.safetensors (a PyTorch-style state dict) and config.json (the network's settings).
    Safetensors,
}

/// The shared flags of `export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// A training run's --out folder (or its checkpoint/ folder).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The folder to create; it must not exist yet.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = ExportFormat::Diffusers)]
    pub format: ExportFormat,
    /// Which weights to export.
    #[arg(long, value_enum, default_value_t = Weights::Ema)]
    pub weights: Weights,
}

/// Exports the run at `args.checkpoint` of `app` as `args.format` into `args.out`.
pub fn export<E: DeserializeOwned + Experiment>(app: &str, args: &ExportArgs, device: &Device) -> anyhow::Result<()> {
    let loaded = LoadedRun::<E>::open(app, &args.checkpoint)?;
    let run = loaded.description();
    if args.format == ExportFormat::Diffusers {
        check_diffusers_can_run(run)?;
    }
    anyhow::ensure!(
        !args.out.exists(),
        "{} already exists; export writes a new folder (remove it or pick another --out)",
        args.out.display()
    );
    let model = loaded.sampling_network(device, args.weights)?;
    let partial = partial_folder(&args.out)?;
    let written = match args.format {
        ExportFormat::Diffusers => write_pipeline(&partial, run, &model),
        ExportFormat::Safetensors => write_state_dict(&partial, &run.network, &model),
    };
    let renamed =
        written.and_then(|()| std::fs::rename(&partial, &args.out).with_context(|| format!("cannot rename into {}", args.out.display())));
    if let Err(error) = renamed {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(error);
    }
    let weights = match loaded.weights_used(args.weights) {
        Weights::Ema => "EMA",
        Weights::Online => "online",
    };
    println!(
        "{app} export: the {} network of {} at step {} ({weights} weights)",
        run.network.name(),
        loaded.run_dir.display(),
        loaded.state.step
    );
    match args.format {
        ExportFormat::Diffusers => {
            println!("  wrote {}/{{model_index.json, unet/, scheduler/}}", args.out.display());
            println!("  load it with: diffusers.DDPMPipeline.from_pretrained({:?})", args.out.display().to_string());
        }
        ExportFormat::Safetensors => println!("  wrote {}/{{model.safetensors, config.json}}", args.out.display()),
    }
    Ok(())
}

/// Refuses a run diffusers' pipeline would not reproduce: another network, data not in [-1, 1].
fn check_diffusers_can_run<E>(run: &RunDescription<E>) -> anyhow::Result<()> {
    if !matches!(run.network, NetworkConfig::UNet2D(_)) {
        bail!(
            "this run's network is the {}, which diffusers does not have; --format diffusers needs a run of the unet2d network \
             (--format safetensors exports any network)",
            run.network.name()
        );
    }
    if run.data.range != [-1.0, 1.0] {
        bail!("this run's images are in {:?}, but diffusers' pipelines map [-1, 1] to pixels; use --format safetensors", run.data.range);
    }
    Ok(())
}

/// The hidden folders exports write into beside their `--out`, named by the exporting process's id: a
/// fixed short name, so that any `--out` name that fits the file system fits here too.
const PARTIAL_PREFIX: &str = ".ddpm-export.partial-";

/// A fresh hidden sibling of `out` to write into. Partial folders that interrupted exports left in the
/// same place (their process is gone) are removed first.
fn partial_folder(out: &Path) -> anyhow::Result<PathBuf> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    out.file_name().with_context(|| format!("--out {} names no folder", out.display()))?;
    remove_abandoned_partials(parent);
    let partial = parent.join(format!("{PARTIAL_PREFIX}{}", std::process::id()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    std::fs::create_dir(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    Ok(partial)
}

/// Removes the partial folders in `parent` whose exporting process no longer runs (best effort).
fn remove_abandoned_partials(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        let pid = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(PARTIAL_PREFIX)).and_then(|pid| pid.parse().ok());
        if pid.is_some_and(|pid: u32| !process_runs(pid)) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether process `pid` is running. Only Linux can tell (`/proc`); elsewhere every process is taken
/// to run, so nothing another export may be writing is removed.
fn process_runs(pid: u32) -> bool {
    !cfg!(target_os = "linux") || Path::new("/proc").join(pid.to_string()).exists()
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    ddpm_data::write_atomically(path, text.as_bytes())?;
    Ok(())
}

/// model_index.json, unet/{config.json, diffusion_pytorch_model.safetensors}, scheduler/scheduler_config.json.
fn write_pipeline<E>(folder: &Path, run: &RunDescription<E>, model: &AnyImageNetwork) -> anyhow::Result<()> {
    let (NetworkConfig::UNet2D(config), AnyImageNetwork::UNet2D(unet)) = (&run.network, model) else {
        bail!("--format diffusers needs a unet2d network")
    };
    let index = json!({
        "_class_name": "DDPMPipeline",
        "_diffusers_version": DIFFUSERS_VERSION,
        "scheduler": ["diffusers", "DDPMScheduler"],
        "unet": ["diffusers", "UNet2DModel"],
    });
    write_json(&folder.join("model_index.json"), &index)?;
    std::fs::create_dir_all(folder.join("unet"))?;
    write_json(&folder.join("unet/config.json"), &config.to_diffusers())?;
    weights::save_safetensors(unet.as_ref(), &folder.join("unet/diffusion_pytorch_model.safetensors")).map_err(anyhow::Error::msg)?;
    let scheduler = DiffusersScheduler::to_diffusers(run.timesteps, &run.schedule, run.parameterization(), &run.sampler, DIFFUSERS_VERSION)
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(folder.join("scheduler"))?;
    write_json(&folder.join("scheduler/scheduler_config.json"), &scheduler)
}

/// model.safetensors and config.json (the network's settings, as the run records them).
fn write_state_dict(folder: &Path, network: &NetworkConfig, model: &AnyImageNetwork) -> anyhow::Result<()> {
    let file = folder.join("model.safetensors");
    match model {
        AnyImageNetwork::UNet(net) => weights::save_safetensors(net.as_ref(), &file),
        AnyImageNetwork::UNet2D(net) => weights::save_safetensors(net.as_ref(), &file),
    }
    .map_err(anyhow::Error::msg)?;
    write_json(&folder.join("config.json"), &serde_json::to_value(network)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn partial_folders_fit_any_out_name_and_abandoned_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A 245-byte name fits a 255-byte file system limit; its partial folder must too.
        let out = dir.path().join("x".repeat(245));
        let partial = partial_folder(&out).unwrap();
        assert!(partial.is_dir() && partial.file_name().unwrap().len() < 64, "{}", partial.display());
        // One left by a process that is gone, one by a running process (this one's parent, say).
        let abandoned = dir.path().join(format!("{PARTIAL_PREFIX}{}", u32::MAX - 1));
        let running = dir.path().join(format!("{PARTIAL_PREFIX}{}", std::os::unix::process::parent_id()));
        std::fs::create_dir(&abandoned).unwrap();
        std::fs::create_dir(&running).unwrap();
        partial_folder(&out).unwrap();
        assert!(!abandoned.exists() && running.exists());
    }
}
