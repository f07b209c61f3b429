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
    /// The route leads to the internet gateway but the source has no public address (a node in
    /// a private subnet, or a pod address that external SNAT left untranslated).
    IgwNoPublicAddress,
    /// The NAT gateway's subnet does not route the destination to an internet gateway.
    NatGatewayNoInternetRoute,
    /// The NAT gateway holds its 55,000 connections to this destination (ErrorPortAllocation).
    NatGatewayPortAllocation,
    /// A packet from the internet matched no active NAT translation (it idled out).
    NatGatewayNoTranslation,
    /// The far node has no pod with the destination address.
    NodeNoSuchPod,
    /// The flow's destination has no running pod to send to.
    NoRunningDestination,
    /// A Service with no usable endpoints: the datapath rejects the connection.
    ServiceNoEndpoints,
    /// loadBalancerSourceRanges do not admit the source.
    ServiceSourceRangeDenied,
    /// externalTrafficPolicy Local and no endpoint on the node.
    ServiceNoLocalEndpoints,
    /// nf_conntrack table full ("nf_conntrack: table full, dropping packet").
    ConntrackTableFull,
    /// A Service address on a port it does not serve (nftables cluster-ips-check, IPVS filter).
    ServiceInvalidPort,
    /// kubelet's KUBE-FIREWALL guard against non-local traffic to 127.0.0.0/8.
    LocalnetGuard,
    /// conntrack could not insert the new connection: one of its tuples is tracked already.
    ConntrackInsertFailed,
    /// A NetworkPolicy (or a cluster policy tier) does not allow the connection.
    PolicyDenied,
    /// A Service sent it to an endpoint whose pod is gone: the sending node's service datapath
    /// had not yet synced the endpoint's removal (`sim::endpoints`).
    ServiceStaleEndpoint,
}

impl DropReason {
    pub const ALL: [DropReason; 19] = [
        DropReason::EniTxQueueFull,
        DropReason::VpcNoRoute,
        DropReason::VpcBlackhole,
        DropReason::VpcNoSuchAddress,
        DropReason::IgwNoPublicAddress,
        DropReason::NatGatewayNoInternetRoute,
        DropReason::NatGatewayPortAllocation,
        DropReason::NatGatewayNoTranslation,
        DropReason::NodeNoSuchPod,
        DropReason::NoRunningDestination,
        DropReason::ServiceNoEndpoints,
        DropReason::ServiceSourceRangeDenied,
        DropReason::ServiceNoLocalEndpoints,
        DropReason::ConntrackTableFull,
        DropReason::ServiceInvalidPort,
        DropReason::LocalnetGuard,
        DropReason::ConntrackInsertFailed,
        DropReason::PolicyDenied,
        DropReason::ServiceStaleEndpoint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::EniTxQueueFull => "eni-tx-queue-full",
            DropReason::VpcNoRoute => "vpc-no-route",
            DropReason::VpcBlackhole => "vpc-blackhole",
            DropReason::VpcNoSuchAddress => "vpc-no-such-address",
            DropReason::IgwNoPublicAddress => "igw-no-public-address",
            DropReason::NatGatewayNoInternetRoute => "nat-gateway-no-internet-route",
            DropReason::NatGatewayPortAllocation => "nat-gateway-port-allocation",
            DropReason::NatGatewayNoTranslation => "nat-gateway-no-translation",
            DropReason::NodeNoSuchPod => "node-no-such-pod",
            DropReason::NoRunningDestination => "no-running-destination",
            DropReason::ServiceNoEndpoints => "service-no-endpoints",
            DropReason::ServiceSourceRangeDenied => "service-source-range-denied",
            DropReason::ServiceNoLocalEndpoints => "service-no-local-endpoints",
            DropReason::ConntrackTableFull => "conntrack-table-full",
            DropReason::ServiceInvalidPort => "service-invalid-port",
            DropReason::LocalnetGuard => "localnet-guard",
            DropReason::ConntrackInsertFailed => "conntrack-insert-failed",
            DropReason::PolicyDenied => "policy-denied",
            DropReason::ServiceStaleEndpoint => "service-stale-endpoint",
        }
    }
}

/// `cnsim_services::Work` summed over a run (u64: a run's totals outgrow u32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkTotals {
    pub rules_evaluated: u64,
    pub hash_probes: u64,
    pub map_lookups: u64,
    pub random_draws: u64,
}

impl WorkTotals {
    pub fn add(&mut self, w: cnsim_services::Work) {
        self.rules_evaluated += u64::from(w.rules_evaluated);
        self.hash_probes += u64::from(w.hash_probes);
        self.map_lookups += u64::from(w.map_lookups);
        self.random_draws += u64::from(w.random_draws);
    }
}

impl From<cnsim_services::RejectReason> for DropReason {
    fn from(r: cnsim_services::RejectReason) -> DropReason {
        match r {
            cnsim_services::RejectReason::NoEndpoints => DropReason::ServiceNoEndpoints,
            cnsim_services::RejectReason::InvalidPort => DropReason::ServiceInvalidPort,
        }
    }
}

impl From<cnsim_services::DropReason> for DropReason {
    fn from(r: cnsim_services::DropReason) -> DropReason {
        match r {
            cnsim_services::DropReason::SourceRangeDenied => DropReason::ServiceSourceRangeDenied,
            cnsim_services::DropReason::NoLocalEndpoints => DropReason::ServiceNoLocalEndpoints,
            cnsim_services::DropReason::LocalnetGuard => DropReason::LocalnetGuard,
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
    /// NEW connections a node masqueraded to its own address on their way out of the VPC.
    pub snat_connections: u64,
    /// Latency of packets that opened a connection (a NEW conntrack entry at the sender's node).
    pub first_packet_latency: Histogram,
    /// Latency of every other delivered packet: those of connections already tracked.
    pub established_latency: Histogram,
    /// NEW connections that went through a service lookup, and the work they cost in all.
    pub service_lookups: u64,
    pub service_work: WorkTotals,
    /// CPU time spent on packets in the datapath (hops, netfilter), ns.
    pub cpu_ns: u64,
    /// TCP: request sent → last response byte, per request (keep-alive requests included).
    pub request_latency: Histogram,
    pub flows: Vec<FlowMetrics>,
    pub nodes: Vec<NodeMetrics>,
    /// Packets delivered to each pod (by pod id; a replica's slot counts over its lives).
    pub pod_rx: Vec<u64>,
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
