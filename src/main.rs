//! The `cnsim` command line: argument parsing, loading, printing. No model logic lives here.
//!
//! Exit codes (DESIGN.md): 0 success, 1 a valid answer of "no" (`verify`: digests differ),
//! 2 bad input or usage.

mod format;
mod load;
mod out;
mod run;
mod table;
mod verify;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cnsim",
    version,
    about = "Deterministic discrete-event simulator of Kubernetes cluster networking"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run every variant of a scenario and print the comparison.
    Run {
        scenario: PathBuf,
        /// Replace the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Also write results.json into this directory (replaced whole, never half-written).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Replay a scenario N times on 1..N threads; fail if any digest or result differs.
    Verify {
        scenario: PathBuf,
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
        runs: u32,
    },
}

/// How a command ended.
pub enum Outcome {
    Ok,
    /// A valid "no".
    No,
    /// Bad input; the message is already printed.
    BadInput,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are successes; every other parse failure is bad usage.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let outcome = match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            format,
        } => run::run(&scenario, seed, out.as_deref(), format),
        Command::Verify { scenario, runs } => verify::verify(&scenario, runs),
    };
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::No => ExitCode::from(1),
        Outcome::BadInput => ExitCode::from(2),
    }
}
