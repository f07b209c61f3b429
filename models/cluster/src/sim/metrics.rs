//! What a run counts: packets by outcome, drop reasons, latency histograms, per-flow and
//! per-node tallies, cross-AZ bytes. Plain counters on the hot path; `results` turns them
//! into the report.

use sim_core::Histogram;

/// Why a packet was dropped. The names are stable: JSON output and scripts use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// The sending node's ENI transmit queue was full (tail drop).
    EniTxQueueFull,
    /// The VPC route table has no route for the destination.
    VpcNoRoute,
    /// The matching VPC route is a blackhole.
    VpcBlackhole,
    /// The local route matched but no ENI in the VPC owns the address.
    VpcNoSuchAddress,
    /// The route leads to an internet or NAT gateway; traffic beyond the VPC is not simulated yet.
    VpcEgressNotSimulated,
    /// The far node has no pod with the destination address.
    NodeNoSuchPod,
    /// The flow's destination has no running pod to send to.
    NoRunningDestination,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        DropReason::EniTxQueueFull,
        DropReason::VpcNoRoute,
        DropReason::VpcBlackhole,
        DropReason::VpcNoSuchAddress,
        DropReason::VpcEgressNotSimulated,
        DropReason::NodeNoSuchPod,
        DropReason::NoRunningDestination,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::EniTxQueueFull => "eni-tx-queue-full",
            DropReason::VpcNoRoute => "vpc-no-route",
            DropReason::VpcBlackhole => "vpc-blackhole",
            DropReason::VpcNoSuchAddress => "vpc-no-such-address",
            DropReason::VpcEgressNotSimulated => "vpc-egress-not-simulated",
            DropReason::NodeNoSuchPod => "node-no-such-pod",
            DropReason::NoRunningDestination => "no-running-destination",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct FlowMetrics {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub latency: Histogram,
    pub conns_opened: u64,
    pub conns_completed: u64,
    pub conn_latency: Histogram,
}

#[derive(Clone, Debug, Default)]
pub struct NodeMetrics {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub queue_drops: u64,
    /// The most packets the ENI transmit queue held at once.
    pub max_queue: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: [u64; DropReason::ALL.len()],
    /// One-way latency of every delivered packet, ns.
    pub latency: Histogram,
    /// TCP: connection start to the last response byte at the client, ns.
    pub conn_latency: Histogram,
    pub conns_opened: u64,
    pub conns_completed: u64,
    /// Bytes on the wire between nodes in different AZs (both directions).
    pub cross_az_bytes: u64,
    pub flows: Vec<FlowMetrics>,
    pub nodes: Vec<NodeMetrics>,
}

impl Metrics {
    pub fn new(flows: usize, nodes: usize) -> Metrics {
        Metrics {
            flows: vec![FlowMetrics::default(); flows],
            nodes: vec![NodeMetrics::default(); nodes],
            ..Metrics::default()
        }
    }

    #[inline]
    pub fn drop(&mut self, flow: u32, reason: DropReason) {
        self.dropped[reason as usize] += 1;
        self.flows[flow as usize].dropped += 1;
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}
