//! The human table of `cnsim run`: one column per variant, side by side, then one line per
//! flow and variant.

use crate::format::{bytes, count, nanos, opt_nanos, usd};
use cnsim_cluster::results::{RunResult, VariantResult};
use std::fmt::Write;
use std::time::Duration;

type Row = (String, Vec<String>);

/// `p50 / p99 / max` of a duration distribution.
fn p50_p99_max(p: &cnsim_cluster::results::Percentiles) -> String {
    format!("{} / {} / {}", opt_nanos(p.p50), opt_nanos(p.p99), opt_nanos(p.max))
}

fn rows(v: &VariantResult, wall: Duration) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, val: String| r.push((k.to_string(), val));
    add(
        "network",
        format!("{} / {} / MTU {}", v.network_mode.to_lowercase(), v.ipam, v.pod_mtu),
    );
    let at_start = v.nodes.iter().filter(|n| n.joined_at_ns == Some(0)).count() as u64;
    if at_start == v.nodes.len() as u64 {
        add("nodes", count(at_start));
    } else {
        // A node_group scale event adds nodes: how many joined, and when the last did.
        let joined: Vec<u64> = v.nodes.iter().filter_map(|n| n.joined_at_ns).collect();
        let last = joined.iter().copied().max().unwrap_or(0);
        add(
            "nodes at start / joined / launched",
            format!(
                "{} / {} / {}",
                count(at_start),
                count(joined.len() as u64 - at_start),
                count(v.nodes.len() as u64 - at_start)
            ),
        );
        add("  last node ready at", opt_nanos(Some(last)));
    }
    // A node_group scale-down drained and terminated nodes.
    let left = v.nodes.iter().filter(|n| n.left_at_ns.is_some()).count() as u64;
    if left > 0 {
        add("  nodes drained and left", count(left));
    }
    add("pods running / total", format!("{} / {}", v.pods.running, v.pods.total));
    add("packets sent", count(v.packets.sent));
    add("  delivered", count(v.packets.delivered));
    let dropped: u64 = v.packets.dropped.values().sum();
    add("  dropped", count(dropped));
    for (reason, n) in &v.packets.dropped {
        add(&format!("    {reason}"), count(*n));
    }
    add("  in flight at end", count(v.packets.in_flight));
    add("latency p50", opt_nanos(v.latency_ns.p50));
    add("latency p90", opt_nanos(v.latency_ns.p90));
    add("latency p99", opt_nanos(v.latency_ns.p99));
    add("latency max", opt_nanos(v.latency_ns.max));
    if let Some(c) = &v.connections {
        add(
            "tcp connections done / opened",
            format!("{} / {}", count(c.completed), count(c.opened)),
        );
        add(
            "connection p50 / p99",
            format!("{} / {}", opt_nanos(c.latency_ns.p50), opt_nanos(c.latency_ns.p99)),
        );
    }
    let sd = &v.service_datapath;
    if sd.services > 0 {
        add(
            "service datapath",
            format!("{} / {} Services", sd.mode, count(u64::from(sd.services))),
        );
        add("  new connections looked up", count(sd.lookups));
        add(
            "  rules / probes / map lookups per new conn",
            format!(
                "{} / {} / {}",
                count(sd.rules_per_lookup),
                sd.hash_probes_per_lookup,
                sd.map_lookups_per_lookup
            ),
        );
        add(
            "  first-packet p50 / p99",
            format!(
                "{} / {}",
                opt_nanos(sd.first_packet_latency_ns.p50),
                opt_nanos(sd.first_packet_latency_ns.p99)
            ),
        );
        add("  CPU per packet", nanos(sd.cpu_ns_per_packet));
        add(
            "  full sync",
            format!("{} objects, {}", count(sd.full_sync_objects), nanos(sd.full_sync_ns)),
        );
        add(
            "  sync after endpoint change",
            match (sd.endpoint_change_objects, sd.endpoint_change_ns) {
                (Some(o), Some(ns)) => format!("{} objects, {}", count(o), nanos(ns)),
                _ => "-".into(),
            },
        );
        add(
            "  conntrack peak / drops",
            format!("{} / {}", count(sd.conntrack_peak), count(sd.conntrack_drops)),
        );
    }
    if let Some(ps) = &v.pod_startup {
        add("pod time-to-ready p50 / p99 / max", p50_p99_max(&ps.time_to_ready_ns));
        add(
            "  pods created / deleted / sandbox retries",
            format!(
                "{} / {} / {}",
                count(ps.pods_created),
                count(ps.pods_deleted),
                count(ps.sandbox_retries)
            ),
        );
        if ps.pods_evicted > 0 {
            add("  pods evicted by node drains", count(ps.pods_evicted));
        }
    }
    if let Some(e) = &v.endpoints {
        add(
            "endpoints added / removed",
            format!("{} / {}", count(e.endpoints_added), count(e.endpoints_removed)),
        );
        add(
            "  node syncs / sync time",
            format!("{} / {}", count(e.node_syncs), opt_nanos(Some(e.sync_ns))),
        );
        add(
            "  ready → programmed p50 / p99 / max",
            p50_p99_max(&e.ready_to_programmed_ns),
        );
        add(
            "  deleted → removed p50 / max",
            format!(
                "{} / {}",
                opt_nanos(e.deleted_to_removed_ns.p50),
                opt_nanos(e.deleted_to_removed_ns.max)
            ),
        );
        add(
            "  new endpoints receiving",
            format!("{} of {}", count(e.new_endpoints_receiving), count(e.new_endpoints)),
        );
    }
    if let Some(c) = &v.vpc_cni {
        let sum = |f: fn(&cnsim_cluster::results::ipam::VpcCniNode) -> u32| {
            c.nodes.iter().map(|n| u64::from(f(n))).sum::<u64>()
        };
        add("VPC CNI ENIs attached", count(sum(|n| n.enis)));
        add(
            "  addresses held / assigned",
            format!(
                "{} / {}",
                count(sum(|n| n.addresses_held)),
                count(sum(|n| n.addresses_assigned))
            ),
        );
        let prefixes = sum(|n| n.prefixes_held);
        if prefixes > 0 {
            add("  /28 prefixes held", count(prefixes));
        }
        let branch = sum(|n| n.branch_pods);
        if branch > 0 {
            add("  pods on branch ENIs (security groups)", count(branch));
        }
        add("  EC2 calls", count(c.ec2_calls_total));
    }
    if let Some(np) = &v.network_policy {
        add(
            "network policy",
            format!(
                "{} NetworkPolicies, {} cluster policies",
                np.network_policies, np.cluster_policies
            ),
        );
        add("  first packets judged", count(np.evaluated));
        for (evidence, n) in &np.denied_by {
            add(&format!("  denied: {evidence}"), count(*n));
        }
    }
    if let Some(e) = &v.egress {
        add("connections SNATed on nodes", count(e.snat_connections));
        for g in &e.nat_gateways {
            add(
                &format!("NAT gateway {} bytes / cost", g.name),
                format!("{} / {}", bytes(g.stats.bytes), usd(g.processing_cost_micro_usd)),
            );
            add(
                &format!("  {} connections / port errors", g.name),
                format!(
                    "{} / {}",
                    count(g.stats.connections),
                    count(g.stats.port_allocation_errors)
                ),
            );
        }
        add(
            "internet bytes out / in",
            format!("{} / {}", bytes(e.internet_bytes_out), bytes(e.internet_bytes_in)),
        );
    }
    add("cross-AZ bytes", bytes(v.cross_az.bytes));
    add("cross-AZ cost", usd(v.cross_az.cost_micro_usd));
    add("events executed", count(v.events));
    let secs = wall.as_secs_f64();
    add(
        "events/s (wall)",
        if secs > 0.0 {
            format!("{:.2} M", v.events as f64 / secs / 1e6)
        } else {
            "-".into()
        },
    );
    add("wall time", nanos(wall.as_nanos() as u64));
    add("digest", v.digest.to_string());
    r
}

pub fn render(result: &RunResult, file: &str, walls: &[Duration]) -> String {
    let mut out = String::new();
    let n = result.variants.len();
    let _ = writeln!(
        out,
        "scenario {} ({}), seed {}, {} simulated, {} variant{}\n",
        result.scenario,
        file,
        result.seed,
        nanos(result.duration_ns),
        n,
        if n == 1 { "" } else { "s" }
    );
    // Merge the per-variant rows by label, keeping first-seen order (drop reasons may differ).
    let mut table: Vec<Row> = Vec::new();
    for (i, (v, wall)) in result.variants.iter().zip(walls).enumerate() {
        for (k, val) in rows(v, *wall) {
            let pos = match table.iter().position(|(l, _)| *l == k) {
                Some(p) => p,
                None => {
                    table.push((k, vec!["-".into(); n]));
                    table.len() - 1
                }
            };
            table[pos].1[i] = val;
        }
    }
    let header: Vec<String> = result.variants.iter().map(|v| v.name.clone()).collect();
    let label_w = table.iter().map(|(l, _)| l.len()).max().unwrap_or(0).max(8);
    let col_w: Vec<usize> = (0..n)
        .map(|i| {
            table
                .iter()
                .map(|(_, c)| c[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = write!(out, "{:label_w$}", "");
    for (h, w) in header.iter().zip(&col_w) {
        let _ = write!(out, "  {h:>w$}");
    }
    out.push('\n');
    for (label, cells) in &table {
        let _ = write!(out, "{label:label_w$}");
        for (c, w) in cells.iter().zip(&col_w) {
            let _ = write!(out, "  {c:>w$}");
        }
        out.push('\n');
    }
    flows(result, &mut out);
    pending(result, &mut out);
    out
}

fn flows(result: &RunResult, out: &mut String) {
    if result.variants.iter().all(|v| v.flows.is_empty()) {
        return;
    }
    let _ = writeln!(
        out,
        "\n{:<22} {:<16} {:>11} {:>11} {:>9} {:>10} {:>10} {:>12}",
        "flow", "variant", "sent", "delivered", "dropped", "p50", "p99", "conn p50"
    );
    let flow_count = result.variants.iter().map(|v| v.flows.len()).max().unwrap_or(0);
    for fi in 0..flow_count {
        for v in &result.variants {
            let Some(f) = v.flows.get(fi) else { continue };
            let conn = f
                .connections
                .as_ref()
                .map_or("-".to_string(), |c| opt_nanos(c.latency_ns.p50));
            let _ = writeln!(
                out,
                "{:<22} {:<16} {:>11} {:>11} {:>9} {:>10} {:>10} {:>12}",
                f.name,
                v.name,
                count(f.sent),
                count(f.delivered),
                count(f.dropped),
                opt_nanos(f.latency_ns.p50),
                opt_nanos(f.latency_ns.p99),
                conn
            );
            if let Some(to) = &f.external {
                let _ = writeln!(
                    out,
                    "{:<22}   {} of {} sending pods ran at t=0; to {to}, beyond the VPC",
                    "", f.sources_running, f.sources_total
                );
            } else if f.sources_running < f.sources_total || f.destinations_running == 0 {
                let _ = writeln!(
                    out,
                    "{:<22}   {} of {} sending pods ran at t=0; {} destination pods",
                    "", f.sources_running, f.sources_total, f.destinations_running
                );
            }
        }
    }
}

/// Pending pods listed per variant in the table; --format json has them all.
const PENDING_SHOWN: usize = 5;

fn pending(result: &RunResult, out: &mut String) {
    for v in &result.variants {
        if v.pods.pending.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}: {} pod(s) Pending", v.name, v.pods.pending.len());
        for p in v.pods.pending.iter().take(PENDING_SHOWN) {
            let _ = writeln!(out, "  {}: {}", p.pod, p.reason);
        }
        if v.pods.pending.len() > PENDING_SHOWN {
            let more = v.pods.pending.len() - PENDING_SHOWN;
            let _ = writeln!(out, "  ... and {more} more (see --format json)");
        }
    }
}

/// The text `cnsim sweep` prints: one line per grid point and variant.
pub fn sweep_summary(s: &cnsim_cluster::results::SweepResult) -> String {
    let mut out = String::new();
    let axes: Vec<&str> = s.axes.iter().map(|a| a.path.as_str()).collect();
    let _ = writeln!(
        out,
        "sweep of {} ({}), seed {}, {} of {} points{}\n",
        s.scenario,
        s.scenario_file,
        s.seed,
        s.points.len(),
        s.points_total,
        s.shard
            .map(|sh| format!(" (shard {}/{})", sh.index, sh.count))
            .unwrap_or_default()
    );
    let mut header: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
    header.extend(
        [
            "variant",
            "sent",
            "dropped",
            "p50",
            "p99",
            "1st-pkt p99",
            "full sync",
            "digest",
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    for p in &s.points {
        for v in &p.result.variants {
            let mut row = p.values.clone();
            let sd = &v.service_datapath;
            row.extend([
                v.name.clone(),
                count(v.packets.sent),
                count(v.packets.dropped.values().sum()),
                opt_nanos(v.latency_ns.p50),
                opt_nanos(v.latency_ns.p99),
                opt_nanos(sd.first_packet_latency_ns.p99),
                if sd.services > 0 {
                    nanos(sd.full_sync_ns)
                } else {
                    "-".into()
                },
                v.digest.to_string(),
            ]);
            rows.push(row);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}
