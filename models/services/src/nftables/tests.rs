//! Tests of the nftables datapath: kube-proxy's own expected table for its
//! TestOverallNFTablesRules fixture, packet flows from its proxier tests, the numgen
//! distribution, sync accounting, and proptests holding the fast evaluator to the reference.

use super::*;
use crate::testing::{cluster_ip_services, node_view, Replay, SplitMix};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn ep(addr: &str, node: &str) -> Endpoint {
    Endpoint {
        ip: ip(addr),
        port: 80,
        node: node.into(),
        ready: true,
        serving: true,
        terminating: false,
    }
}

fn svc(ns: &str, name: &str, kind: ServiceType, cip: &str, node_port: Option<u16>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind,
        cluster_ip: Some(ip(cip)),
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

/// kube-proxy's NewFakeProxier node: test-node, 192.168.0.2, pods in 10.0.0.0/8.
fn fixture_node() -> NodeView {
    NodeView {
        name: "test-node".into(),
        node_ips: vec![ip("192.168.0.2")],
        cluster_cidr: Some("10.0.0.0/8".parse::<Ipv4Net>().expect("constant")),
    }
}

/// The six Services and their endpoints of kube-proxy's TestOverallNFTablesRules
/// (pkg/proxy/nftables/proxier_test.go at 81810de6).
fn fixture() -> ServiceSet {
    use ServiceType::*;
    let mut s2 = svc("ns2", "svc2", LoadBalancer, "172.30.0.42", Some(3001));
    s2.external_traffic_policy = TrafficPolicy::Local;
    s2.load_balancer_ips = vec![ip("1.2.3.4")];
    s2.external_ips = vec![ip("192.168.99.22")];
    let mut s4 = svc("ns4", "svc4", NodePort, "172.30.0.44", None);
    s4.external_ips = vec![ip("192.168.99.33")];
    let mut s5 = svc("ns5", "svc5", LoadBalancer, "172.30.0.45", Some(3002));
    s5.load_balancer_ips = vec![ip("5.6.7.8")];
    s5.load_balancer_source_ranges = vec!["203.0.113.0/25".parse().expect("constant")];
    s5.session_affinity_seconds = Some(10800);
    ServiceSet {
        services: vec![
            svc("ns1", "svc1", ClusterIP, "172.30.0.41", None),
            s2,
            svc("ns3", "svc3", NodePort, "172.30.0.43", Some(3003)),
            s4,
            s5,
            svc("ns6", "svc6", ClusterIP, "172.30.0.46", None),
        ],
        endpoints: vec![
            vec![vec![ep("10.180.0.1", "")]],
            vec![vec![ep("10.180.0.2", "")]],
            vec![vec![ep("10.180.0.3", "")]],
            vec![vec![ep("10.180.0.4", ""), ep("10.180.0.5", "test-node")]],
            vec![vec![ep("10.180.0.3", "")]],
            vec![vec![]],
        ],
    }
}

/// kube-proxy's expected output for that fixture, as its test spells it. One line is left
/// out: `cluster-ips-check ip daddr { 172.30.0.0/16 } drop`, which needs the ServiceCIDRs
/// the seam does not carry.
const KUBE_PROXY_EXPECTED: &str = include_str!("testdata/overall_rules.nft");

/// kube-proxy's `sortNFTablesTransaction` (helpers_test.go): drop blank and `#` lines, order
/// by object type (table, chain, rule, set, map, element), then by object name; rules keep
/// their order within a chain; anything else by the whole line.
fn normalize(tx: &str) -> Vec<String> {
    let order = |w: &str| match w {
        "table" => 10,
        "chain" => 9,
        "rule" => 8,
        "set" => 7,
        "map" => 6,
        "element" => 5,
        _ => 0,
    };
    let mut lines: Vec<(usize, String)> = tx
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .enumerate()
        .collect();
    lines.sort_by(|(ia, a), (ib, b)| {
        let wa: Vec<&str> = a.split(' ').collect();
        let wb: Vec<&str> = b.split(' ').collect();
        order(wb[1])
            .cmp(&order(wa[1]))
            .then_with(|| wa[4].cmp(wb[4]))
            .then_with(|| if wa[1] == "rule" { ia.cmp(ib) } else { a.cmp(b) })
    });
    lines.into_iter().map(|(_, l)| l).collect()
}

#[test]
fn chain_names_match_kube_proxy_hashes() {
    let set = fixture();
    assert_eq!(service_chain_base(&set.services[0], 0), "ULMVA6XW-ns1/svc1/tcp/p80");
    let e = &set.endpoints[0][0][0];
    assert_eq!(
        endpoint_chain_base(&set.services[0], 0, e),
        "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    );
}

#[test]
fn dump_matches_kube_proxy_overall_rules_fixture() {
    let mut nft = NftablesFast::new(NftConfig::default());
    nft.full_sync(&fixture(), &fixture_node());
    let got = normalize(&nft.dump());
    let want = normalize(KUBE_PROXY_EXPECTED);
    let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
    let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing:\n{missing:#?}\nextra:\n{extra:#?}"
    );
    assert_eq!(got, want, "same lines, same normalized order");
}

fn pkt(src: &str, dst: &str, dport: u16) -> Packet {
    Packet {
        src: ip(src),
        dst: ip(dst),
        sport: 40000,
        dport,
        proto: Protocol::Tcp,
    }
}

fn run(nft: &mut NftablesFast, p: Packet, origin: Origin) -> Verdict {
    nft.lookup(&p, origin, 0, &mut SplitMix(1), None)
}

/// Flows kube-proxy's proxier tests check on the same kind of fixture (TestOverallNFTablesRules'
/// services; expectations as in TestNoEndpointsReject, TestLoadBalancer, TestClusterIPGeneral).
#[test]
fn packet_flows_follow_kube_proxy_expectations() {
    let mut nft = NftablesFast::new(NftConfig::default());
    nft.full_sync(&fixture(), &fixture_node());
    let dnat = |v: Verdict| match v.decision {
        Decision::Dnat { ip, dport, .. } => Some((ip, dport, v.masquerade)),
        _ => None,
    };
    // Pod to ClusterIP: DNAT, no masquerade; the endpoint to itself: hairpin masquerade.
    let v = run(&mut nft, pkt("10.0.0.2", "172.30.0.41", 80), Origin::LocalPod);
    assert_eq!(dnat(v), Some((ip("10.180.0.1"), 80, false)));
    let v = run(&mut nft, pkt("10.180.0.1", "172.30.0.41", 80), Origin::LocalPod);
    assert_eq!(dnat(v), Some((ip("10.180.0.1"), 80, true)));
    // Off-cluster source to a ClusterIP is masqueraded.
    let v = run(&mut nft, pkt("203.0.113.2", "172.30.0.41", 80), Origin::External);
    assert_eq!(dnat(v), Some((ip("10.180.0.1"), 80, true)));
    // No endpoints: REJECT; wrong port of a ClusterIP: REJECT by cluster-ips-check.
    let v = run(&mut nft, pkt("10.0.0.2", "172.30.0.46", 80), Origin::LocalPod);
    assert!(matches!(
        v.decision,
        Decision::Reject {
            service: 5,
            port: 0,
            reason: RejectReason::NoEndpoints,
        }
    ));
    let v = run(&mut nft, pkt("10.0.0.2", "172.30.0.41", 443), Origin::LocalPod);
    assert!(matches!(
        v.decision,
        Decision::Reject {
            service: 0,
            port: NO_PORT,
            reason: RejectReason::InvalidPort,
        }
    ));
    // Source ranges: allowed source reaches the endpoint, others are dropped.
    let v = run(&mut nft, pkt("203.0.113.2", "5.6.7.8", 80), Origin::External);
    assert_eq!(dnat(v), Some((ip("10.180.0.3"), 80, true)));
    let v = run(&mut nft, pkt("203.0.113.130", "5.6.7.8", 80), Origin::External);
    assert_eq!(
        v.decision,
        Decision::Drop {
            service: 4,
            port: 0,
            reason: DropReason::SourceRangeDenied
        }
    );
    // NodePort bypasses loadBalancerSourceRanges.
    let v = run(&mut nft, pkt("203.0.113.130", "192.168.0.2", 3002), Origin::External);
    assert_eq!(dnat(v), Some((ip("10.180.0.3"), 80, true)));
    // eTP Local without a local endpoint: external traffic dropped, pod traffic short-circuits.
    let v = run(&mut nft, pkt("203.0.113.2", "1.2.3.4", 80), Origin::External);
    assert!(matches!(
        v.decision,
        Decision::Drop {
            service: 1,
            reason: DropReason::NoLocalEndpoints,
            ..
        }
    ));
    let v = run(&mut nft, pkt("10.0.0.2", "1.2.3.4", 80), Origin::LocalPod);
    assert_eq!(dnat(v), Some((ip("10.180.0.2"), 80, false)));
    // Host to an eTP Local NodePort without local endpoints: "fib saddr type local" sends it
    // to the cluster chain, masqueraded.
    let v = run(&mut nft, pkt("192.168.0.2", "192.168.0.2", 3001), Origin::Host);
    assert_eq!(dnat(v), Some((ip("10.180.0.2"), 80, true)), "host short-circuits too");
    // Not a Service.
    let v = run(&mut nft, pkt("10.0.0.2", "10.180.0.9", 8080), Origin::LocalPod);
    assert_eq!(v.decision, Decision::NotAService);
}

#[test]
fn clusterip_work_is_flat_in_the_number_of_services() {
    let node = node_view();
    let work_for = |n: u32| {
        let mut nft = NftablesFast::new(NftConfig::default());
        nft.full_sync(&cluster_ip_services(n, 10), &node);
        let last = Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 20, 0, 0)) + n);
        let p = Packet {
            src: ip("10.244.1.5"),
            dst: last,
            sport: 1,
            dport: 80,
            proto: Protocol::Tcp,
        };
        let v = nft.lookup(&p, Origin::LocalPod, 0, &mut SplitMix(3), None);
        assert!(matches!(v.decision, Decision::Dnat { .. }));
        v.work
    };
    let small = work_for(10);
    assert_eq!(small, work_for(2000), "nftables does the same work at any scale");
    // prerouting filter 1+1, nat 1+1 (vmap hit) + service chain 2 + endpoint chain 2,
    // forward 2 jumps + 1 + 1, postrouting 1 + 1.
    assert_eq!(small.rules_evaluated, 14);
    assert_eq!(small.random_draws, 1);
}

#[test]
fn numgen_spreads_within_five_percent_over_100k_draws() {
    let set = cluster_ip_services(1, 3);
    let mut nft = NftablesFast::new(NftConfig::default());
    nft.full_sync(&set, &node_view());
    let mut counts = [0u32; 3];
    let mut rng = SplitMix(42);
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    for _ in 0..100_000 {
        match nft.lookup(&p, Origin::LocalPod, 0, &mut rng, None).decision {
            Decision::Dnat { index, .. } => counts[index as usize] += 1,
            d => panic!("unexpected {d:?}"),
        }
    }
    for c in counts {
        let share = f64::from(c) / 100_000.0;
        assert!((share - 1.0 / 3.0).abs() < 0.05 / 3.0, "{counts:?}");
    }
}

#[test]
fn numgen_uses_the_kernels_reciprocal_scale() {
    let set = cluster_ip_services(1, 3);
    let mut nft = NftablesReference::new(NftConfig::default());
    nft.full_sync(&set, &node_view());
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    // (draw * 3) >> 32: 0x5555_5555 → 0, 0x5555_5556 → 1, 0xFFFF_FFFF → 2. `draw % 3`
    // would give 1, 2, 0.
    for (draw, want) in [(0x5555_5555u32, 0u32), (0x5555_5556, 1), (u32::MAX, 2)] {
        let mut r = Replay {
            draws: vec![draw],
            next: 0,
        };
        let v = nft.lookup(&p, Origin::LocalPod, 0, &mut r, None);
        // Endpoint chains are in "ip:port" string order, which here is list order.
        assert!(
            matches!(v.decision, Decision::Dnat { index, .. } if index == want),
            "{draw:#x}"
        );
    }
}

#[test]
fn affinity_sticks_until_the_timeout() {
    let mut set = cluster_ip_services(1, 4);
    set.services[0].session_affinity_seconds = Some(10);
    let mut nft = NftablesFast::new(NftConfig::default());
    nft.full_sync(&set, &node_view());
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    let pick = |nft: &mut NftablesFast, draw: u32, now: u64| {
        let mut r = Replay {
            draws: vec![draw],
            next: 0,
        };
        match nft.lookup(&p, Origin::LocalPod, now, &mut r, None).decision {
            Decision::Dnat { index, .. } => (index, r.next),
            d => panic!("{d:?}"),
        }
    };
    let (first, draws) = pick(&mut nft, u32::MAX, 0);
    assert_eq!((first, draws), (3, 1));
    let (again, draws) = pick(&mut nft, 0, 9_999_999_999);
    assert_eq!((again, draws), (3, 0), "sticky, no draw");
    let (after, _) = pick(&mut nft, 0, 9_999_999_999 + 10_000_000_000);
    assert_eq!(after, 0, "expired: numgen again");
}

#[test]
fn partial_sync_writes_only_the_changed_service() {
    let node = node_view();
    let mut set = cluster_ip_services(200, 10);
    let mut nft = NftablesFast::new(NftConfig::default());
    let full = nft.full_sync(&set, &node);
    set.endpoints[7][0].pop();
    let part = nft.partial_sync(&set, &node, &[7]);
    // Service chain (add + masq rule + numgen) and 9 endpoint chains (add + 2 rules), and a
    // flush of the endpoint chain that went away; no map element changed.
    assert_eq!(part.objects_written, 3 + 9 * 3 + 1);
    assert!(full.objects_written > 50 * part.objects_written);
    let mut fresh = NftablesFast::new(NftConfig::default());
    fresh.full_sync(&set, &node);
    assert_eq!(nft.dump(), fresh.dump(), "partial sync reaches the full-sync table");
}

/// Both traffic policies Local, the only endpoint on another node: kube-proxy still computes
/// the Cluster endpoints (`UsesClusterEndpoints`: the port accepts external traffic), so the
/// host's own NodePort traffic is short-circuited to it; pods and outside traffic are dropped
/// as "no local endpoints" (a usable endpoint exists elsewhere), not rejected.
#[test]
fn both_policies_local_short_circuit_to_cluster_endpoints() {
    let mut s = svc("ns", "both", ServiceType::NodePort, "172.30.0.50", Some(3050));
    s.internal_traffic_policy = TrafficPolicy::Local;
    s.external_traffic_policy = TrafficPolicy::Local;
    let set = ServiceSet {
        services: vec![s],
        endpoints: vec![vec![vec![ep("10.180.1.1", "other-node")]]],
    };
    let mut nft = NftablesFast::new(NftConfig::default());
    nft.full_sync(&set, &fixture_node());
    let v = run(&mut nft, pkt("192.168.0.2", "192.168.0.2", 3050), Origin::Host);
    assert!(
        matches!(v.decision, Decision::Dnat { index: 0, .. }) && v.masquerade,
        "{v:?}"
    );
    let drop = Decision::Drop {
        service: 0,
        port: 0,
        reason: DropReason::NoLocalEndpoints,
    };
    let v = run(&mut nft, pkt("10.0.0.2", "172.30.0.50", 80), Origin::LocalPod);
    assert_eq!(v.decision, drop);
    let v = run(&mut nft, pkt("203.0.113.2", "192.168.0.2", 3050), Origin::External);
    assert_eq!(v.decision, drop);
}

mod props {
    use super::*;
    use crate::testing::strategies::{arb_lookup, arb_service_set};
    use proptest::prelude::*;

    fn both(set: &ServiceSet) -> (NftablesReference, NftablesFast) {
        let node = node_view();
        let mut r = NftablesReference::new(NftConfig::default());
        let mut f = NftablesFast::new(NftConfig::default());
        r.full_sync(set, &node);
        f.full_sync(set, &node);
        (r, f)
    }

    fn compare(
        r: &mut NftablesReference,
        f: &mut NftablesFast,
        p: &Packet,
        o: Origin,
        now: u64,
        draws: &[u32],
    ) -> Result<(), TestCaseError> {
        let (mut rr, mut fr) = (
            Replay {
                draws: draws.to_vec(),
                next: 0,
            },
            Replay {
                draws: draws.to_vec(),
                next: 0,
            },
        );
        let (mut rt, mut ft) = (Vec::new(), Vec::new());
        let vr = r.lookup(p, o, now, &mut rr, Some(&mut rt));
        let vf = f.lookup(p, o, now, &mut fr, Some(&mut ft));
        prop_assert_eq!(vr, vf);
        prop_assert_eq!(rt, ft);
        prop_assert_eq!(rr.next, fr.next);
        prop_assert_eq!(vr.work.random_draws as usize, rr.next);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn fast_equals_reference(
            (set, p, o, draws) in arb_service_set(6).prop_flat_map(arb_lookup)
        ) {
            let (mut r, mut f) = both(&set);
            prop_assert_eq!(r.dump(), f.dump());
            // Twice, a second apart: the second may hit an affinity entry the first wrote.
            compare(&mut r, &mut f, &p, o, 1_000, &draws)?;
            compare(&mut r, &mut f, &p, o, 1_000_001_000, &draws)?;
        }

        #[test]
        fn partial_sync_equals_full_sync(
            (set, p, o, draws) in arb_service_set(6).prop_flat_map(arb_lookup),
            (set2, _, _, _) in arb_service_set(6).prop_flat_map(arb_lookup),
        ) {
            // Service i of the new state takes set2's endpoints where the shapes agree.
            let node = node_view();
            let mut f = NftablesFast::new(NftConfig::default());
            f.full_sync(&set, &node);
            let mut next = set.clone();
            let mut changed = Vec::new();
            for s in 0..next.services.len().min(set2.services.len()) {
                if next.services[s].ports.len() == set2.services[s].ports.len() && s % 2 == 0 {
                    next.endpoints[s] = set2.endpoints[s].clone();
                    changed.push(s);
                }
            }
            f.partial_sync(&next, &node, &changed);
            let mut r = NftablesReference::new(NftConfig::default());
            r.full_sync(&next, &node);
            prop_assert_eq!(f.dump(), r.dump());
            compare(&mut r, &mut f, &p, o, 5, &draws)?;
        }
    }
}

/// Writes dumps for a manual `nft -f` check in a throwaway namespace (the lead's namespace
/// test does this for real): `NFT_DUMP_DIR=/tmp/x cargo test write_dumps -- --ignored`.
#[test]
#[ignore]
fn write_dumps() {
    let dir = std::env::var("NFT_DUMP_DIR").expect("NFT_DUMP_DIR");
    let mut nft = NftablesFast::new(NftConfig::default());
    nft.full_sync(&fixture(), &fixture_node());
    std::fs::write(format!("{dir}/fixture.nft"), nft.dump()).expect("write");
    let mut set = cluster_ip_services(1000, 10);
    set.services[3].session_affinity_seconds = Some(10800);
    set.services[4].internal_traffic_policy = TrafficPolicy::Local;
    set.services[5].kind = ServiceType::LoadBalancer;
    set.services[5].external_traffic_policy = TrafficPolicy::Local;
    set.services[5].internal_traffic_policy = TrafficPolicy::Local;
    set.services[5].load_balancer_ips = vec![ip("198.51.100.5")];
    set.services[5].load_balancer_source_ranges = vec!["10.0.0.0/8".parse().expect("net")];
    set.services[5].ports[0].node_port = Some(30005);
    set.endpoints[6][0].clear();
    nft.full_sync(&set, &node_view());
    std::fs::write(format!("{dir}/1000x10.nft"), nft.dump()).expect("write");
}
