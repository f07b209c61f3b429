//! The cost model's constants, one function each so serde defaults and the model share them.
//! Every value's source and status (measured / documented / assumption) is in
//! `models/cluster/CALIBRATION.md`; the line comment names the status here too.

use crate::scenario::format::{Network, NetworkMode};
use sim_core::{Bandwidth, SimTime};

/// Measured: qperf same-AZ one-way latency, c5.9xlarge (CALIBRATION.md "Fabric").
pub fn fabric_same_az_one_way() -> SimTime {
    SimTime::from_micros(50)
}

/// Measured: us-east-1a ↔ 1b one-way; published range 125 µs – 1.7 ms.
pub fn fabric_cross_az_one_way() -> SimTime {
    SimTime::from_micros(500)
}

/// Assumption: the "up to 10 Gbps" burst ceiling of common EKS node types; sustained load on
/// small types runs at their baseline (m5.large ~0.75 Gbps), set per node group.
pub fn eni_bandwidth_default() -> Bandwidth {
    Bandwidth {
        bits_per_sec: 10_000_000_000,
    }
}

/// Documented: Linux DEFAULT_TX_QUEUE_LEN, a pfifo tail-drop queue.
pub fn eni_tx_queue_packets() -> u32 {
    1000
}

/// Assumption: one veth crossing (one extra kernel receive pass ~0.21 µs, plus namespace
/// switch and skb handling), rounded up.
pub const VETH_TRAVERSAL: SimTime = SimTime::from_micros(1);
/// Assumption: root-namespace routing with empty netfilter tables (FIB ~50 ns, stack pass
/// with conntrack ~0.56 µs).
pub const NODE_ROUTING: SimTime = SimTime::from_nanos(500);
/// Assumption: VXLAN encapsulation per packet, from a TCP_RR difference between CNIs.
pub const VXLAN_ENCAP: SimTime = SimTime::from_nanos(1500);
/// Assumption: VXLAN decapsulation per packet, same source.
pub const VXLAN_DECAP: SimTime = SimTime::from_nanos(1500);
/// Assumption anchored on measurements: a node a scale event launches is Ready this long after
/// the event (EC2 instance request → kubelet registered ~40 s in two published timelines, plus
/// aws-node's readiness; CALIBRATION.md "Node joins").
pub const NODE_JOIN_LATENCY: SimTime = SimTime::from_secs(45);
/// Assumption anchored on documented bounds: a node a scale-down drains leaves the cluster
/// (instance terminated, Node object gone) this long after it was cordoned and its pods
/// evicted: the pods' default terminationGracePeriodSeconds (30 s) plus instance shutdown,
/// well inside EKS's 5-minute drain limit (CALIBRATION.md "Node scale-down").
pub const NODE_LEAVE_LATENCY: SimTime = SimTime::from_secs(60);
/// Documented: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 (kernel VXLAN_HEADROOM).
pub const VXLAN_OVERHEAD_BYTES: u32 = 50;
/// Documented: VPC jumbo-frame MTU, and the VPC CNI's default pod MTU.
pub const VPC_MTU: u32 = 9001;
/// Documented: IPv4 20 + TCP 20.
pub const TCP_IP_HEADER_BYTES: u32 = 40;
/// Documented: Linux sends TCP timestamps by default (12 bytes aligned).
pub const TCP_TIMESTAMP_OPTION_BYTES: u32 = 12;
/// Documented: IPv4 20 + UDP 8.
pub const UDP_IP_HEADER_BYTES: u32 = 28;
/// Documented: AWS bills inter-AZ transfer at 0.01 USD per GB in each direction, so a byte
/// that crosses pays twice. The scenario's `pricing.inter_az_usd_per_gb` overrides it.
pub fn inter_az_usd_per_gb_each_way() -> f64 {
    0.01
}
/// Documented: NAT gateway data processing, 0.045 USD per GB in us-east-1 (Amazon VPC pricing),
/// charged on every byte the gateway processes, either direction.
pub fn nat_gateway_usd_per_gb() -> f64 {
    0.045
}
/// Assumption: one way from the internet gateway to a flow's external destination (a nearby
/// public endpoint, ~20 ms round trip). Scenarios set `fabric.internet_latency` for theirs.
pub fn internet_one_way() -> SimTime {
    SimTime::from_millis(10)
}
/// Documented: traffic through an internet gateway or NAT gateway is limited to a 1500-byte
/// MTU (Amazon EC2 "Network MTU"), so internet peers advertise a 1460-byte MSS.
pub const INTERNET_MTU: u32 = 1500;
/// Documented: a NAT gateway supports 55,000 simultaneous connections per IPv4 address to each
/// unique destination (IP, port, protocol); beyond them it fails with ErrorPortAllocation
/// (Amazon VPC "NAT gateway basics").
pub const NAT_GATEWAY_CONNECTIONS_PER_DESTINATION: u32 = 55_000;
/// Documented: a NAT gateway drops an idle connection after 350 s (Amazon VPC "NAT gateway
/// basics", troubleshooting: "idle timeout").
pub const NAT_GATEWAY_IDLE_TIMEOUT: SimTime = SimTime::from_secs(350);
/// Documented: aws-node's AWS_VPC_K8S_CNI_RANDOMIZESNAT default `prng` adds `--random-fully` to
/// its SNAT rule, so the kernel draws each new source port from 1024–65535 and probes upward
/// on a clash (nf_nat_l4proto_unique_tuple), at most 128 times.
pub const SNAT_PORT_FIRST: u16 = 1024;
pub const SNAT_PORT_ATTEMPTS: u32 = 128;
/// Documented: AWS's pricing pages and calculator count a month as 730 hours.
pub const HOURS_PER_MONTH: u64 = 730;

/// The pod interface MTU: the scenario's, else the VPC's less any encapsulation.
pub fn pod_mtu(network: &Network) -> u32 {
    network.mtu.unwrap_or(match network.mode {
        NetworkMode::Underlay => VPC_MTU,
        NetworkMode::Overlay => VPC_MTU - VXLAN_OVERHEAD_BYTES,
    })
}

/// TCP payload bytes per segment at `mtu`, with Linux's timestamp option.
pub fn tcp_mss(mtu: u32) -> u32 {
    mtu - TCP_IP_HEADER_BYTES - TCP_TIMESTAMP_OPTION_BYTES
}

/// Assumption: a pod's change (Running, deleted) reaching every node's kube-proxy: the kubelet's
/// status update, the EndpointSlice controller's reconcile and write (no batching: its
/// `--endpointslice-updates-batch-period` defaults to 0, documented), and the watch to each
/// kube-proxy. No published figure for the whole path; band 50 ms – 2 s (CALIBRATION.md
/// "Endpoint propagation").
pub const ENDPOINT_PROPAGATION: SimTime = SimTime::from_millis(200);

/// Documented: the least time between two syncs of a node's service proxy. kube-proxy defaults
/// `iptables.minSyncPeriod` to 1 s (pkg/proxy/apis/config/v1alpha1/defaults.go); IPVS's is
/// not defaulted (0). nftables: 1 s, taken to follow iptables (assumption: its default was not
/// found in the stored sources). eBPF (Cilium) applies each update as it arrives (assumption:
/// 0). CALIBRATION.md "Endpoint propagation".
pub fn min_sync_period(mode: crate::scenario::services::ProxyMode) -> SimTime {
    use crate::scenario::services::ProxyMode;
    match mode {
        ProxyMode::Iptables | ProxyMode::Nftables => SimTime::from_secs(1),
        ProxyMode::Ipvs | ProxyMode::Ebpf => SimTime::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mss_matches_the_documented_values() {
        // CALIBRATION.md: 9001 → 8949, 8951 → 8899, 1500 → 1448 with timestamps.
        assert_eq!(tcp_mss(9001), 8949);
        assert_eq!(tcp_mss(8951), 8899);
        assert_eq!(tcp_mss(1500), 1448);
        let overlay = Network {
            mode: NetworkMode::Overlay,
            ..Network::default()
        };
        assert_eq!(pod_mtu(&overlay), 8951);
        assert_eq!(pod_mtu(&Network::default()), 9001);
    }
}
