//! The endpoints of one service port as kube-proxy's iptables proxier sees them: deduplicated
//! by `ip:port` and sorted by that string (pkg/proxy/endpointslicecache.go), then split into
//! the Cluster and Local sets (pkg/proxy/topology.go `CategorizeEndpoints`).
//!
//! `ServiceSet::categorize` in model.rs is not used here because two of its rules differ from
//! kube-proxy 1.31 in ways that change the generated rules:
//! - kube-proxy's `UsesClusterEndpoints` is `!internalPolicyLocal || ExternallyAccessible()`
//!   (a Service that accepts external traffic always needs Cluster endpoints, to short-circuit
//!   pod traffic to its external addresses), where model.rs requires an external Cluster policy.
//! - kube-proxy's `hasAnyEndpoints` is true when any endpoint anywhere is ready or
//!   serving-terminating, even if none is usable by this node's Local policy; that is what
//!   turns "no endpoints → REJECT" into "no local endpoints → DROP".

use crate::model::{Endpoint, Service, ServiceSet, TrafficPolicy};
use rustc_hash::FxHashMap;

/// One endpoint after kube-proxy's deduplication.
#[derive(Clone, Debug)]
pub struct KpEndpoint<'a> {
    pub ep: &'a Endpoint,
    /// Index in the port's endpoint list as the API server gave it.
    pub orig: usize,
    /// `ip:port`, kube-proxy's endpoint string and sort key.
    pub key: String,
}

/// kube-proxy's view of one service port's endpoints.
#[derive(Clone, Debug, Default)]
pub struct KpCategorized<'a> {
    /// All endpoints, deduplicated and sorted.
    pub all: Vec<KpEndpoint<'a>>,
    /// Indexes into `all`.
    pub cluster: Vec<usize>,
    pub local: Vec<usize>,
    /// Endpoints that get a KUBE-SEP chain, in the order cnsim writes them.
    pub reachable: Vec<usize>,
    pub has_endpoints: bool,
}

/// The port is reachable other than by its ClusterIP (kube-proxy's per-port
/// `ExternallyAccessible`).
pub fn port_externally_accessible(svc: &Service, p: usize) -> bool {
    svc.ports[p].node_port.is_some() || !svc.load_balancer_ips.is_empty() || !svc.external_ips.is_empty()
}

/// kube-proxy's `ExternalPolicyLocal`: set only for Services reachable from outside.
pub fn external_policy_local(svc: &Service) -> bool {
    svc.externally_accessible() && svc.external_traffic_policy == TrafficPolicy::Local
}

pub fn internal_policy_local(svc: &Service) -> bool {
    svc.internal_traffic_policy == TrafficPolicy::Local
}

/// Deduplicates by `ip:port` (a later non-terminating endpoint replaces an earlier one, a
/// terminating one never replaces) and sorts by the string, as the EndpointSlice cache does.
pub fn dedup_sorted(eps: &[Endpoint]) -> Vec<KpEndpoint<'_>> {
    let mut by_key: FxHashMap<String, usize> = FxHashMap::default();
    let mut out: Vec<KpEndpoint<'_>> = Vec::with_capacity(eps.len());
    for (i, ep) in eps.iter().enumerate() {
        let key = format!("{}:{}", ep.ip, ep.port);
        match by_key.get(&key) {
            Some(&slot) => {
                if !ep.terminating {
                    out[slot] = KpEndpoint { ep, orig: i, key };
                }
            }
            None => {
                by_key.insert(key.clone(), out.len());
                out.push(KpEndpoint { ep, orig: i, key });
            }
        }
    }
    // Go compares strings bytewise; so does str's Ord.
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// `CategorizeEndpoints` for port `p` of service `s` on `node` (topology hints not modelled).
pub fn categorize<'a>(set: &'a ServiceSet, s: usize, p: usize, node: &str) -> KpCategorized<'a> {
    let svc = &set.services[s];
    let all = dedup_sorted(&set.endpoints[s][p]);
    let ext = port_externally_accessible(svc, p);
    let uses_cluster = !internal_policy_local(svc) || ext;
    let uses_local = internal_policy_local(svc) || (external_policy_local(svc) && ext);
    let serving_terminating = |e: &Endpoint| e.serving && e.terminating;

    let mut cluster = Vec::new();
    if uses_cluster {
        cluster = (0..all.len()).filter(|&i| all[i].ep.ready).collect();
        if cluster.is_empty() {
            cluster = (0..all.len()).filter(|&i| serving_terminating(all[i].ep)).collect();
        }
    }
    let mut has_endpoints = !cluster.is_empty();
    if !uses_local {
        return KpCategorized {
            reachable: cluster.clone(),
            all,
            cluster,
            local: Vec::new(),
            has_endpoints,
        };
    }
    let is_local = |e: &Endpoint| e.node == node;
    let mut local_ready = false;
    let mut local_st = false;
    for e in &all {
        if e.ep.ready {
            has_endpoints = true;
            local_ready |= is_local(e.ep);
        } else if serving_terminating(e.ep) {
            has_endpoints = true;
            local_st |= is_local(e.ep);
        }
    }
    let local: Vec<usize> = if local_ready {
        (0..all.len())
            .filter(|&i| is_local(all[i].ep) && all[i].ep.ready)
            .collect()
    } else if local_st {
        (0..all.len())
            .filter(|&i| is_local(all[i].ep) && serving_terminating(all[i].ep))
            .collect()
    } else {
        Vec::new()
    };
    let reachable = if !uses_cluster {
        local.clone()
    } else {
        // kube-proxy merges the two through a Go map (random order); cnsim writes the SEP
        // chains in endpoint-string order. Chain contents do not depend on this order.
        let mut r: Vec<usize> = cluster.iter().chain(local.iter()).copied().collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    KpCategorized {
        all,
        cluster,
        local,
        reachable,
        has_endpoints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ep(last: u8, port: u16, terminating: bool) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 0, 0, last),
            port,
            node: "n".into(),
            ready: !terminating,
            serving: true,
            terminating,
        }
    }

    #[test]
    fn dedup_prefers_non_terminating_and_sorts_as_strings() {
        let eps = vec![ep(2, 80, false), ep(10, 80, false), ep(2, 80, true)];
        let d = dedup_sorted(&eps);
        let keys: Vec<&str> = d.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["10.0.0.10:80", "10.0.0.2:80"], "string order");
        assert_eq!(d[1].orig, 0, "the terminating duplicate does not replace");
    }
}
