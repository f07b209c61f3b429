//! `cnsim trace` on a ClusterIP, a NodePort and a Service without endpoints, in every proxy
//! mode: the verdict, the backend chosen, the rules that matched and the hops taken.

use cnsim_cluster::scenario::load_str;
use cnsim_cluster::trace::{trace, TraceReport};

const SCENARIO: &str = r#"Scenario(version: 1, seed: 11, duration: "1s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a", "b"], subnets: [
      (name: "sa", az: "a", cidr: "10.0.0.0/24"), (name: "sb", az: "b", cidr: "10.0.1.0/24")]),
  node_groups: [
    (name: "n0", instance_type: "m5.large", count: 1, subnets: ["sa"], labels: {"n": "0"}),
    (name: "n1", instance_type: "m5.large", count: 1, subnets: ["sb"], labels: {"n": "1"}),
  ],
  namespaces: [(name: "shop")],
  workloads: [
    (namespace: "shop", name: "client", node_selector: {"n": "0"}),
    (namespace: "shop", name: "api", replicas: 3, labels: {"app": "api"}, ports: [(name: "http", port: 8080)]),
    (namespace: "shop", name: "web", replicas: 2, labels: {"app": "web"}, ports: [(name: "http", port: 8000)], node_selector: {"n": "0"}),
  ],
  services: [
    (namespace: "shop", name: "api", selector: {"app": "api"}, ports: [(name: "http", port: 80, target_port: "http")]),
    (namespace: "shop", name: "web", kind: NodePort, selector: {"app": "web"}, ports: [(port: 80, target_port: 8000, node_port: 30080)]),
    (namespace: "shop", name: "empty", selector: {"app": "nothing"}, ports: [(port: 80)]),
  ],
  variants: [
    (name: "iptables", set: {"kube_proxy.mode": "Iptables"}),
    (name: "ipvs", set: {"kube_proxy.mode": "Ipvs"}),
    (name: "nftables", set: {"kube_proxy.mode": "Nftables"}),
    (name: "ebpf", set: {"kube_proxy.mode": "Ebpf"}),
  ],
)"#;

fn traces(to: &str) -> Vec<TraceReport> {
    let loaded = load_str("trace.ron", "trace", SCENARIO, &[]).unwrap_or_else(|d| panic!("{d}"));
    assert!(
        loaded.warnings.iter().any(|w| w.field == "services[2].selector"),
        "the empty Service is flagged"
    );
    loaded
        .variants
        .iter()
        .map(|v| trace(v, "shop/client-0", to).unwrap_or_else(|e| panic!("{}: {e}", v.name)))
        .collect()
}

fn api_endpoints() -> Vec<String> {
    // api pods are placed one per zone first: their addresses come from the node pod CIDRs.
    let loaded = load_str("trace.ron", "trace", SCENARIO, &[]).unwrap();
    let world = cnsim_cluster::world::World::build(&loaded.variants[0].scenario);
    world
        .pods
        .iter()
        .filter(|p| p.name.starts_with("api-"))
        .map(|p| format!("{}:8080", p.ip.unwrap()))
        .collect()
}

#[test]
fn a_cluster_ip_is_translated_to_one_of_its_endpoints_in_every_mode() {
    let endpoints = api_endpoints();
    for r in traces("shop/svc/api:http") {
        assert_eq!(r.verdict, "delivered", "{}: {r:?}", r.variant);
        let backend = r.backend.clone().unwrap();
        assert!(
            endpoints.contains(&backend),
            "{}: backend {backend} not an endpoint of api ({endpoints:?})",
            r.variant
        );
        let first_nf = r.hops.iter().find(|h| h.hop == "netfilter").unwrap();
        assert!(
            first_nf.detail.contains("DNAT 172.20.0.2:80"),
            "{}: {}",
            r.variant,
            first_nf.detail
        );
        assert_eq!(r.hops.first().unwrap().hop, "pod eth0 -> veth");
        assert_eq!(r.hops.last().unwrap().hop, "route -> veth");
        assert_eq!(r.latency_ns, r.hops.iter().map(|h| h.latency_ns).sum::<u64>());
        if r.variant == "iptables" {
            let chains: Vec<&str> = first_nf.matched.iter().map(|m| m.chain.as_str()).collect();
            assert!(
                chains.contains(&"KUBE-SERVICES")
                    && chains.iter().any(|c| c.starts_with("KUBE-SVC-"))
                    && chains.iter().any(|c| c.starts_with("KUBE-SEP-")),
                "{chains:?}"
            );
            assert!(
                first_nf
                    .matched
                    .iter()
                    .any(|m| m.text.contains(&format!("--to-destination {backend}"))),
                "the DNAT rule names the backend"
            );
        }
    }
}

#[test]
fn a_node_port_on_another_node_is_translated_there() {
    // n1's address is the second subnet's first usable one.
    for r in traces("10.0.1.4:30080") {
        assert_eq!(r.verdict, "delivered", "{}: {r:#?}", r.variant);
        let nf: Vec<_> = r.hops.iter().filter(|h| h.hop == "netfilter").collect();
        let translating = nf
            .iter()
            .find(|h| h.detail.contains("DNAT 10.0.1.4:30080"))
            .unwrap_or_else(|| panic!("{}: no DNAT hop: {nf:#?}", r.variant));
        assert_eq!(
            translating.node, "n1-0",
            "{}: the NodePort is translated on the node it was sent to",
            r.variant
        );
        // web pods run on n0: the packet goes back across the VPC.
        assert_eq!(r.hops.iter().filter(|h| h.hop == "vpc").count(), 2, "{}", r.variant);
        assert!(r.backend.as_deref().unwrap().ends_with(":8000"));
        if r.variant == "iptables" {
            assert!(
                translating.matched.iter().any(|m| m.chain == "KUBE-NODEPORTS"),
                "{:?}",
                translating.matched
            );
        }
    }
}

#[test]
fn a_service_without_endpoints_is_rejected_with_its_reason() {
    for r in traces("shop/svc/empty:80") {
        assert_eq!(r.verdict, "rejected", "{}: {r:#?}", r.variant);
        assert!(r.reason.as_deref().unwrap().contains("service-no-endpoints"));
        assert!(r.backend.is_none());
        assert_eq!(r.hops.len(), 2, "{}: eth0, then netfilter rejects", r.variant);
        if r.variant == "iptables" {
            assert!(
                r.hops[1].matched.iter().any(|m| m.text.contains("REJECT")),
                "{:?}",
                r.hops[1].matched
            );
        }
    }
}

#[test]
fn bad_trace_targets_say_what_would_be_valid() {
    let loaded = load_str("trace.ron", "trace", SCENARIO, &[]).unwrap();
    let v = &loaded.variants[0];
    assert!(trace(v, "shop/client", "shop/svc/api:80")
        .unwrap_err()
        .contains("client-0"));
    assert!(trace(v, "shop/client-0", "shop/svc/nope:80")
        .unwrap_err()
        .contains("no Service shop/nope"));
    assert!(trace(v, "shop/client-0", "shop/svc/api:9999")
        .unwrap_err()
        .contains("no port"));
    assert!(trace(v, "shop/client-0", "10.0.0.9")
        .unwrap_err()
        .contains("needs a port"));
    assert!(trace(v, "shop/client-0", "shop/api-0:80/icmp")
        .unwrap_err()
        .contains("tcp or udp"));
}
