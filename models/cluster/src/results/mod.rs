//! Results of a run: what `cnsim run` prints and writes as JSON. Field names listed in
//! DESIGN.md ("Command line") are a contract; the rest may grow. Everything here is a function
//! of (scenario, seed): no wall-clock figure belongs in it.

pub mod egress;
pub mod ipam;
pub mod series;
pub mod sweep;

pub use egress::{EgressResult, NatGatewayResult};
pub use ipam::{PodStartup, VpcCniNode, VpcCniResult};
pub use series::{Buckets, LatencyBuckets, SubnetResult, Timeline};
pub use sweep::{Shard, SweepAxis, SweepPoint, SweepResult, SWEEP_SCHEMA};

use crate::scenario::format::{Pricing, Protocol};
use crate::sim::metrics::{DropReason, Metrics};
use crate::sim::traffic::FlowPlan;
use crate::world::{PodId, PodPhase, World};
use serde::{Deserialize, Serialize};
use sim_core::{Digest, Histogram};
use std::collections::BTreeMap;

/// JSON schema version of `cnsim run --format json`.
pub const RUN_SCHEMA: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
    pub mean: Option<u64>,
}

impl Percentiles {
    pub fn of(h: &Histogram) -> Percentiles {
        Percentiles {
            count: h.count(),
            p50: h.percentile(5000),
            p90: h.percentile(9000),
            p99: h.percentile(9900),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResult {
    pub name: String,
    pub az: String,
    pub instance_type: String,
    pub subnet: String,
    pub ip: String,
    pub pod_cidr: Option<String>,
    pub pods: u32,
    pub max_pods: u32,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub eni_queue_drops: u64,
    pub eni_queue_max: u32,
    /// When the node joined the cluster: 0 for a node there from the start, later for one a
    /// `node_group` scale event launched; null if it had not joined by the end of the run.
    #[serde(default)]
    pub joined_at_ns: Option<u64>,
    /// When a node group scale-down terminated the node (it was drained earlier, at the
    /// event); absent for a node still in the cluster at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at_ns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPod {
    pub pod: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSummary {
    pub total: u32,
    pub running: u32,
    pub pending: Vec<PendingPod>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketCounts {
    pub sent: u64,
    pub delivered: u64,
    /// Drop reason → count; only reasons that occurred.
    pub dropped: BTreeMap<String, u64>,
    /// Sent but neither delivered nor dropped when the run ended.
    pub in_flight: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connections {
    pub opened: u64,
    pub completed: u64,
    /// Opened but not completed by the end of the run (still open, or a packet was lost).
    pub incomplete: u64,
    pub latency_ns: Percentiles,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossAz {
    pub bytes: u64,
    /// AWS inter-AZ transfer charge for those bytes, both directions billed (CALIBRATION.md).
    pub cost_micro_usd: u64,
    /// The rate used: the scenario's `pricing.inter_az_usd_per_gb`, per GB each way.
    pub rate_micro_usd_per_gb: u64,
    /// The same traffic sustained for a month of 730 hours (AWS's convention).
    pub monthly_cost_micro_usd: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowResult {
    pub name: String,
    pub protocol: Protocol,
    /// Sending pods running at t=0, of `sources_total` (at their most, with scale events).
    pub sources_running: u32,
    pub sources_total: u32,
    pub destinations_running: u32,
    /// The destination beyond the VPC (`IP:PORT`), for a flow to one; it has no pods.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external: Option<String>,
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub latency_ns: Percentiles,
    pub connections: Option<Connections>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantResult {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub duration_ns: u64,
    pub digest: Digest,
    pub events: u64,
    pub network_mode: String,
    pub ipam: String,
    pub pod_mtu: u32,
    pub nodes: Vec<NodeResult>,
    pub subnets: Vec<SubnetResult>,
    pub pods: PodSummary,
    pub packets: PacketCounts,
    pub latency_ns: Percentiles,
    pub connections: Option<Connections>,
    pub cross_az: CrossAz,
    pub service_datapath: ServiceDatapathResult,
    /// TCP: per request (keep-alive requests included), request sent → response complete.
    pub request_latency_ns: Option<Percentiles>,
    pub flows: Vec<FlowResult>,
    pub latency_buckets: LatencyBuckets,
    pub timeline: Timeline,
    /// Runs where pods start during the run (the AWS VPC CNI, or scale events).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pod_startup: Option<PodStartup>,
    /// The AWS VPC CNI's pools and EC2 calls at the end of the run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vpc_cni: Option<VpcCniResult>,
    /// NetworkPolicy on the packet path, when the variant has policies.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub network_policy: Option<PolicyResult>,
    /// Services following pods, in runs where pods change behind a Service.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub endpoints: Option<EndpointsResult>,
    /// Traffic that left the VPC (SNAT, NAT gateways, the internet gateway), when some did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub egress: Option<EgressResult>,
}

/// Endpoint changes and the node syncs that programmed them (`sim::endpoints`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointsResult {
    /// EndpointSlice updates (pod reconciles that changed a Service), and the endpoints they
    /// added and removed (one per Service port).
    pub slice_updates: u64,
    pub endpoints_added: u64,
    pub endpoints_removed: u64,
    /// Partial syncs run on all nodes, the Services they re-programmed, their modelled time.
    pub node_syncs: u64,
    pub services_synced: u64,
    pub sync_ns: u64,
    /// UDP conntrack entries those syncs deleted because their endpoint went away.
    pub conntrack_flushed: u64,
    /// Pod Running → its endpoint programmed on every node.
    pub ready_to_programmed_ns: Percentiles,
    /// Pod deleted → its endpoint removed from every node.
    pub deleted_to_removed_ns: Percentiles,
    /// Pods that became endpoints during the run, and how many of them received packets.
    pub new_endpoints: u64,
    pub new_endpoints_receiving: u64,
}

/// `added`: pods that became endpoints during the run; `pod_rx`: packets each pod received.
pub fn endpoints(
    s: &crate::sim::endpoints::EndpointStats,
    added: impl Iterator<Item = PodId>,
    pod_rx: &[u64],
) -> EndpointsResult {
    let (mut new, mut receiving) = (0, 0);
    for p in added {
        new += 1;
        receiving += u64::from(pod_rx[p as usize] > 0);
    }
    EndpointsResult {
        new_endpoints: new,
        new_endpoints_receiving: receiving,
        slice_updates: s.slice_updates,
        endpoints_added: s.endpoints_added,
        endpoints_removed: s.endpoints_removed,
        node_syncs: s.node_syncs,
        services_synced: s.services_synced,
        sync_ns: s.sync_ns,
        conntrack_flushed: s.conntrack_flushed,
        ready_to_programmed_ns: Percentiles::of(&s.ready_to_programmed),
        deleted_to_removed_ns: Percentiles::of(&s.deleted_to_removed),
    }
}

/// What NetworkPolicy did in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyResult {
    pub network_policies: u32,
    pub cluster_policies: u32,
    /// First packets judged (at each node that enforces a direction).
    pub evaluated: u64,
    /// Connections dropped as `policy-denied`, by evidence: the direction and the policies
    /// that denied it.
    pub denied_by: BTreeMap<String, u64>,
}

/// The whole of `cnsim run --format json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    pub schema: u32,
    pub cnsim_version: String,
    /// The scenario's `name`, else its file name without extension.
    pub scenario: String,
    /// The base scenario's seed (after `--seed`); each variant reports its own too.
    pub seed: u64,
    pub duration_ns: u64,
    pub variants: Vec<VariantResult>,
    /// The scenario file as given and its text, so that a report names the exact input.
    /// Absent inside a sweep, which keeps them once for all its points.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scenario_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scenario_text: Option<String>,
}

fn connections(opened: u64, completed: u64, h: &Histogram) -> Connections {
    Connections {
        opened,
        completed,
        incomplete: opened - completed,
        latency_ns: Percentiles::of(h),
    }
}

/// What the service datapath did in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDatapathResult {
    pub mode: String,
    pub services: u32,
    /// NEW connections that went through the service datapath's lookup.
    pub lookups: u64,
    /// Mean work per lookup: rules evaluated, hash probes, map lookups (integer floor).
    pub rules_per_lookup: u64,
    pub hash_probes_per_lookup: u64,
    pub map_lookups_per_lookup: u64,
    /// Latency of the first packet of each connection (the one that walks the rules).
    pub first_packet_latency_ns: Percentiles,
    /// Latency of the other packets: connections conntrack already tracks.
    pub established_latency_ns: Percentiles,
    /// CPU time in the datapath per packet delivered or dropped (ns, integer floor).
    pub cpu_ns_per_packet: u64,
    /// Objects (rules, elements, servers, map entries) and bytes the first full sync wrote on
    /// one node, and its modelled programming time.
    pub full_sync_objects: u64,
    pub full_sync_bytes: u64,
    pub full_sync_ns: u64,
    /// Programming one endpoint change (one Service re-synced): objects, bytes, modelled time.
    pub endpoint_change_objects: Option<u64>,
    pub endpoint_change_ns: Option<u64>,
    /// The most conntrack entries any node held.
    pub conntrack_peak: u64,
    /// The smallest conntrack table size (nf_conntrack_max) of any node.
    pub conntrack_max: u64,
    /// New connections dropped because a conntrack table was full, over all nodes.
    pub conntrack_drops: u64,
}

pub struct CollectInput<'a> {
    pub name: &'a str,
    pub seed: u64,
    pub duration_ns: u64,
    pub description: &'a str,
    pub world: &'a World,
    pub flows: &'a [FlowPlan],
    pub metrics: &'a Metrics,
    pub digest: Digest,
    pub events: u64,
    pub in_flight: u64,
    pub netfilter: &'a crate::sim::netfilter::Netfilter,
    pub syncs: &'a [cnsim_services::SyncStats],
    pub endpoint_change: Option<cnsim_services::SyncStats>,
    pub timeline: Timeline,
    pub pricing: &'a Pricing,
    pub life: &'a crate::sim::ipamd::Lifecycle,
}

pub fn collect(i: CollectInput<'_>) -> VariantResult {
    let (w, m) = (i.world, i.metrics);
    let live = &i.life.pods;
    let mut pods_on = vec![0u32; w.nodes.len()];
    for p in live.iter().filter(|p| p.phase == PodPhase::Running) {
        if let Some(n) = p.node {
            pods_on[n as usize] += 1;
        }
    }
    let nodes = w
        .nodes
        .iter()
        .zip(&m.nodes)
        .zip(&pods_on)
        .enumerate()
        .map(|(id, ((n, nm), &pods))| NodeResult {
            name: n.name.clone(),
            az: w.azs[n.az as usize].clone(),
            instance_type: n.instance_type.clone(),
            subnet: w.subnets[n.subnet as usize].name.clone(),
            ip: n.ip.to_string(),
            pod_cidr: n.pod_cidr.map(|c| c.to_string()),
            pods,
            max_pods: n.max_pods,
            tx_packets: nm.tx_packets,
            tx_bytes: nm.tx_bytes,
            rx_packets: nm.rx_packets,
            eni_queue_drops: nm.queue_drops,
            eni_queue_max: nm.max_queue,
            joined_at_ns: i.life.joined_at(id as u32),
            left_at_ns: i.life.left_at(id as u32),
        })
        .collect();
    let pending = live
        .pending()
        .map(|(id, reason)| {
            let p = &w.pods[id as usize];
            PendingPod {
                pod: format!("{}/{}", p.namespace, p.name),
                reason: reason.to_string(),
            }
        })
        .collect();
    let (running, pending_count) = live.counts();
    let dropped = DropReason::ALL
        .iter()
        .filter(|r| m.dropped[**r as usize] > 0)
        .map(|r| (r.as_str().to_string(), m.dropped[*r as usize]))
        .collect();
    let flows = i
        .flows
        .iter()
        .zip(&m.flows)
        .map(|(p, fm)| FlowResult {
            name: p.name.clone(),
            protocol: p.protocol,
            sources_running: p.src_running,
            sources_total: p.src_total,
            external: p.external.map(|ip| format!("{ip}:{}", p.dport)),
            destinations_running: match p.service {
                Some((_, svc)) => i.netfilter.services().endpoints[svc]
                    .iter()
                    .map(|e| e.len())
                    .max()
                    .unwrap_or(0) as u32,
                None => p.dst_pods.len() as u32,
            },
            sent: fm.sent,
            delivered: fm.delivered,
            dropped: fm.dropped,
            latency_ns: Percentiles::of(&fm.latency),
            connections: (p.protocol == Protocol::TCP)
                .then(|| connections(fm.conns_opened, fm.conns_completed, &fm.conn_latency)),
        })
        .collect();
    let has_tcp = i.flows.iter().any(|p| p.protocol == Protocol::TCP);
    VariantResult {
        name: i.name.to_string(),
        description: i.description.to_string(),
        seed: i.seed,
        duration_ns: i.duration_ns,
        digest: i.digest,
        events: i.events,
        network_mode: format!("{:?}", w.mode),
        ipam: w.ipam.to_string(),
        pod_mtu: w.mtu,
        nodes,
        pods: PodSummary {
            total: running + pending_count,
            running,
            pending,
        },
        packets: PacketCounts {
            sent: m.sent,
            delivered: m.delivered,
            dropped,
            in_flight: i.in_flight,
        },
        subnets: w
            .subnets
            .iter()
            .enumerate()
            .map(|(k, sn)| SubnetResult {
                name: sn.name.clone(),
                az: w.azs[sn.az as usize].clone(),
                cidr: sn.cidr.to_string(),
                capacity: (1u64 << (32 - sn.cidr.prefix_len())).saturating_sub(AWS_RESERVED_PER_SUBNET),
                used: i.timeline.subnet_addresses_used[k].last().copied().unwrap_or(0),
            })
            .collect(),
        latency_ns: Percentiles::of(&m.latency),
        connections: has_tcp.then(|| connections(m.conns_opened, m.conns_completed, &m.conn_latency)),
        cross_az: cross_az(m.cross_az_bytes, i.duration_ns, i.pricing),
        service_datapath: service_datapath(&i, m),
        request_latency_ns: has_tcp.then(|| Percentiles::of(&m.request_latency)),
        flows,
        latency_buckets: LatencyBuckets {
            packets: Buckets::of(&m.latency),
            first_packet: Buckets::of(&m.first_packet_latency),
            established: Buckets::of(&m.established_latency),
            requests: has_tcp.then(|| Buckets::of(&m.request_latency)),
        },
        timeline: i.timeline,
        pod_startup: ipam::pod_startup(i.life),
        vpc_cni: ipam::vpc_cni(w, i.life),
        network_policy: None,
        endpoints: None,
        egress: None,
    }
}

fn service_datapath(i: &CollectInput<'_>, m: &Metrics) -> ServiceDatapathResult {
    let nf = i.netfilter;
    let per = |x: u64| x.checked_div(m.service_lookups).unwrap_or(0);
    // The t=0 sync of the first node there from the start.
    let first = i.world.nodes.iter().position(|n| n.joined_at_start());
    let sync = first.and_then(|n| i.syncs.get(n)).copied().unwrap_or_default();
    let packets = m.delivered + m.dropped_total();
    ServiceDatapathResult {
        mode: nf.mode.to_string(),
        services: nf.services().services.len() as u32,
        lookups: m.service_lookups,
        rules_per_lookup: per(m.service_work.rules_evaluated),
        hash_probes_per_lookup: per(m.service_work.hash_probes),
        map_lookups_per_lookup: per(m.service_work.map_lookups),
        first_packet_latency_ns: Percentiles::of(&m.first_packet_latency),
        established_latency_ns: Percentiles::of(&m.established_latency),
        cpu_ns_per_packet: m.cpu_ns.checked_div(packets).unwrap_or(0),
        full_sync_objects: sync.objects_written,
        full_sync_bytes: sync.bytes_written,
        full_sync_ns: if sync == Default::default() {
            0
        } else {
            cnsim_services::cost::sync_cost(nf.mode).ns(&sync, nf.services().services.len() as u64)
        },
        endpoint_change_objects: i.endpoint_change.map(|c| c.objects_written),
        endpoint_change_ns: i
            .endpoint_change
            .map(|c| cnsim_services::cost::sync_cost(nf.mode).ns(&c, nf.services().services.len() as u64)),
        conntrack_peak: (0..i.world.nodes.len())
            .map(|n| nf.conntrack(n as u32).stats().max_len)
            .max()
            .unwrap_or(0),
        conntrack_max: (0..i.world.nodes.len())
            .map(|n| u64::from(nf.conntrack(n as u32).config().max))
            .min()
            .unwrap_or(0),
        conntrack_drops: (0..i.world.nodes.len())
            .map(|n| nf.conntrack(n as u32).stats().drops)
            .sum(),
    }
}

/// Addresses AWS reserves in every subnet: network, VPC router, DNS, future use, broadcast.
pub const AWS_RESERVED_PER_SUBNET: u64 = 5;

/// Both directions are billed per GB (10^9 bytes, an assumption: AWS's price page says "GB").
/// The monthly figure scales the run's bytes from its duration to 730 hours.
fn cross_az(bytes: u64, duration_ns: u64, pricing: &Pricing) -> CrossAz {
    let rate = pricing.inter_az_micro_usd_per_gb();
    let cost = |b: u128| (b * u128::from(rate) * 2 / 1_000_000_000) as u64;
    let month_ns = u128::from(crate::calibration::HOURS_PER_MONTH) * 3_600 * 1_000_000_000;
    let monthly_bytes = (u128::from(bytes) * month_ns)
        .checked_div(u128::from(duration_ns))
        .unwrap_or(0);
    CrossAz {
        bytes,
        cost_micro_usd: cost(u128::from(bytes)),
        rate_micro_usd_per_gb: rate,
        monthly_cost_micro_usd: cost(monthly_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_az_cost_bills_both_directions_and_scales_to_a_730_hour_month() {
        let hour_ns = 3_600 * 1_000_000_000;
        let c = cross_az(1_000_000_000, hour_ns, &Pricing::default());
        assert_eq!(c.rate_micro_usd_per_gb, 10_000, "AWS's $0.01 per GB each way");
        assert_eq!(c.cost_micro_usd, 20_000, "1 GB crossing pays both sides");
        assert_eq!(c.monthly_cost_micro_usd, 730 * 20_000);
        let dearer = Pricing {
            inter_az_usd_per_gb: 0.02,
            ..Pricing::default()
        };
        assert_eq!(cross_az(1_000_000_000, hour_ns, &dearer).cost_micro_usd, 40_000);
        assert_eq!(
            cross_az(0, 0, &dearer).monthly_cost_micro_usd,
            0,
            "no division by a zero duration"
        );
    }
}
