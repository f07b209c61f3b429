//! The ipsets kube-proxy's IPVS proxier keeps (`ipsetInfo`, pkg/proxy/ipvs/ipset.go): names,
//! types, comments, entries, and their `ipset save` text.

use crate::model::Protocol;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

pub const LOOP_BACK: &str = "KUBE-LOOP-BACK";
pub const CLUSTER_IP: &str = "KUBE-CLUSTER-IP";
pub const EXTERNAL_IP: &str = "KUBE-EXTERNAL-IP";
pub const EXTERNAL_IP_LOCAL: &str = "KUBE-EXTERNAL-IP-LOCAL";
pub const LOAD_BALANCER: &str = "KUBE-LOAD-BALANCER";
pub const LOAD_BALANCER_LOCAL: &str = "KUBE-LOAD-BALANCER-LOCAL";
pub const LOAD_BALANCER_FW: &str = "KUBE-LOAD-BALANCER-FW";
pub const LB_SOURCE_IP: &str = "KUBE-LOAD-BALANCER-SOURCE-IP";
pub const LB_SOURCE_CIDR: &str = "KUBE-LOAD-BALANCER-SOURCE-CIDR";
pub const NODE_PORT_TCP: &str = "KUBE-NODE-PORT-TCP";
pub const NODE_PORT_LOCAL_TCP: &str = "KUBE-NODE-PORT-LOCAL-TCP";
pub const NODE_PORT_UDP: &str = "KUBE-NODE-PORT-UDP";
pub const NODE_PORT_LOCAL_UDP: &str = "KUBE-NODE-PORT-LOCAL-UDP";
pub const NODE_PORT_SCTP: &str = "KUBE-NODE-PORT-SCTP-HASH";
pub const NODE_PORT_LOCAL_SCTP: &str = "KUBE-NODE-PORT-LOCAL-SCTP-HASH";
pub const HEALTH_CHECK_NODE_PORT: &str = "KUBE-HEALTH-CHECK-NODE-PORT";
pub const IPVS_IPS: &str = "KUBE-IPVS-IPS";

/// (name, type, comment) in kube-proxy's `ipsetInfo` order.
pub const IPSETS: [(&str, &str, &str); 17] = [
    (
        LOOP_BACK,
        "hash:ip,port,ip",
        "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose",
    ),
    (
        CLUSTER_IP,
        "hash:ip,port",
        "Kubernetes service cluster ip + port for masquerade purpose",
    ),
    (
        EXTERNAL_IP,
        "hash:ip,port",
        "Kubernetes service external ip + port for masquerade and filter purpose",
    ),
    (
        EXTERNAL_IP_LOCAL,
        "hash:ip,port",
        "Kubernetes service external ip + port with externalTrafficPolicy=local",
    ),
    (LOAD_BALANCER, "hash:ip,port", "Kubernetes service lb portal"),
    (
        LOAD_BALANCER_FW,
        "hash:ip,port",
        "Kubernetes service load balancer ip + port for load balancer with sourceRange",
    ),
    (
        LOAD_BALANCER_LOCAL,
        "hash:ip,port",
        "Kubernetes service load balancer ip + port with externalTrafficPolicy=local",
    ),
    (
        LB_SOURCE_IP,
        "hash:ip,port,ip",
        "Kubernetes service load balancer ip + port + source IP for packet filter purpose",
    ),
    (
        LB_SOURCE_CIDR,
        "hash:ip,port,net",
        "Kubernetes service load balancer ip + port + source cidr for packet filter purpose",
    ),
    (
        NODE_PORT_TCP,
        "bitmap:port",
        "Kubernetes nodeport TCP port for masquerade purpose",
    ),
    (
        NODE_PORT_LOCAL_TCP,
        "bitmap:port",
        "Kubernetes nodeport TCP port with externalTrafficPolicy=local",
    ),
    (
        NODE_PORT_UDP,
        "bitmap:port",
        "Kubernetes nodeport UDP port for masquerade purpose",
    ),
    (
        NODE_PORT_LOCAL_UDP,
        "bitmap:port",
        "Kubernetes nodeport UDP port with externalTrafficPolicy=local",
    ),
    (
        NODE_PORT_SCTP,
        "hash:ip,port",
        "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
    ),
    (
        NODE_PORT_LOCAL_SCTP,
        "hash:ip,port",
        "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
    ),
    (
        HEALTH_CHECK_NODE_PORT,
        "bitmap:port",
        "Kubernetes health check node port",
    ),
    (IPVS_IPS, "hash:ip", "Addresses on the ipvs interface"),
];

/// An ipset by its position in `IPSETS`: what `-m set` rules name and the fast index keys on,
/// so a lookup never compares set names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SetId(u8);

impl SetId {
    /// `KUBE-IPVS-IPS`, which every "is this address local" question asks.
    pub const IPVS_IPS: SetId = SetId(16);

    pub fn of(name: &str) -> SetId {
        let i = IPSETS.iter().position(|(n, _, _)| *n == name).expect("known ipset");
        SetId(i as u8)
    }

    pub fn name(self) -> &'static str {
        IPSETS[usize::from(self.0)].0
    }
}

pub fn comment_of(set: &str) -> &'static str {
    IPSETS
        .iter()
        .find(|(n, _, _)| *n == set)
        .map(|(_, _, c)| *c)
        .expect("known ipset")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entry {
    IpPort(Ipv4Addr, Protocol, u16),
    IpPortIp(Ipv4Addr, Protocol, u16, Ipv4Addr),
    IpPortNet(Ipv4Addr, Protocol, u16, Ipv4Net),
    Port(u16),
    Ip(Ipv4Addr),
}

impl Entry {
    pub fn render(&self) -> String {
        match self {
            Entry::IpPort(a, p, n) => format!("{a},{}:{n}", p.as_lower()),
            Entry::IpPortIp(a, p, n, b) => format!("{a},{}:{n},{b}", p.as_lower()),
            Entry::IpPortNet(a, p, n, net) => format!("{a},{}:{n},{net}", p.as_lower()),
            Entry::Port(n) => n.to_string(),
            Entry::Ip(a) => a.to_string(),
        }
    }
}

/// Every ipset, by name, with its entries and how many Service ports put each there (two
/// Services may share an endpoint's KUBE-LOOP-BACK entry). Empty sets exist too.
pub type Sets = BTreeMap<&'static str, BTreeMap<Entry, u32>>;

pub fn empty_sets() -> Sets {
    IPSETS.iter().map(|(n, _, _)| (*n, BTreeMap::new())).collect()
}

/// `ipset save` text for all sets.
pub fn render_sets(sets: &Sets) -> String {
    let mut out = String::new();
    for (name, ty, _) in IPSETS {
        let extra = if ty.starts_with("bitmap") {
            " range 0-65535"
        } else {
            " family inet hashsize 1024 maxelem 65536"
        };
        let _ = writeln!(out, "create {name} {ty}{extra}");
        for e in sets[name].keys() {
            let _ = writeln!(out, "add {name} {}", e.render());
        }
    }
    out
}
