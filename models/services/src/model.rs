//! What every service datapath is built from and answers: Services and their endpoints as the
//! API server holds them, the node the datapath runs on, a packet to look up, and the verdict
//! with the work the kernel did to reach it.
//!
//! These types are the seam between the cluster model and the engines; engines know nothing
//! of scenarios or simulated time beyond the `now_ns` they are handed.

use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

mod categorize;
pub use categorize::{categorize_endpoints, port_endpoints, Categorized, EndpointKey, PortEndpoint};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The lower-case name iptables, nft and ipvsadm use.
    pub fn as_lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// The Kubernetes API spelling.
    pub fn as_k8s(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// May be empty for a single-port Service.
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    /// Set for NodePort and LoadBalancer Services (unless allocateLoadBalancerNodePorts is off).
    pub node_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub kind: ServiceType,
    /// None: headless (`clusterIP: None`); datapaths hold nothing for it.
    pub cluster_ip: Option<Ipv4Addr>,
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `spec.loadBalancerSourceRanges`; empty = any source.
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    /// `sessionAffinity: ClientIP` with `timeoutSeconds`; None = no affinity.
    pub session_affinity_seconds: Option<u32>,
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    pub ports: Vec<ServicePort>,
}

impl Service {
    /// `namespace/name:port` as kube-proxy names a service port (`ServicePortName.String()`):
    /// the port part is omitted when the port has no name.
    pub fn port_name(&self, port: usize) -> String {
        let p = &self.ports[port];
        if p.name.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            format!("{}/{}:{}", self.namespace, self.name, p.name)
        }
    }
}

/// One endpoint of one service port (an EndpointSlice endpoint with the port resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// `nodeName`: decides "local" for the Local traffic policies.
    pub node: String,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// Services and, per service and port, their endpoints: the state kube-proxy syncs from.
/// Index order is the order the API server lists objects in; engines must not depend on it
/// for anything the kernel would order differently (kube-proxy sorts where the kernel sees it:
/// `ServiceSet::categorize` gives its deduplicated, `ip:port`-ordered view of a port).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceSet {
    pub services: Vec<Service>,
    /// `endpoints[s][p]`: endpoints of port `p` of service `s`.
    pub endpoints: Vec<Vec<Vec<Endpoint>>>,
}

impl ServiceSet {
    /// Checks the shape invariants every engine relies on.
    pub fn assert_consistent(&self) {
        assert_eq!(
            self.services.len(),
            self.endpoints.len(),
            "one endpoint list per service"
        );
        for (s, eps) in self.services.iter().zip(&self.endpoints) {
            assert_eq!(
                s.ports.len(),
                eps.len(),
                "one endpoint list per port of {}/{}",
                s.namespace,
                s.name
            );
        }
    }
}

/// The node a datapath is programmed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    /// Addresses NodePorts answer on (kube-proxy's --nodeport-addresses; default: all).
    pub node_ips: Vec<Ipv4Addr>,
    /// kube-proxy's local-traffic detector (--cluster-cidr): traffic from outside it to a
    /// ClusterIP is masqueraded. None: no such rule.
    pub cluster_cidr: Option<Ipv4Net>,
}

/// Where a packet enters the node's netfilter path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// From a pod on this node (PREROUTING via its veth).
    LocalPod,
    /// From a process in the host network namespace (OUTPUT).
    Host,
    /// From outside the node (PREROUTING via the ENI): NodePort, LoadBalancer, externalIPs.
    External,
}

/// A packet as a service datapath sees it before translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: Protocol,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The Service has no (usable) endpoints: kube-proxy REJECTs (ICMP port unreachable / RST).
    NoEndpoints,
    /// An address of a Service hit on a port the Service does not serve: nftables'
    /// `cluster-ips-check`, IPVS's KUBE-IPVS-FILTER. The verdict's `port` is `NO_PORT`.
    InvalidPort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A LoadBalancer's loadBalancerSourceRanges do not allow the source (KUBE-FW-* DROP).
    SourceRangeDenied,
    /// A Local traffic policy and no endpoint on this node, though some node has one
    /// (iptables: DROP "has no local endpoints"; nftables: a `drop` no-endpoint element).
    NoLocalEndpoints,
    /// kubelet's KUBE-FIREWALL guard ("block incoming localnet connections"): a packet to
    /// 127.0.0.0/8 from outside it that no NAT rule translated. About no Service: the
    /// verdict's `service` is `NO_SERVICE` and its `port` `NO_PORT`.
    LocalnetGuard,
}

/// `Decision::{Reject, Drop}.port` when the verdict is about no single port of the Service.
pub const NO_PORT: u32 = u32::MAX;
/// `Decision::Drop.service` when the verdict is about no Service at all.
pub const NO_SERVICE: u32 = u32::MAX;

/// What the datapath decided for the first packet of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Service matched: the packet goes on untouched.
    NotAService,
    /// Translated to this endpoint (`index` into the service port's endpoint list).
    Dnat {
        service: u32,
        port: u32,
        index: u32,
        ip: Ipv4Addr,
        dport: u16,
    },
    Reject {
        service: u32,
        port: u32,
        reason: RejectReason,
    },
    Drop {
        service: u32,
        port: u32,
        reason: DropReason,
    },
}

/// The work a lookup cost, counted the way the kernel would spend it. The cost model turns
/// these counts into time (models/services/CALIBRATION.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// iptables: rules whose matches were evaluated (jumps and returns included).
    pub rules_evaluated: u32,
    /// Hash-table probes: IPVS service table chain steps, conntrack-style lookups.
    pub hash_probes: u32,
    /// nftables set/map lookups and eBPF map lookups.
    pub map_lookups: u32,
    /// Random numbers drawn (statistic, numgen, random backend choice).
    pub random_draws: u32,
}

impl Work {
    pub fn add(&mut self, o: Work) {
        self.rules_evaluated += o.rules_evaluated;
        self.hash_probes += o.hash_probes;
        self.map_lookups += o.map_lookups;
        self.random_draws += o.random_draws;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// The packet is marked for masquerade (SNAT to the node address on the way out).
    pub masquerade: bool,
    pub work: Work,
}

/// One step of an explained lookup: which rule or map entry matched, in the engine's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// e.g. "nat", "ip kube-proxy", "ipvs", "cilium_lb4_services_v2".
    pub table: String,
    /// iptables / nft chain, or map name.
    pub chain: String,
    /// 1-based rule number within the chain (iptables -L --line-numbers), 0 for map entries.
    pub rule: u32,
    /// The rule or entry as the dump prints it.
    pub text: String,
}

/// Random numbers for lookups, drawn from the caller's named stream so engines stay pure.
pub trait RandomSource {
    fn next_u32(&mut self) -> u32;
}

/// What a (re)programming of the datapath wrote, for the per-sync cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Rules (iptables), elements (nft), virtual/real servers (IPVS), map entries (eBPF) written.
    pub objects_written: u64,
    /// Bytes of the restore/transaction text or map updates handed to the kernel.
    pub bytes_written: u64,
}

/// The proxy modes cnsim models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Iptables,
    Ipvs,
    Nftables,
    Ebpf,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Iptables => "iptables",
            Mode::Ipvs => "ipvs",
            Mode::Nftables => "nftables",
            Mode::Ebpf => "ebpf",
        })
    }
}

/// A service datapath on one node. `reference` implementations walk their rules as the kernel
/// does; fast ones reach the same verdict, work counts and random draws through indexes.
pub trait ServiceDatapath {
    fn mode(&self) -> Mode;
    /// Programs the node from scratch (a full sync).
    fn full_sync(&mut self, set: &ServiceSet, node: &NodeView) -> SyncStats;
    /// Reprograms after the listed services changed (kube-proxy's partial sync); `set` is the
    /// whole new state.
    fn partial_sync(&mut self, set: &ServiceSet, node: &NodeView, changed: &[usize]) -> SyncStats;
    /// Looks up the first packet of a connection. `trace`, when given, receives every rule or
    /// map entry that matched, in order.
    fn lookup(
        &mut self,
        pkt: &Packet,
        origin: Origin,
        now_ns: u64,
        rng: &mut dyn RandomSource,
        trace: Option<&mut Vec<TraceStep>>,
    ) -> Verdict;
    /// The programmed state in the tool's own save format (iptables-restore, nft -f,
    /// ipvsadm -Sn, cilium-dbg bpf lb list).
    fn dump(&self) -> String;
}
