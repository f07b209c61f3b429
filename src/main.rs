//! The `cnsim` command line: argument parsing, loading, printing. No model logic lives here.
//!
//! Exit codes (DESIGN.md): 0 success, 1 a valid answer of "no" (`verify`: digests differ),
//! 2 bad input or usage.

mod datapath;
mod format;
mod import;
mod ipam;
mod load;
mod out;
mod policy;
mod policy_matrix;
mod progress;
mod report;
mod run;
mod sweep;
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
        /// The report directory: report.html, one PNG per chart and results.json, replaced
        /// whole and never half-written [default: reports/out/<scenario name>/].
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Run a scenario at every point of a grid of values: each --set PATH=V1,V2,... is one
    /// axis (PATH as in a variant's `set`). Writes sweep.json and a report with curves across
    /// the values. `--merge DIR...` combines the results of `--shard` runs.
    #[command(arg_required_else_help = true)]
    Sweep {
        #[arg(required_unless_present = "merge", conflicts_with = "merge")]
        scenario: Option<PathBuf>,
        /// PATH=V1,V2,...: one swept parameter; several make a grid.
        #[arg(long = "set", value_name = "PATH=V1,V2,...", conflicts_with = "merge")]
        sets: Vec<String>,
        /// Run only slice I of N (I counts from 0): grid points k with k mod N = I.
        #[arg(long, value_name = "I/N", conflicts_with = "merge")]
        shard: Option<String>,
        /// Merge the sweep.json of these shard directories into one sweep.
        #[arg(long, num_args = 1.., value_name = "DIR")]
        merge: Vec<PathBuf>,
        /// Replace the scenario's seed.
        #[arg(long, conflicts_with = "merge")]
        seed: Option<u64>,
        /// Worker threads (default: one per core). Results do not depend on it.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        threads: Option<u32>,
        /// The output directory [default: reports/out/<scenario name>-sweep/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Re-render a report from saved results (results.json or a merged sweep.json).
    Report {
        results: PathBuf,
        /// The report directory to write (replaced whole).
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
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
        /// Trace in the cluster as the run has it at this time (e.g. "30s"): pods started
        /// later or addressed late, Services as each node had synced them. Default: t=0.
        #[arg(long, value_parser = parse_time)]
        at: Option<sim_core::SimTime>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// AWS VPC CNI IP address management: max pods per instance type, and what ipamd's warm
    /// pool does over a timeline of pod counts.
    Ipam {
        #[command(subcommand)]
        command: IpamCommand,
    },
    /// NetworkPolicy verdicts on Kubernetes manifests (files or directories of YAML), each
    /// with its explanation.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Write a scenario that reproduces Kubernetes manifests: namespaces, workloads,
    /// Services, and their NetworkPolicies (referenced, not copied).
    Import {
        #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
        manifests: Vec<PathBuf>,
        /// The scenario file to write.
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
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

#[derive(Subcommand)]
enum PolicyCommand {
    /// May SRC open a connection to DST on PORT? Exit 0 allowed, 1 denied. SRC/DST:
    /// NAMESPACE/POD, NAMESPACE/svc/NAME (every endpoint, after DNAT) or an IP address.
    Check {
        #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
        manifests: Vec<PathBuf>,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// PORT[/PROTO], protocol TCP unless given.
        #[arg(long)]
        port: String,
        /// Whether ipBlock peers match pod addresses (Cilium: false).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        ip_block_matches_pods: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Who reaches whom: one row per source pod, one column per destination ('.' allowed,
    /// 'X' denied), per port.
    Matrix {
        #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
        manifests: Vec<PathBuf>,
        /// PORT[/PROTO]; repeat for several [default: 80/tcp].
        #[arg(long)]
        port: Vec<String>,
        /// Only these pods: NS/POD or NS/*, comma separated.
        #[arg(long)]
        pods: Option<String>,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        ip_block_matches_pods: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// The pod pairs and ports whose verdict changes between two sets of manifests, with the
    /// reason on each side.
    Diff {
        #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
        before: Vec<PathBuf>,
        #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
        after: Vec<PathBuf>,
        /// PORT[/PROTO]; repeat for several [default: every container port].
        #[arg(long)]
        port: Vec<String>,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        ip_block_matches_pods: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

#[derive(Subcommand)]
enum IpamCommand {
    /// Max pods for an instance type. Without --cni-version: what a node bootstrapped from
    /// AWS's eni-max-pods.txt gets (ENIs × (IPv4 per ENI − 1) + 2, no cap). With it: what
    /// max-pods-calculator.sh prints (prefix delegation from CNI 1.9 on Nitro, the 110/250 cap).
    MaxPods(ipam::MaxPodsArgs),
    /// Step one node through pod counts (--pods 0,12,30,5) and print, after each step and each
    /// reconcile that changed something, ENIs, addresses or prefixes held, assigned, warm, and
    /// the EC2 calls made: what WARM_IP_TARGET and friends will actually do.
    Pool(ipam::PoolArgs),
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
        Command::Sweep {
            scenario,
            sets,
            shard,
            merge,
            seed,
            threads,
            out,
        } => match scenario {
            _ if !merge.is_empty() => sweep::merge_dirs(&merge, out.as_deref()),
            Some(scenario) => sweep::sweep(sweep::SweepArgs {
                scenario: &scenario,
                sets: &sets,
                shard: shard.as_deref(),
                seed,
                threads: threads.map(|t| t as usize),
                out: out.as_deref(),
            }),
            None => unreachable!("clap requires a scenario unless --merge is given"),
        },
        Command::Report { results, out } => report::report(&results, &out),
        Command::Import { manifests, out } => import::import(&manifests, &out),
        Command::Policy { command } => match command {
            PolicyCommand::Check {
                manifests,
                from,
                to,
                port,
                ip_block_matches_pods,
                format,
            } => policy::check(policy::CheckArgs {
                manifests: &manifests,
                from: &from,
                to: &to,
                port: &port,
                ip_block_matches_pods,
                format,
            }),
            PolicyCommand::Matrix {
                manifests,
                port,
                pods,
                ip_block_matches_pods,
                format,
            } => policy_matrix::matrix(&manifests, pods.as_deref(), &port, ip_block_matches_pods, format),
            PolicyCommand::Diff {
                before,
                after,
                port,
                ip_block_matches_pods,
                format,
            } => policy_matrix::diff(&before, &after, &port, ip_block_matches_pods, format),
        },
        Command::Ipam { command } => match command {
            IpamCommand::MaxPods(args) => ipam::max_pods_command(&args),
            IpamCommand::Pool(args) => ipam::pool_command(&args),
        },
        Command::Verify { scenario, runs } => verify::verify(&scenario, runs),
        Command::Trace {
            scenario,
            from,
            to,
            variant,
            at,
            format,
        } => trace::trace(&scenario, &from, &to, variant.as_deref(), at, format),
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

/// A simulated time on the command line, as scenarios write durations ("30s", "1.5ms").
fn parse_time(text: &str) -> Result<sim_core::SimTime, String> {
    sim_core::SimTime::parse(text).map_err(|e| e.to_string())
}
