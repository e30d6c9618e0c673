//! `hotstuff`: the native face of hotstuff-scope.
//!
//! Today it drives the deterministic simulator headless (`hotstuff sim`); the TCP replica,
//! testbed and benchmark subcommands come with the native node.

mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "hotstuff", version, about = "HotStuff BFT consensus: simulator and replica")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole committee in the deterministic simulator until every live node commits B blocks.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim::run(&args),
    }
}
