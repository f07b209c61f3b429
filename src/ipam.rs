//! `cnsim ipam max-pods` and `cnsim ipam pool`: the AWS VPC CNI's arithmetic and one node's
//! warm pool over a timeline of pod counts, printed as a table or JSON.

use crate::format::nanos;
use crate::{out, Outcome, OutputFormat};
use clap::Args;
use cnsim_ipam::max_pods::{max_pods, CniVersion, MaxPodsQuery};
use cnsim_ipam::vpc_cni::config::IpamdConfig;
use cnsim_ipam::vpc_cni::timeline::{pool_timeline, RowEvent, DEFAULT_STEP_INTERVAL_NS};
use cnsim_ipam::{InstanceCatalog, InstanceType};
use serde::Serialize;
use std::fmt::Write;

/// JSON schema version of `cnsim ipam ... --format json`.
pub const IPAM_SCHEMA: u32 = 1;

// The flags of `cnsim ipam max-pods` (its help is the variant's, in main.rs).
#[derive(Args)]
pub struct MaxPodsArgs {
    #[arg(long)]
    instance_type: String,
    /// The VPC CNI version, e.g. 1.19.2 (turns on the calculator's rules).
    #[arg(long)]
    cni_version: Option<String>,
    /// ENABLE_PREFIX_DELEGATION: /28 prefixes, 16 addresses per slot (Nitro only).
    #[arg(long)]
    prefix_delegation: bool,
    /// Custom networking: the primary ENI carries no pods.
    #[arg(long)]
    custom_networking: bool,
    /// Use at most N ENIs.
    #[arg(long)]
    max_eni: Option<u32>,
    /// Do not cap at 110 (under 30 vCPUs) or 250.
    #[arg(long)]
    show_max_allowed: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

/// The catalog entry, or exit 2 naming the type and the nearest known ones.
fn instance(name: &str) -> Result<&'static InstanceType, Outcome> {
    let catalog = InstanceCatalog::embedded();
    catalog.get(name).ok_or_else(|| {
        let near = catalog.suggest(name, 3);
        eprintln!("error: --instance-type: unknown instance type {name:?}");
        eprintln!(
            "    valid: an EC2 instance type from the catalog ({} types){}",
            catalog.len(),
            if near.is_empty() {
                String::new()
            } else {
                format!(", e.g. {}", near.join(", "))
            }
        );
        Outcome::BadInput
    })
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("serializes") + "\n"
}

#[derive(Serialize)]
struct MaxPodsJson<'a> {
    schema: u32,
    #[serde(flatten)]
    answer: &'a cnsim_ipam::max_pods::MaxPods,
}

pub fn max_pods_command(a: &MaxPodsArgs) -> Outcome {
    let ty = match instance(&a.instance_type) {
        Ok(ty) => ty,
        Err(o) => return o,
    };
    let cni_version = match a.cni_version.as_deref().map(str::parse::<CniVersion>).transpose() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --cni-version: {e}");
            return Outcome::BadInput;
        }
    };
    let query = MaxPodsQuery {
        instance: ty,
        cni_version,
        custom_networking: a.custom_networking,
        prefix_delegation: a.prefix_delegation,
        max_eni: a.max_eni,
        show_max_allowed: a.show_max_allowed,
    };
    let answer = match max_pods(&query) {
        Ok(m) => m,
        Err(e) => return out::bad(e),
    };
    let text = match a.format {
        OutputFormat::Json => json(&MaxPodsJson {
            schema: IPAM_SCHEMA,
            answer: &answer,
        }),
        OutputFormat::Table => {
            let mut s = format!("{}\n", answer.value);
            for step in &answer.working {
                let _ = writeln!(s, "  {step}");
            }
            for note in &answer.notes {
                let _ = writeln!(s, "  note: {note}");
            }
            s
        }
    };
    out::print(&text)
}

// The flags of `cnsim ipam pool` (its help is the variant's, in main.rs).
#[derive(Args)]
pub struct PoolArgs {
    #[arg(long)]
    instance_type: String,
    /// Pod counts, one per step.
    #[arg(long, value_name = "N,N,...")]
    pods: String,
    /// WARM_ENI_TARGET.
    #[arg(long, default_value_t = 1)]
    warm_eni_target: u32,
    /// WARM_IP_TARGET (0: unset).
    #[arg(long, default_value_t = 0)]
    warm_ip_target: u32,
    /// MINIMUM_IP_TARGET (0: unset).
    #[arg(long, default_value_t = 0)]
    minimum_ip_target: u32,
    /// WARM_PREFIX_TARGET (with --prefix-delegation).
    #[arg(long, default_value_t = 0)]
    warm_prefix_target: u32,
    /// ENABLE_PREFIX_DELEGATION.
    #[arg(long)]
    prefix_delegation: bool,
    /// MAX_ENI.
    #[arg(long)]
    max_eni: Option<u32>,
    /// The kubelet's max pods (default: eni-max-pods.txt, or the calculator's value).
    #[arg(long)]
    max_pods: Option<u32>,
    /// Simulated time between steps [default: 120s, longer than ipamd's timers].
    #[arg(long)]
    step: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

impl PoolArgs {
    /// ipamd's settings: the flags given, the rest at ipamd's defaults.
    fn config(&self) -> IpamdConfig {
        IpamdConfig {
            warm_eni_target: self.warm_eni_target,
            warm_ip_target: self.warm_ip_target,
            minimum_ip_target: self.minimum_ip_target,
            warm_prefix_target: self.warm_prefix_target,
            prefix_delegation: self.prefix_delegation,
            max_eni: self.max_eni,
            max_pods: self.max_pods,
            ..Default::default()
        }
    }
}

#[derive(Serialize)]
struct PoolJson<'a> {
    schema: u32,
    #[serde(flatten)]
    timeline: &'a cnsim_ipam::vpc_cni::timeline::PoolTimeline,
}

/// Upper bound on timeline steps: a timeline is typed by hand.
const MAX_POOL_STEPS: usize = 10_000;

fn parse_pods(text: &str) -> Result<Vec<u32>, String> {
    let pods: Result<Vec<u32>, _> = text.split(',').map(|p| p.trim().parse::<u32>()).collect();
    match pods {
        Ok(p) if !p.is_empty() && p.len() <= MAX_POOL_STEPS => Ok(p),
        _ => Err(format!(
            "--pods {text:?}: expected pod counts separated by commas, e.g. 0,12,30,5 (at most {MAX_POOL_STEPS})"
        )),
    }
}

pub fn pool_command(a: &PoolArgs) -> Outcome {
    let ty = match instance(&a.instance_type) {
        Ok(ty) => ty,
        Err(o) => return o,
    };
    let pods = match parse_pods(&a.pods) {
        Ok(p) => p,
        Err(e) => return out::bad(e),
    };
    let step_ns = match a.step.as_deref().map(|s| s.parse::<sim_core::SimTime>()) {
        None => DEFAULT_STEP_INTERVAL_NS,
        Some(Ok(t)) if t.as_nanos() > 0 => t.as_nanos(),
        Some(_) => {
            eprintln!(
                "error: --step {:?}: expected a duration above zero, e.g. 120s or 2m",
                a.step.as_deref().unwrap()
            );
            return Outcome::BadInput;
        }
    };
    let timeline = pool_timeline(ty, &a.config(), &pods, step_ns);
    for w in &timeline.warnings {
        eprintln!("warning: {w}");
    }
    let text = match a.format {
        OutputFormat::Json => json(&PoolJson {
            schema: IPAM_SCHEMA,
            timeline: &timeline,
        }),
        OutputFormat::Table => pool_table(&timeline),
    };
    out::print(&text)
}

fn pool_table(t: &cnsim_ipam::vpc_cni::timeline::PoolTimeline) -> String {
    let mut s = String::new();
    let unit = if t.prefix_delegation { "prefixes" } else { "IPs" };
    let _ = writeln!(
        s,
        "{}: max pods {}, up to {} ENIs, {}; a step every {}\n",
        t.instance_type,
        t.max_pods,
        t.max_enis,
        if t.prefix_delegation {
            "prefix delegation (/28 per slot)"
        } else {
            "secondary IPs"
        },
        nanos(t.step_interval_ns)
    );
    let header = [
        "time",
        "event",
        "wanted",
        "running",
        "waiting",
        "ENIs",
        unit,
        "assigned",
        "warm",
        "cooling",
        "EC2 calls",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in &t.rows {
        rows.push(vec![
            nanos(r.time_ns),
            match r.event {
                RowEvent::Step => format!("step {}", r.step),
                RowEvent::Reconcile => "reconcile".into(),
            },
            r.pods_wanted.to_string(),
            r.pods_running.to_string(),
            (r.pods_waiting + r.pods_unschedulable).to_string(),
            format!("{}{}", r.enis, if r.eni_attaching { "+1" } else { "" }),
            r.slots.to_string(),
            r.stats.assigned.to_string(),
            r.warm.to_string(),
            r.cooling.to_string(),
            r.ec2.total().to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        let _ = writeln!(s, "{}", cells.join("  "));
    }
    let _ = writeln!(
        s,
        "\nwaiting: pods in ContainerCreating (no address yet) or beyond max pods. ENIs \"+1\": one attaching.\nEC2 calls in all: {}",
        t.ec2_total.total()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_lists_parse_or_say_what_is_valid() {
        assert_eq!(parse_pods("0, 12,30,5").unwrap(), [0, 12, 30, 5]);
        for bad in ["", "1,,2", "-1", "a"] {
            assert!(parse_pods(bad).unwrap_err().contains("e.g. 0,12,30,5"), "{bad}");
        }
    }
}
