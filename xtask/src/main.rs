//! `cargo xtask <chore>`: project chores that are not part of the library.

mod bench;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time the project's workloads on every CPU backend, side by side with the PyTorch reference
    /// when a Python with torch is available, and write the figures to BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench::run(&args),
    }
}
