//! The `cnsim` command line: argument parsing, loading, printing. No model logic lives here.
//!
//! Exit codes (DESIGN.md): 0 success, 1 a valid answer of "no" (`verify`: digests differ),
//! 2 bad input or usage.

mod datapath;
mod format;
mod load;
mod out;
mod run;
mod table;
mod trace;
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
    /// One packet from a pod to a target, hop by hop: every rule it matched, the backend
    /// chosen, the route taken, each hop's latency. TARGET: NS/POD, NS/svc/NAME or an IP,
    /// with :PORT[/PROTO].
    Trace {
        scenario: PathBuf,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// The variant to trace in (default: the first).
        #[arg(long)]
        variant: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// What a node's service datapath holds.
    Datapath {
        #[command(subcommand)]
        command: DatapathCommand,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DumpMode {
    Iptables,
    Nftables,
    Ipvs,
    Ebpf,
}

#[derive(Subcommand)]
enum DatapathCommand {
    /// Print the ruleset NODE would hold: iptables-restore, nft -f, ipvsadm -Sn, or the eBPF
    /// service maps as `cilium-dbg bpf lb list` prints them.
    Dump {
        scenario: PathBuf,
        #[arg(long)]
        node: String,
        #[arg(long, value_enum)]
        mode: DumpMode,
        /// The variant whose Services to program (default: the first).
        #[arg(long)]
        variant: Option<String>,
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
        Command::Trace {
            scenario,
            from,
            to,
            variant,
            format,
        } => trace::trace(&scenario, &from, &to, variant.as_deref(), format),
        Command::Datapath {
            command:
                DatapathCommand::Dump {
                    scenario,
                    node,
                    mode,
                    variant,
                },
        } => datapath::dump(&scenario, &node, mode, variant.as_deref()),
    };
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::No => ExitCode::from(1),
        Outcome::BadInput => ExitCode::from(2),
    }
}
