//! Figures a report derives from a variant's results, in one place so that the summary table,
//! the charts and the sweep curves agree on what "work per new connection" or "busiest subnet"
//! mean.

use cnsim_cluster::calibration::HOURS_PER_MONTH;
use cnsim_cluster::results::{CrossAz, ServiceDatapathResult};
use cnsim_cluster::VariantResult;

/// AWS's month for pricing, the one the cluster model prices `monthly_cost_micro_usd` over.
const MONTH_NS: f64 = HOURS_PER_MONTH as f64 * 3600.0 * 1e9;

/// Whether the variant's traffic went through Services (so first-packet figures mean something).
pub fn uses_services(sd: &ServiceDatapathResult) -> bool {
    sd.services > 0 && sd.lookups > 0
}

/// Mean datapath work per new connection: rules evaluated + hash probes + map lookups.
/// None when no connection went through the service datapath.
pub fn work_per_connection(sd: &ServiceDatapathResult) -> Option<u64> {
    uses_services(sd).then(|| sd.rules_per_lookup + sd.hash_probes_per_lookup + sd.map_lookups_per_lookup)
}

/// The first packet's p99 when Services were involved.
pub fn first_packet_p99(v: &VariantResult) -> Option<u64> {
    uses_services(&v.service_datapath)
        .then_some(v.service_datapath.first_packet_latency_ns.p99)
        .flatten()
}

pub fn dropped_total(v: &VariantResult) -> u64 {
    v.packets.dropped.values().sum()
}

/// Bytes that crossed AZs, scaled from the run's duration to a month of `HOURS_PER_MONTH`.
pub fn monthly_cross_az_bytes(c: &CrossAz, duration_ns: u64) -> f64 {
    if duration_ns == 0 {
        0.0
    } else {
        c.bytes as f64 * MONTH_NS / duration_ns as f64
    }
}

/// The subnet with the highest peak utilisation over the run (the first on a tie), with its
/// utilisation in percent at each timeline sample.
pub fn busiest_subnet(v: &VariantResult) -> Option<(usize, Vec<f64>)> {
    let series = v
        .subnets
        .iter()
        .zip(&v.timeline.subnet_addresses_used)
        .map(|(s, used)| {
            let cap = s.capacity.max(1) as f64;
            used.iter().map(|&u| u as f64 * 100.0 / cap).collect::<Vec<f64>>()
        })
        .collect::<Vec<_>>();
    let peak = |s: &Vec<f64>| s.iter().copied().fold(0.0, f64::max);
    let mut best: Option<usize> = None;
    for (k, s) in series.iter().enumerate() {
        if best.is_none_or(|b| peak(s) > peak(&series[b])) {
            best = Some(k);
        }
    }
    best.map(|k| (k, series[k].clone()))
}

/// max_pods of the node holding the most pods at the end of the run (the first on a tie).
pub fn busiest_node_max_pods(v: &VariantResult) -> Option<u32> {
    let last = |k: usize| {
        v.timeline
            .node_addresses
            .as_ref()
            .and_then(|n| n.get(k))
            .and_then(|s| s.last().copied())
            .unwrap_or(v.nodes[k].pods)
    };
    let mut best: Option<usize> = None;
    for k in 0..v.nodes.len() {
        if best.is_none_or(|b| last(k) > last(b)) {
            best = Some(k);
        }
    }
    best.map(|k| v.nodes[k].max_pods)
}

/// The sample times of a timeline in seconds.
pub fn times_s(t_ns: &[u64]) -> Vec<f64> {
    t_ns.iter().map(|&t| t as f64 / 1e9).collect()
}
