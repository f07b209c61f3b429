//! kube-proxy's view of one Service port's endpoints, the one every engine programs from: the
//! EndpointSlice cache's deduplication and order (pkg/proxy/endpointslicecache.go), then
//! `CategorizeEndpoints` (pkg/proxy/topology.go) with the `ServicePort` predicates it asks
//! (pkg/proxy/serviceport.go, pkg/api/v1/service/util.go).
//!
//! Followed: kubernetes/kubernetes `topology.go` at 008b3652 and `serviceport.go` at 5ce22905;
//! the 1.30 and 1.31 releases differ from them only in topology-hint code. Topology-aware
//! routing (zone and node hints) is not modelled, so the Cluster set is never narrowed by
//! hints.
//!
//! Indices: the categorized lists hold positions in `Categorized::endpoints` (deduplicated,
//! in `ip:port` string order); `PortEndpoint::index` maps a position back to the API list,
//! which is what `Decision::Dnat.index` names.

use super::{Endpoint, Service, ServiceSet, TrafficPolicy};
use std::cmp::Ordering;
use std::fmt;
use std::io::Write as _;
use std::net::Ipv4Addr;

impl Service {
    /// `apiservice.ExternallyAccessible`: NodePort, LoadBalancer, or ClusterIP with external
    /// IPs. Gates `external_policy_local`: externalTrafficPolicy means nothing otherwise.
    pub fn externally_accessible(&self) -> bool {
        self.kind != super::ServiceType::ClusterIP || !self.external_ips.is_empty()
    }

    /// `ServicePort.ExternallyAccessible()`: port `p` is reachable other than by its
    /// ClusterIP (a node port, a load-balancer VIP or an external IP). Per port: a
    /// LoadBalancer without node ports and without ingress IPs yet is not.
    pub fn port_externally_accessible(&self, p: usize) -> bool {
        self.ports[p].node_port.is_some_and(|n| n != 0)
            || !self.load_balancer_ips.is_empty()
            || !self.external_ips.is_empty()
    }

    /// `apiservice.ExternalPolicyLocal`: externalTrafficPolicy Local on a Service that
    /// accepts external traffic.
    pub fn external_policy_local(&self) -> bool {
        self.externally_accessible() && self.external_traffic_policy == TrafficPolicy::Local
    }

    /// `apiservice.InternalPolicyLocal`.
    pub fn internal_policy_local(&self) -> bool {
        self.internal_traffic_policy == TrafficPolicy::Local
    }

    /// `UsesClusterEndpoints`: internal policy Cluster, or the port accepts external traffic
    /// at all; even with externalTrafficPolicy Local, pod and host traffic to an external
    /// address is short-circuited to the Cluster endpoints.
    pub fn uses_cluster_endpoints(&self, p: usize) -> bool {
        !self.internal_policy_local() || self.port_externally_accessible(p)
    }

    /// `UsesLocalEndpoints`: internal policy Local, or external policy Local on a port that
    /// accepts external traffic.
    pub fn uses_local_endpoints(&self, p: usize) -> bool {
        self.internal_policy_local() || (self.external_policy_local() && self.port_externally_accessible(p))
    }
}

/// `ip:port`, kube-proxy's `Endpoint.String()` for IPv4: the deduplication key, the sort key
/// (compared as a string, so 10.0.0.10 sorts before 10.0.0.2) and part of chain names. Held
/// inline (at most 21 bytes) so categorizing allocates no string per endpoint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    buf: [u8; 21],
    len: u8,
}

impl EndpointKey {
    pub fn new(ip: Ipv4Addr, port: u16) -> EndpointKey {
        let mut buf = [0u8; 21];
        let mut rest: &mut [u8] = &mut buf;
        write!(rest, "{ip}:{port}").expect("255.255.255.255:65535 is 21 bytes");
        let len = (21 - rest.len()) as u8;
        EndpointKey { buf, len }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).expect("written as ASCII")
    }
}

impl Ord for EndpointKey {
    /// Go compares strings bytewise; so does `str`.
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for EndpointKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for EndpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EndpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// One endpoint of a Service port as kube-proxy holds it after its EndpointSlice cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortEndpoint<'a> {
    pub ep: &'a Endpoint,
    /// Index in the port's endpoint list as the API server gave it.
    pub index: usize,
    pub key: EndpointKey,
}

/// The EndpointSlice cache's view of one port's endpoints (`addEndpoints`, then
/// `endpointsMapFromEndpointInfo`): one per `ip:port`, sorted by that string.
///
/// Of duplicates, a later non-terminating endpoint replaces an earlier one and a terminating
/// one never replaces (`!exists || !terminating`), so a Ready pod wins over a Terminating
/// ghost that still holds its reused IP. That is kube-proxy since PR #135593 (December 2025);
/// before it (1.35 and earlier) the first was kept unless a later one was on this node, with
/// slices visited in Go map order, which no model can reproduce. The API list order stands in
/// for "later".
pub fn port_endpoints(eps: &[Endpoint]) -> Vec<PortEndpoint<'_>> {
    let mut all: Vec<PortEndpoint<'_>> = eps
        .iter()
        .enumerate()
        .map(|(index, ep)| PortEndpoint {
            ep,
            index,
            key: EndpointKey::new(ep.ip, ep.port),
        })
        .collect();
    // Stable: equal keys stay in list order, so each run below is in arrival order.
    all.sort_by_key(|e| e.key);
    let mut out: Vec<PortEndpoint<'_>> = Vec::with_capacity(all.len());
    for e in all {
        match out.last_mut() {
            Some(last) if last.key == e.key => {
                if !e.ep.terminating {
                    *last = e;
                }
            }
            _ => out.push(e),
        }
    }
    out
}

/// `CategorizeEndpoints` for one Service port on one node. Lists are positions in
/// `endpoints`, ascending (so in `ip:port` string order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categorized<'a> {
    /// Every endpoint after deduplication (`port_endpoints`).
    pub endpoints: Vec<PortEndpoint<'a>>,
    /// `UsesClusterEndpoints`: kube-proxy returns a nil Cluster list otherwise.
    pub uses_cluster: bool,
    /// `UsesLocalEndpoints`: kube-proxy returns a nil Local list otherwise.
    pub uses_local: bool,
    /// Ready endpoints; if none is ready anywhere, the serving-terminating ones.
    pub cluster: Vec<usize>,
    /// The same rule over the endpoints on this node, decided on its own: local
    /// serving-terminating endpoints are used when no local one is ready, even if remote
    /// ones are.
    pub local: Vec<usize>,
    /// Cluster ∪ local: the endpoints this node can send to (`allReachableEndpoints`).
    pub reachable: Vec<usize>,
    /// `hasAnyEndpoints`: a usable endpoint exists on some node, whether or not this node
    /// may use it. Decides "has no endpoints" (REJECT) against "has no local endpoints"
    /// (DROP) when the Local set is empty.
    pub has_any: bool,
}

impl Categorized<'_> {
    /// The API-list indices of the positions in `list`, in the same order.
    pub fn indices(&self, list: &[usize]) -> Vec<usize> {
        list.iter().map(|&k| self.endpoints[k].index).collect()
    }
}

fn positions(eps: &[PortEndpoint<'_>], keep: impl Fn(&Endpoint) -> bool) -> Vec<usize> {
    (0..eps.len()).filter(|&k| keep(eps[k].ep)).collect()
}

/// Ready ones, or if there are none, the serving-terminating ones, among those `keep` takes.
fn usable(eps: &[PortEndpoint<'_>], keep: impl Fn(&Endpoint) -> bool) -> Vec<usize> {
    let ready = positions(eps, |e| keep(e) && e.ready);
    if !ready.is_empty() {
        return ready;
    }
    positions(eps, |e| keep(e) && e.serving && e.terminating)
}

/// `CategorizeEndpoints` over deduplicated endpoints, for a port with the given uses.
pub fn categorize_endpoints<'a>(
    endpoints: Vec<PortEndpoint<'a>>,
    uses_cluster: bool,
    uses_local: bool,
    node: &str,
) -> Categorized<'a> {
    let mut c = Categorized {
        uses_cluster,
        uses_local,
        ..Categorized::default()
    };
    if uses_cluster {
        c.cluster = usable(&endpoints, |_| true);
        c.has_any = !c.cluster.is_empty();
    }
    if uses_local {
        // The EndpointSlice cache's isLocal: an empty node name is never local.
        let local = |e: &Endpoint| !node.is_empty() && e.node == node;
        c.local = usable(&endpoints, local);
        c.has_any |= endpoints
            .iter()
            .any(|e| e.ep.ready || (e.ep.serving && e.ep.terminating));
    }
    c.reachable = match (uses_cluster, uses_local) {
        (_, false) => c.cluster.clone(),
        (false, true) => c.local.clone(),
        (true, true) => {
            // kube-proxy merges through a Go map (random order); positions keep string order.
            let mut r: Vec<usize> = c.cluster.iter().chain(&c.local).copied().collect();
            r.sort_unstable();
            r.dedup();
            r
        }
    };
    c.endpoints = endpoints;
    c
}

impl ServiceSet {
    /// kube-proxy's categorization of the endpoints of port `p` of service `s` for `node`.
    pub fn categorize(&self, s: usize, p: usize, node: &str) -> Categorized<'_> {
        let svc = &self.services[s];
        categorize_endpoints(
            port_endpoints(&self.endpoints[s][p]),
            svc.uses_cluster_endpoints(p),
            svc.uses_local_endpoints(p),
            node,
        )
    }
}

#[cfg(test)]
#[path = "categorize_tests.rs"]
mod tests;
