//! kube-proxy's own expectations, reproduced: the Services and EndpointSlices of
//! `TestOverallIPTablesRules` in kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go
//! (release 1.31 line, the version whose proxier.go cnsim follows) are built as a
//! `ServiceSet` on the fake proxier's node, and the generated restore text is compared with
//! the test's expected `iptables-restore` input rule for rule.
//!
//! Normalisation, as kube-proxy's `assertIPTablesRulesEqual` / `sortIPTablesRules` do: per
//! table, chain declarations are compared as a set and rules are grouped by chain (chains in
//! name order, rules within a chain in their written order). kube-proxy needs this because
//! it ranges over a Go map of services; cnsim writes services in sorted order.
//!
//! Not reproduced, and why: the `health check node port` ACCEPT rule in filter KUBE-NODEPORTS
//! (model.rs's `Service` has no healthCheckNodePort), so that one expected line is removed.
//! The fake proxier's settings are mirrored: localDetector by CIDR 10.0.0.0/8, nfacct
//! counters present, no `--random-fully`, masquerade mark 0x4000, localhost NodePorts on.

use cnsim_services::iptables::{render, ProxierConfig};
use cnsim_services::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

const EXPECTED: &str = r#"*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3002 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
"#;

const TEST_NODE: &str = "test-node";

fn svc(ns: &str, name: &str, kind: ServiceType, cip: [u8; 4], node_port: Option<u16>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind,
        cluster_ip: Some(Ipv4Addr::from(cip)),
        external_ips: vec![],
        load_balancer_ips: vec![],
        load_balancer_source_ranges: vec![],
        session_affinity_seconds: None,
        external_traffic_policy: TrafficPolicy::Cluster,
        internal_traffic_policy: TrafficPolicy::Cluster,
        ports: vec![ServicePort {
            name: "p80".into(),
            protocol: Protocol::Tcp,
            port: 80,
            node_port,
        }],
    }
}

/// An EndpointSlice endpoint with no conditions set: ready, serving, not terminating.
fn ep(ip: [u8; 4], node: &str) -> Endpoint {
    Endpoint {
        ip: Ipv4Addr::from(ip),
        port: 80,
        node: node.into(),
        ready: true,
        serving: true,
        terminating: false,
    }
}

/// The Services and EndpointSlices of TestOverallIPTablesRules.
pub fn overall_fixture() -> (ServiceSet, NodeView, ProxierConfig) {
    use ServiceType::*;
    let s1 = svc("ns1", "svc1", ClusterIP, [172, 30, 0, 41], None);
    let mut s2 = svc("ns2", "svc2", LoadBalancer, [172, 30, 0, 42], Some(3001));
    s2.external_traffic_policy = TrafficPolicy::Local;
    s2.load_balancer_ips = vec![Ipv4Addr::new(1, 2, 3, 4)];
    s2.external_ips = vec![Ipv4Addr::new(192, 168, 99, 22)];
    let s3 = svc("ns3", "svc3", NodePort, [172, 30, 0, 43], Some(3003));
    let mut s4 = svc("ns4", "svc4", NodePort, [172, 30, 0, 44], None);
    s4.external_ips = vec![Ipv4Addr::new(192, 168, 99, 33)];
    let mut s5 = svc("ns5", "svc5", LoadBalancer, [172, 30, 0, 45], Some(3002));
    s5.load_balancer_ips = vec![Ipv4Addr::new(5, 6, 7, 8)];
    // " 203.0.113.0/25" upstream: kube-proxy trims the whitespace.
    s5.load_balancer_source_ranges = vec!["203.0.113.0/25".parse().unwrap()];
    s5.session_affinity_seconds = Some(10800);
    let s6 = svc("ns6", "svc6", ClusterIP, [172, 30, 0, 46], None);
    let set = ServiceSet {
        services: vec![s1, s2, s3, s4, s5, s6],
        endpoints: vec![
            vec![vec![ep([10, 180, 0, 1], "")]],
            // No nodeName: not local, so the Local policy has nothing here.
            vec![vec![ep([10, 180, 0, 2], "")]],
            vec![vec![ep([10, 180, 0, 3], "")]],
            vec![vec![ep([10, 180, 0, 4], ""), ep([10, 180, 0, 5], TEST_NODE)]],
            vec![vec![ep([10, 180, 0, 3], "")]],
            vec![vec![]],
        ],
    };
    let node = NodeView {
        name: TEST_NODE.into(),
        node_ips: vec![Ipv4Addr::new(192, 168, 0, 2)],
        cluster_cidr: Some("10.0.0.0/8".parse().unwrap()),
    };
    let cfg = ProxierConfig {
        random_fully: false,
        nfacct: true,
        ..ProxierConfig::default()
    };
    (set, node, cfg)
}

/// Per table: (declared chains, rules grouped by chain in chain-name order).
type Normalised = BTreeMap<String, (BTreeSet<String>, BTreeMap<String, Vec<String>>)>;

fn normalise(text: &str) -> Normalised {
    let mut out: Normalised = BTreeMap::new();
    let mut table = String::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            out.entry(table.clone()).or_default();
        } else if let Some(c) = line.strip_prefix(':') {
            let name = c.split(' ').next().unwrap().to_string();
            out.get_mut(&table).unwrap().0.insert(name);
        } else if let Some(r) = line.strip_prefix("-A ") {
            let chain = r.split(' ').next().unwrap().to_string();
            out.get_mut(&table)
                .unwrap()
                .1
                .entry(chain)
                .or_default()
                .push(line.to_string());
        } else {
            assert!(line == "COMMIT" || line.is_empty(), "unexpected line {line}");
        }
    }
    out
}

#[test]
fn overall_iptables_rules_match_kube_proxy() {
    let (set, node, cfg) = overall_fixture();
    let rs = iptables::generate(&set, &node, &cfg);
    let (text, _) = render::restore_text(&rs, render::Scope::Full, &[]);
    let got = normalise(&text);
    let want = normalise(EXPECTED);
    for t in ["filter", "nat"] {
        assert_eq!(got[t].0, want[t].0, "{t}: declared chains");
        for (chain, rules) in &want[t].1 {
            assert_eq!(got[t].1.get(chain), Some(rules), "{t} {chain}");
        }
        assert_eq!(
            got[t].1.keys().collect::<Vec<_>>(),
            want[t].1.keys().collect::<Vec<_>>(),
            "{t}: no extra chains with rules"
        );
    }
}

#[test]
fn overall_fixture_paths_match_kube_proxy_packet_tests() {
    // The packet flows kube-proxy's test runs against this ruleset (runPacketFlowTests).
    let (set, node, cfg) = overall_fixture();
    let mut dp = iptables::IptablesReference::new(cfg);
    dp.full_sync(&set, &node);
    let mut rng = testing::SplitMix(1);
    let mut go = |src: [u8; 4], dst: [u8; 4], dport: u16, origin: Origin| {
        let pkt = Packet {
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::from(dst),
            sport: 40000,
            dport,
            proto: Protocol::Tcp,
        };
        dp.lookup(&pkt, origin, 0, &mut rng, None)
    };
    // pod to cluster IP: DNAT, no masquerade.
    let v = go([10, 0, 0, 2], [172, 30, 0, 41], 80, Origin::LocalPod);
    assert!(matches!(v.decision, Decision::Dnat { ip, .. } if ip == Ipv4Addr::new(10, 180, 0, 1)));
    assert!(!v.masquerade);
    // external to cluster IP: masqueraded (`! -s 10.0.0.0/8`).
    let v = go([192, 168, 0, 2], [172, 30, 0, 41], 80, Origin::External);
    assert!(v.masquerade);
    // no endpoints: REJECT.
    let v = go([10, 0, 0, 2], [172, 30, 0, 46], 80, Origin::LocalPod);
    assert_eq!(
        v.decision,
        Decision::Reject {
            service: 5,
            port: 0,
            reason: RejectReason::NoEndpoints
        }
    );
    // LB source ranges: allowed source reaches the endpoint, others are dropped.
    let v = go([203, 0, 113, 7], [5, 6, 7, 8], 80, Origin::External);
    assert!(matches!(v.decision, Decision::Dnat { ip, .. } if ip == Ipv4Addr::new(10, 180, 0, 3)));
    let v = go([203, 0, 113, 200], [5, 6, 7, 8], 80, Origin::External);
    assert_eq!(
        v.decision,
        Decision::Drop {
            service: 4,
            port: 0,
            reason: DropReason::SourceRangeDenied
        }
    );
    // externalTrafficPolicy Local without local endpoints: external dropped, pods short-circuit.
    let v = go([203, 0, 113, 7], [1, 2, 3, 4], 80, Origin::External);
    assert_eq!(
        v.decision,
        Decision::Drop {
            service: 1,
            port: 0,
            reason: DropReason::NoLocalEndpoints
        }
    );
    let v = go([10, 0, 0, 2], [1, 2, 3, 4], 80, Origin::LocalPod);
    assert!(matches!(v.decision, Decision::Dnat { ip, .. } if ip == Ipv4Addr::new(10, 180, 0, 2)));
    // NodePort from outside: masqueraded (Cluster policy).
    let v = go([203, 0, 113, 7], [192, 168, 0, 2], 3003, Origin::External);
    assert!(matches!(v.decision, Decision::Dnat { ip, .. } if ip == Ipv4Addr::new(10, 180, 0, 3)));
    assert!(v.masquerade);
    // hairpin: an endpoint reaching itself through the VIP is masqueraded by its SEP chain.
    let v = go([10, 180, 0, 1], [172, 30, 0, 41], 80, Origin::LocalPod);
    assert!(v.masquerade);
}

#[test]
fn trace_of_a_pod_to_cluster_ip_names_every_matched_rule() {
    let (set, node, cfg) = overall_fixture();
    let mut dp = iptables::IptablesReference::new(cfg);
    dp.full_sync(&set, &node);
    let pkt = Packet {
        src: Ipv4Addr::new(10, 0, 0, 2),
        dst: Ipv4Addr::new(172, 30, 0, 41),
        sport: 40000,
        dport: 80,
        proto: Protocol::Tcp,
    };
    let mut trace = Vec::new();
    let v = dp.lookup(&pkt, Origin::LocalPod, 0, &mut testing::SplitMix(1), Some(&mut trace));
    let steps: Vec<(&str, &str, u32)> = trace
        .iter()
        .map(|t| (t.table.as_str(), t.chain.as_str(), t.rule))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("nat", "PREROUTING", 1),
            ("nat", "KUBE-SERVICES", 1),
            ("nat", "KUBE-SVC-XPGD46QRK7WJZT7O", 2),
            ("nat", "KUBE-SEP-SXIVWICOYRO3J4NJ", 2),
            ("filter", "FORWARD", 1),
            ("filter", "FORWARD", 2),
            ("filter", "FORWARD", 3),
            ("filter", "FORWARD", 4),
            ("nat", "POSTROUTING", 1),
            ("nat", "KUBE-POSTROUTING", 1),
        ]
    );
    assert!(trace[3].text.ends_with("-j DNAT --to-destination 10.180.0.1:80"));
    // nat: 1 + 1 + 2 + 2; filter: FORWARD 4 + PROXY-FIREWALL 1 + KUBE-FORWARD 3 + SERVICES 1
    // + EXTERNAL-SERVICES 3; nat POSTROUTING 1 + KUBE-POSTROUTING 1.
    assert_eq!(v.work.rules_evaluated, 6 + 12 + 2);
}
