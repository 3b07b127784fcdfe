//! `toy-gaussian`: the 1-D Gaussian DDPM experiment. Run with `--help` for every setting.

mod cli;
mod config;
mod experiment;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc, tuned by `BackendArgs::init` (see `ddpm_run`'s allocator notes).
#[global_allocator]
static ALLOCATOR: ddpm_run::MiMalloc = ddpm_run::MiMalloc;

fn main() -> ExitCode {
    ddpm_run::exit_quietly_on_broken_pipe();
    ddpm_run::exit_code(run(&cli::Args::parse()))
}

fn run(args: &cli::Args) -> anyhow::Result<()> {
    let config = config::ToyConfig::from_args(args)?;
    let device = args.backend.init().map_err(anyhow::Error::msg)?;
    let choice = args.backend.choice().map_err(anyhow::Error::msg)?;
    let s = experiment::run(&config, &device, choice.name(), args.backend.execution(), &args.out)?;
    println!("toy-gaussian ({:?} preset) on {}", args.preset, choice);
    println!("  data     N({}, {}^2), {} points", s.target_mean, s.target_std, config.data_points);
    println!(
        "  trained  {} steps in {:.2} s ({:.0} steps/s), final loss {:.4}",
        config.train.steps, s.train.seconds, s.train_steps_per_second, s.final_loss
    );
    println!(
        "  sampled  {} x {} steps in {:.2} s ({:.0} steps/s)",
        config.samples, config.timesteps, s.sample.seconds, s.sample_steps_per_second
    );
    println!("  samples  mean {:.3} (target {}), std {:.3} (target {})", s.sample_mean, s.target_mean, s.sample_std, s.target_std);
    println!(
        "  fit      KS {:.4} (a true sample of this size: < {:.4} 95% of the time; the training data: {:.4}), W1 {:.4}",
        s.ks_statistic, s.ks_95_noise_level, s.data_ks_statistic, s.wasserstein1
    );
    println!("  wrote    {}/{{{}}}", args.out.display(), experiment::OUTPUTS.join(", "));
    Ok(())
}
