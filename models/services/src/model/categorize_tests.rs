//! Pins `ServiceSet::categorize` and `port_endpoints` to kube-proxy.
//!
//! `kube_proxy_categorize_endpoints_cases` are the cases of `TestCategorizeEndpoints` in
//! kubernetes/kubernetes `pkg/proxy/topology_test.go` (the 1.28+ form, with terminating
//! endpoints always on), minus the topology-hint ones: same names, endpoints, conditions and
//! expected sets. kube-proxy's `BaseServicePortInfo` fields map onto a Service as
//! `nodePort: 8080` → a NodePort Service, `externalPolicyLocal` without a node port → a
//! LoadBalancer with neither node ports nor ingress IPs (externally accessible as a Service,
//! not as a port), neither → a ClusterIP Service. `isLocal` → on node `here`.

use super::*;
use crate::model::{ServicePort, ServiceType};

const HERE: &str = "here";

/// (ip:port, ready, serving, terminating, local)
type Ep = (&'static str, bool, bool, bool, bool);

fn endpoint(&(key, ready, serving, terminating, local): &Ep) -> Endpoint {
    let (ip, port) = key.split_once(':').expect("ip:port");
    Endpoint {
        ip: ip.parse().expect("ip"),
        port: port.parse().expect("port"),
        node: if local { HERE.into() } else { "elsewhere".into() },
        ready,
        serving,
        terminating,
    }
}

fn one_port_set(itp_local: bool, etp_local: bool, node_port: bool, eps: &[Ep]) -> ServiceSet {
    let mut set = crate::testing::cluster_ip_services(1, 0);
    let svc = &mut set.services[0];
    svc.kind = match (node_port, etp_local) {
        (true, _) => ServiceType::NodePort,
        (false, true) => ServiceType::LoadBalancer,
        (false, false) => ServiceType::ClusterIP,
    };
    svc.ports = vec![ServicePort {
        name: String::new(),
        protocol: crate::model::Protocol::Tcp,
        port: 80,
        node_port: node_port.then_some(8080),
    }];
    let policy = |local| {
        if local {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        }
    };
    svc.internal_traffic_policy = policy(itp_local);
    svc.external_traffic_policy = policy(etp_local);
    set.endpoints[0][0] = eps.iter().map(endpoint).collect();
    set
}

fn keys(c: &Categorized<'_>, list: &[usize]) -> Vec<String> {
    list.iter().map(|&k| c.endpoints[k].key.to_string()).collect()
}

struct Case {
    name: &'static str,
    itp_local: bool,
    etp_local: bool,
    node_port: bool,
    eps: &'static [Ep],
    /// None: kube-proxy returns nil (the service never uses that kind).
    cluster: Option<&'static [&'static str]>,
    local: Option<&'static [&'static str]>,
    all: &'static [&'static str],
    /// `len(allEndpoints) > 0 || onlyRemoteEndpoints`.
    has_any: bool,
}

const R: bool = true; // for readability of the endpoint rows: ready / serving / ...
const N: bool = false;
const A: &str = "10.0.0.0:80";
const B: &str = "10.0.0.1:80";
const C: &str = "10.0.0.2:80";
const D: &str = "10.0.0.3:80";

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "internalTrafficPolicy: Local, with empty endpoints",
        itp_local: R, etp_local: N, node_port: N, eps: &[],
        cluster: None, local: Some(&[]), all: &[], has_any: N },
    Case { name: "internalTrafficPolicy: Local, but all endpoints are remote",
        itp_local: R, etp_local: N, node_port: N, eps: &[(A, R, N, N, N), (B, R, N, N, N)],
        cluster: None, local: Some(&[]), all: &[], has_any: R },
    Case { name: "internalTrafficPolicy: Local, all endpoints are local",
        itp_local: R, etp_local: N, node_port: N, eps: &[(A, R, N, N, R), (B, R, N, N, R)],
        cluster: None, local: Some(&[A, B]), all: &[A, B], has_any: R },
    Case { name: "internalTrafficPolicy: Local, some endpoints are local",
        itp_local: R, etp_local: N, node_port: N, eps: &[(A, R, N, N, R), (B, R, N, N, N)],
        cluster: None, local: Some(&[A]), all: &[A], has_any: R },
    Case { name: "Cluster traffic policy, endpoints not Ready",
        itp_local: N, etp_local: N, node_port: N, eps: &[(A, N, N, N, N), (B, N, N, N, N)],
        cluster: Some(&[]), local: None, all: &[], has_any: N },
    Case { name: "Cluster traffic policy, some endpoints are Ready",
        itp_local: N, etp_local: N, node_port: N, eps: &[(A, N, N, N, N), (B, R, N, N, N)],
        cluster: Some(&[B]), local: None, all: &[B], has_any: R },
    Case { name: "Cluster traffic policy, all endpoints are terminating",
        itp_local: N, etp_local: N, node_port: N, eps: &[(A, N, R, R, R), (B, N, R, R, N)],
        cluster: Some(&[A, B]), local: None, all: &[A, B], has_any: R },
    Case { name: "iTP: Local, eTP: Cluster, some endpoints local",
        itp_local: R, etp_local: N, node_port: R, eps: &[(A, R, N, N, R), (B, R, N, N, N)],
        cluster: Some(&[A, B]), local: Some(&[A]), all: &[A, B], has_any: R },
    Case { name: "iTP: Cluster, eTP: Local, some endpoints local",
        itp_local: N, etp_local: R, node_port: R, eps: &[(A, R, N, N, R), (B, R, N, N, N)],
        cluster: Some(&[A, B]), local: Some(&[A]), all: &[A, B], has_any: R },
    Case { name: "iTP: Local, eTP: Local, some endpoints local",
        itp_local: R, etp_local: R, node_port: R, eps: &[(A, R, N, N, R), (B, R, N, N, N)],
        cluster: Some(&[A, B]), local: Some(&[A]), all: &[A, B], has_any: R },
    Case { name: "iTP: Local, eTP: Local, all endpoints remote",
        itp_local: R, etp_local: R, node_port: R, eps: &[(A, R, N, N, N), (B, R, N, N, N)],
        cluster: Some(&[A, B]), local: Some(&[]), all: &[A, B], has_any: R },
    Case { name: "iTP: Local, eTP: Local, all endpoints remote and terminating",
        itp_local: R, etp_local: R, node_port: R, eps: &[(A, N, R, R, N), (B, N, R, R, N)],
        cluster: Some(&[A, B]), local: Some(&[]), all: &[A, B], has_any: R },
    Case { name: "iTP: Cluster, eTP: Local, with terminating endpoints",
        itp_local: N, etp_local: R, node_port: R,
        eps: &[(A, R, N, N, N), (B, N, N, N, R), (C, N, R, R, R), (D, N, R, R, N)],
        cluster: Some(&[A]), local: Some(&[C]), all: &[A, C], has_any: R },
    Case { name: "externalTrafficPolicy ignored if not externally accessible",
        itp_local: N, etp_local: R, node_port: N, eps: &[(A, R, N, N, N), (B, R, N, N, R)],
        cluster: Some(&[A, B]), local: None, all: &[A, B], has_any: R },
    Case { name: "no cluster endpoints for iTP:Local internal-only service",
        itp_local: R, etp_local: N, node_port: N, eps: &[(A, R, N, N, N), (B, R, N, N, R)],
        cluster: None, local: Some(&[B]), all: &[B], has_any: R },
];

#[test]
fn kube_proxy_categorize_endpoints_cases() {
    for case in CASES {
        let set = one_port_set(case.itp_local, case.etp_local, case.node_port, case.eps);
        let c = set.categorize(0, 0, HERE);
        let want = |l: Option<&[&str]>| l.map(|l| l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let got = |uses: bool, l: &[usize]| uses.then(|| keys(&c, l));
        assert_eq!(
            got(c.uses_cluster, &c.cluster),
            want(case.cluster),
            "{}: cluster",
            case.name
        );
        assert_eq!(got(c.uses_local, &c.local), want(case.local), "{}: local", case.name);
        assert_eq!(
            keys(&c, &c.reachable),
            want(Some(case.all)).unwrap(),
            "{}: all",
            case.name
        );
        assert_eq!(c.has_any, case.has_any, "{}: hasAnyEndpoints", case.name);
    }
}

#[test]
fn has_any_counts_remote_serving_terminating_for_local_policies() {
    // No endpoint on this node, one terminating elsewhere: "no local endpoints" (DROP), not
    // "no endpoints" (REJECT).
    let set = one_port_set(true, false, false, &[(A, false, true, true, false)]);
    let c = set.categorize(0, 0, HERE);
    assert!(c.local.is_empty() && c.has_any);
    // Unready and not serving anywhere: nothing usable at all.
    let set = one_port_set(true, false, false, &[(A, false, false, true, false)]);
    assert!(!set.categorize(0, 0, HERE).has_any);
}

#[test]
fn local_falls_back_to_terminating_on_its_own() {
    // A Ready endpoint elsewhere does not stop the local set from using a local
    // serving-terminating one (topology.go decides the fallback per set).
    let set = one_port_set(
        false,
        true,
        true,
        &[(A, true, true, false, false), (B, false, true, true, true)],
    );
    let c = set.categorize(0, 0, HERE);
    assert_eq!(
        (keys(&c, &c.cluster), keys(&c, &c.local)),
        (vec![A.to_string()], vec![B.to_string()])
    );
}

#[test]
fn external_accessibility_is_per_port() {
    // A LoadBalancer whose port has no node port and which has no ingress IP yet is not
    // externally accessible as a port, so internalTrafficPolicy Local alone decides.
    let mut set = one_port_set(true, true, false, &[(A, true, true, false, false)]);
    assert!(set.services[0].external_policy_local());
    assert!(!set.services[0].uses_cluster_endpoints(0));
    set.services[0].load_balancer_ips = vec![Ipv4Addr::new(198, 51, 100, 1)];
    assert!(
        set.services[0].uses_cluster_endpoints(0),
        "an ingress IP makes it external"
    );
    // externalTrafficPolicy on a ClusterIP Service without external IPs means nothing.
    let set = one_port_set(false, true, false, &[]);
    let mut svc = set.services[0].clone();
    svc.kind = ServiceType::ClusterIP;
    assert!(!svc.external_policy_local() && !svc.uses_local_endpoints(0));
}

#[test]
fn endpoints_sort_as_strings_and_keep_their_api_index() {
    let set = one_port_set(
        false,
        false,
        false,
        &[
            ("10.0.0.2:80", true, true, false, false),
            ("10.0.0.10:80", true, true, false, false),
        ],
    );
    let c = set.categorize(0, 0, HERE);
    assert_eq!(keys(&c, &c.cluster), vec!["10.0.0.10:80", "10.0.0.2:80"]);
    assert_eq!(c.indices(&c.cluster), vec![1, 0], "Dnat.index still names the API list");
}

#[test]
fn duplicates_keep_the_last_non_terminating_else_the_first() {
    let ep = |ready: bool, terminating: bool, node: &str| Endpoint {
        ip: Ipv4Addr::new(10, 0, 0, 7),
        port: 80,
        node: node.into(),
        ready,
        serving: ready || terminating,
        terminating,
    };
    let winner = |eps: &[Endpoint]| {
        let v = port_endpoints(eps);
        assert_eq!(v.len(), 1, "one per ip:port");
        v[0].index
    };
    // The reused-IP case of kubernetes#135266: a Terminating ghost and a Ready pod.
    assert_eq!(winner(&[ep(false, true, "a"), ep(true, false, "b")]), 1);
    assert_eq!(winner(&[ep(true, false, "b"), ep(false, true, "a")]), 0);
    assert_eq!(
        winner(&[ep(true, false, "a"), ep(true, false, "b")]),
        1,
        "later replaces"
    );
    assert_eq!(
        winner(&[ep(false, true, "a"), ep(false, true, "b")]),
        0,
        "never by a terminating one"
    );
    // The same IP on another port is another endpoint.
    let mut other = ep(true, false, "a");
    other.port = 81;
    assert_eq!(port_endpoints(&[ep(true, false, "a"), other]).len(), 2);
}

#[test]
fn endpoint_key_is_go_endpoint_string() {
    let k = EndpointKey::new(Ipv4Addr::new(255, 255, 255, 255), 65535);
    assert_eq!(k.as_str(), "255.255.255.255:65535");
    assert_eq!(format!("{k} {k:?}"), "255.255.255.255:65535 \"255.255.255.255:65535\"");
    let a = EndpointKey::new(Ipv4Addr::new(10, 0, 0, 10), 80);
    let b = EndpointKey::new(Ipv4Addr::new(10, 0, 0, 2), 80);
    let c = EndpointKey::new(Ipv4Addr::new(10, 0, 0, 2), 8080);
    assert!(a < b && b < c, "bytewise: '1' < '2', and ':80' < ':8080'");
}
