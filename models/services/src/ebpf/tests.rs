//! Unit and property tests of the eBPF datapath: Maglev against Cilium's own reproducibility
//! vector and the paper's disruption bound, the lookup outcomes, sync counts, the dump layout,
//! and the fast engine held equal to the reference on generated services.

use super::maglev::*;
use super::*;
use crate::testing::{cluster_ip_services, node_view, Replay, SplitMix};

fn tb(i: u32, weight: u16) -> TableBackend {
    // Cilium's test helper mkAddr(i): address i big-endian, port i, TCP.
    TableBackend {
        name: backend_hash_string(Ipv4Addr::from(i), i as u16, Protocol::Tcp),
        id: i,
        weight,
    }
}

fn rle(ids: &[u32], map: impl Fn(u32) -> u32) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j < ids.len() && ids[j] == ids[i] {
            j += 1;
        }
        out.push(format!("{}({})", map(ids[i]), j - i));
        i = j;
    }
    out.join(",")
}

#[test]
fn maglev_matches_ciliums_reproducibility_vector() {
    // pkg/maglev TestReproducible: M=251, default seed, weights 2/13/111/10 on mkAddr 1,3,4,5
    // with ids 0..3.
    let expected = "2(5),3(1),2(3),1(1),2(2),0(1),2(1),3(1),2(1),3(1),2(1),1(1),2(7),1(1),2(14),3(1),2(1),\
1(2),2(12),3(1),2(3),1(1),2(4),3(1),2(8),3(1),2(2),1(1),2(16),1(2),2(3),3(1),2(11),1(2),2(4),3(1),2(3),\
1(1),2(4),3(1),2(1),0(1),1(1),2(8),1(1),2(7),1(1),2(4),3(1),2(1),3(1),2(9),1(2),2(5),1(1),2(7),3(1),2(1),\
3(1),1(1),2(8),1(1),2(4),0(1),2(1),1(1),2(5),3(1),2(3),1(1),2(4),3(1),2(3),1(1),2(12),0(1),3(1),2(3),3(1),\
2(4),3(1),2(2),1(1),2(7)";
    let backends = [tb(1, 2), tb(3, 13), tb(4, 111), tb(5, 10)];
    let id_of = |addr: u32| [1, 3, 4, 5].iter().position(|&a| a == addr).unwrap() as u32;
    let seeds = Seeds::default();
    let fast = lookup_table(&backends, 251, &seeds);
    assert_eq!(rle(&fast, id_of), expected);
    assert_eq!(lookup_table_reference(&backends, 251, &seeds), fast);
}

#[test]
fn maglev_removal_moves_about_one_nth() {
    let seeds = Seeds::default();
    let ten: Vec<TableBackend> = (1..=10).map(|i| tb(0x0af4_0000 + i, 100)).collect();
    for removed in [0, 4, 9] {
        let d = removal_disruption(&ten, removed, DEFAULT_TABLE_SIZE, &seeds);
        assert!(
            (0.09..=0.13).contains(&d.changed),
            "removing 1 of 10 moved {:.4} of the table",
            d.changed
        );
        assert!(d.collateral < 0.03, "collateral {:.4}", d.collateral);
    }
    // pkg/maglev TestBackendRemoval: 3 backends, M=1021, under 1% of the table moves between
    // the surviving backends.
    let three: Vec<TableBackend> = (1..=3).map(|i| tb(i, 1)).collect();
    let d = removal_disruption(&three, 2, 1021, &seeds);
    assert!(d.collateral * (2.0 / 3.0) < 0.01, "{d:?}");
}

#[test]
fn jhash_and_flow_hash_are_stable() {
    // jhash_3words(0,0,0,0) = __jhash_final on three copies of 0xdeadbeef + 12.
    assert_eq!(jhash_3words(0, 0, 0, 0), jhash_3words(0, 0, 0, 0));
    let s = Seeds::default();
    let a = flow_hash(Ipv4Addr::new(10, 244, 1, 5), 40000, 80, Protocol::Tcp, &s);
    let b = flow_hash(Ipv4Addr::new(10, 244, 1, 5), 40001, 80, Protocol::Tcp, &s);
    assert_ne!(a, b, "the source port is hashed");
    assert_eq!(s, Seeds::from_base64(DEFAULT_HASH_SEED).unwrap());
    assert!(Seeds::from_base64("AAAA").is_none(), "12 bytes required");
}

fn pod_to(ip: Ipv4Addr, dport: u16) -> Packet {
    Packet {
        src: Ipv4Addr::new(10, 244, 1, 5),
        dst: ip,
        sport: 40000,
        dport,
        proto: Protocol::Tcp,
    }
}

fn vip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 20, 0, 1)) + i)
}

#[test]
fn random_selection_counts_master_slot_and_backend() {
    let set = cluster_ip_services(2, 3);
    let mut e = EbpfEngine::new(EbpfConfig::default());
    let stats = e.full_sync(&set, &node_view());
    // Per service: master + 3 slots + 1 rev NAT; 6 backends.
    assert_eq!(stats.objects_written, 2 * 5 + 6);
    let mut trace = Vec::new();
    let mut rng = Replay {
        draws: vec![7],
        next: 0,
    };
    let v = e.lookup(&pod_to(vip(1), 80), Origin::LocalPod, 0, &mut rng, Some(&mut trace));
    // slot = 7 % 3 + 1 = 2 → the second endpoint.
    assert_eq!(
        v.decision,
        Decision::Dnat {
            service: 1,
            port: 0,
            index: 1,
            ip: set.endpoints[1][0][1].ip,
            dport: 8080
        }
    );
    assert_eq!((v.work.map_lookups, v.work.random_draws, v.masquerade), (3, 1, false));
    assert_eq!(trace[0].table, "cgroup/connect4", "socket LB by default");
    assert!(e.translated_at_socket(Origin::Host) && !e.translated_at_socket(Origin::External));

    let miss = e.lookup(&pod_to(vip(9), 80), Origin::LocalPod, 0, &mut rng, None);
    assert_eq!((miss.decision, miss.work.map_lookups), (Decision::NotAService, 1));
    let outside = e.lookup(&pod_to(vip(0), 80), Origin::External, 0, &mut rng, None);
    assert_eq!(outside.decision, Decision::NotAService, "ClusterIP is non-routable");
}

#[test]
fn no_backends_rejects_and_source_ranges_drop() {
    let mut set = cluster_ip_services(1, 2);
    set.services[0].kind = ServiceType::LoadBalancer;
    set.services[0].ports[0].node_port = Some(30080);
    set.services[0].load_balancer_ips = vec![Ipv4Addr::new(198, 51, 100, 1)];
    set.services[0].load_balancer_source_ranges = vec!["192.0.2.0/24".parse().unwrap()];
    let mut e = EbpfEngine::new(EbpfConfig::default());
    e.full_sync(&set, &node_view());
    let mut rng = SplitMix(1);
    let mut from_outside = pod_to(Ipv4Addr::new(198, 51, 100, 1), 80);
    from_outside.src = Ipv4Addr::new(203, 0, 113, 9);
    let v = e.lookup(&from_outside, Origin::External, 0, &mut rng, None);
    assert!(matches!(
        v.decision,
        Decision::Drop {
            reason: DropReason::SourceRangeDenied,
            ..
        }
    ));
    assert_eq!(v.work.map_lookups, 2);
    from_outside.src = Ipv4Addr::new(192, 0, 2, 9);
    for _ in 0..8 {
        let v = e.lookup(&from_outside, Origin::External, 0, &mut rng, None);
        let Decision::Dnat { index, .. } = v.decision else {
            panic!("allowed source: {v:?}");
        };
        let remote = set.endpoints[0][0][index as usize].node != "node-0";
        assert_eq!(v.masquerade, remote, "SNAT to the node only for remote backends");
    }
    // From inside the cluster the ranges do not apply.
    from_outside.src = Ipv4Addr::new(203, 0, 113, 9);
    let v = e.lookup(&from_outside, Origin::LocalPod, 0, &mut rng, None);
    assert!(matches!(v.decision, Decision::Dnat { .. }));

    // externalTrafficPolicy Local, and no endpoint left on node-0.
    set.services[0].external_traffic_policy = TrafficPolicy::Local;
    set.endpoints[0][0].retain(|ep| ep.node != "node-0");
    e.full_sync(&set, &node_view());
    let node_port = pod_to(Ipv4Addr::new(10, 0, 0, 10), 30080);
    let v = e.lookup(&node_port, Origin::External, 0, &mut rng, None);
    assert!(matches!(
        v.decision,
        Decision::Reject {
            reason: RejectReason::NoEndpoints,
            ..
        }
    ));
    let v = e.lookup(&node_port, Origin::LocalPod, 0, &mut rng, None);
    assert!(
        matches!(v.decision, Decision::Dnat { .. }),
        "two scopes: internal traffic uses the Cluster set"
    );
    assert!(e.dump().contains("two-scopes"));
}

#[test]
fn affinity_sticks_until_its_timeout() {
    let mut set = cluster_ip_services(1, 5);
    set.services[0].session_affinity_seconds = Some(10);
    let mut e = EbpfEngine::new(EbpfConfig::maglev(251));
    e.full_sync(&set, &node_view());
    let mut rng = SplitMix(3);
    let first = e.lookup(&pod_to(vip(0), 80), Origin::LocalPod, 0, &mut rng, None);
    let mut later = pod_to(vip(0), 80);
    later.sport = 50000;
    let again = e.lookup(&later, Origin::LocalPod, 9_000_000_000, &mut rng, None);
    assert_eq!(first.decision, again.decision);
    assert_eq!(again.work.random_draws, 0);
    assert_eq!(again.work.map_lookups, 4, "master, affinity, match, backend");
}

#[test]
fn maglev_applies_per_packet_and_socket_lb_stays_random() {
    let set = cluster_ip_services(1, 4);
    let cfg = EbpfConfig {
        socket_lb: false,
        ..EbpfConfig::maglev(DEFAULT_TABLE_SIZE)
    };
    let mut e = EbpfEngine::new(cfg);
    let stats = e.full_sync(&set, &node_view());
    assert_eq!(stats.objects_written, 1 + 4 + 1 + 4 + u64::from(DEFAULT_TABLE_SIZE));
    let mut rng = SplitMix(5);
    let v = e.lookup(&pod_to(vip(0), 80), Origin::LocalPod, 0, &mut rng, None);
    assert_eq!((v.work.map_lookups, v.work.random_draws), (4, 0));
    let mut sock = EbpfEngine::new(EbpfConfig::maglev(DEFAULT_TABLE_SIZE));
    sock.full_sync(&set, &node_view());
    let v = sock.lookup(&pod_to(vip(0), 80), Origin::LocalPod, 0, &mut rng, None);
    assert_eq!((v.work.map_lookups, v.work.random_draws), (3, 1));
}

#[test]
fn dump_has_ciliums_layout() {
    let set = cluster_ip_services(1, 2);
    let mut e = EbpfEngine::new(EbpfConfig::default());
    e.full_sync(&set, &node_view());
    let expected = "\
SERVICE ADDRESS     BACKEND ADDRESS (REVNAT_ID) (SLOT)            
172.20.0.1:80/TCP   0.0.0.0:0 (1) (0) [ClusterIP, non-routable]   
                    10.244.0.1:8080/TCP (1) (1)                   
                    10.244.0.2:8080/TCP (1) (2)                   
";
    assert_eq!(e.dump(), expected);
}

#[test]
fn partial_sync_writes_only_what_changed() {
    let mut set = cluster_ip_services(3, 2);
    let mut e = EbpfEngine::new(EbpfConfig::default());
    e.full_sync(&set, &node_view());
    let unchanged = e.partial_sync(&set, &node_view(), &[]);
    assert_eq!(unchanged.objects_written, 0);
    set.endpoints[1][0].pop();
    let s = e.partial_sync(&set, &node_view(), &[1]);
    // Master count changes, slot 2 goes, backend goes.
    assert_eq!(s.objects_written, 3);
}

/// One ClusterIP Service with `extra` external IPs: `extra + 1` frontends, no backends.
fn frontends(extra: u32) -> ServiceSet {
    let mut set = cluster_ip_services(1, 0);
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 1));
    set.services[0].external_ips = (0..extra).map(|i| Ipv4Addr::from(base + i)).collect();
    set
}

#[test]
fn max_frontends_fit_and_are_counted() {
    let set = frontends(MAX_FRONTENDS as u32 - 1);
    assert_eq!(frontends_needed(&set, &node_view()), MAX_FRONTENDS);
    let mut e = EbpfEngine::new(EbpfConfig::default());
    e.full_sync(&set, &node_view());
    assert_eq!(e.program().frontends.len(), MAX_FRONTENDS);
    assert_eq!(
        frontends_needed(&frontends(MAX_FRONTENDS as u32), &node_view()),
        MAX_FRONTENDS + 1
    );
}

#[test]
#[should_panic(expected = "rev NAT ids exhausted")]
fn one_frontend_past_the_limit_panics() {
    EbpfEngine::new(EbpfConfig::default()).full_sync(&frontends(MAX_FRONTENDS as u32), &node_view());
}

mod props {
    use super::*;
    use crate::testing::strategies::{arb_lookup, arb_service_set};
    use proptest::prelude::*;

    fn configs() -> Vec<EbpfConfig> {
        let mut v = Vec::new();
        for socket_lb in [false, true] {
            v.push(EbpfConfig {
                socket_lb,
                ..EbpfConfig::default()
            });
            v.push(EbpfConfig {
                socket_lb,
                ..EbpfConfig::maglev(251)
            });
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn fast_engine_equals_reference(
            (set, pkt, origin, draws) in arb_service_set(6).prop_flat_map(arb_lookup),
            gap_s in 0u64..30,
        ) {
            let node = node_view();
            for cfg in configs() {
                let mut fast = EbpfEngine::new(cfg);
                let mut reference = ReferenceEbpf::new(cfg);
                prop_assert_eq!(fast.full_sync(&set, &node), reference.full_sync(&set, &node));
                prop_assert_eq!(fast.dump(), reference.dump());
                // Twice, so the second lookup meets the affinity entry the first wrote.
                for (i, now) in [0, gap_s * 1_000_000_000].into_iter().enumerate() {
                    let mut p = pkt;
                    p.sport += i as u16;
                    let mut ra = Replay { draws: draws.clone(), next: 0 };
                    let mut rb = ra.clone();
                    let (mut ta, mut tb) = (Vec::new(), Vec::new());
                    let a = fast.lookup(&p, origin, now, &mut ra, Some(&mut ta));
                    let b = reference.lookup(&p, origin, now, &mut rb, Some(&mut tb));
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(ta, tb);
                    prop_assert_eq!(ra.next, rb.next);
                    prop_assert_eq!(u64::from(a.work.random_draws), ra.next as u64);
                    if let Decision::Dnat { service, port, index, ip, dport } = a.decision {
                        let ep = &set.endpoints[service as usize][port as usize][index as usize];
                        prop_assert_eq!((ep.ip, ep.port), (ip, dport));
                    }
                }
            }
        }

        #[test]
        fn frontends_needed_is_what_a_full_sync_allocates(set in arb_service_set(6)) {
            let node = node_view();
            let mut e = EbpfEngine::new(EbpfConfig::default());
            e.full_sync(&set, &node);
            prop_assert_eq!(frontends_needed(&set, &node), e.program().frontends.len());
        }

        #[test]
        fn partial_sync_counts_agree(
            set in arb_service_set(5),
            other in arb_service_set(5),
        ) {
            let node = node_view();
            let cfg = EbpfConfig::maglev(251);
            let mut fast = EbpfEngine::new(cfg);
            let mut reference = ReferenceEbpf::new(cfg);
            fast.full_sync(&set, &node);
            reference.full_sync(&set, &node);
            let changed: Vec<usize> = (0..other.services.len()).collect();
            prop_assert_eq!(
                fast.partial_sync(&other, &node, &changed),
                reference.partial_sync(&other, &node, &changed)
            );
            prop_assert_eq!(fast.dump(), reference.dump());
            let mut fresh = EbpfEngine::new(cfg);
            fresh.full_sync(&other, &node);
            prop_assert_eq!(fresh.partial_sync(&other, &node, &[]).objects_written, 0);
        }

        #[test]
        fn lazy_maglev_table_equals_the_papers(
            n in 1u32..12,
            base in any::<u32>(),
            m in proptest::sample::select(vec![251u32, 509, 1021]),
        ) {
            let backends: Vec<TableBackend> = (0..n).map(|i| tb(base.wrapping_add(i * 7), 100)).collect();
            let seeds = Seeds::default();
            prop_assert_eq!(lookup_table(&backends, m, &seeds), lookup_table_reference(&backends, m, &seeds));
        }
    }
}
