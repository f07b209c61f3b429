//! Tests of the IPVS datapath: the kernel's bucket and source-hash functions against values
//! worked out by hand, each scheduler, persistence, the dumps, sync accounting, and proptests
//! holding the bucket-chain walk to the scan-everything reference.

use super::*;
use crate::testing::{cluster_ip_services, node_view, Replay, SplitMix};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
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

fn synced(set: &ServiceSet, sched: Scheduler) -> Ipvs {
    let mut v = Ipvs::new_fast(IpvsConfig {
        scheduler: sched,
        ..IpvsConfig::default()
    });
    v.full_sync(set, &node_view());
    v
}

fn pick(v: &mut Ipvs, p: &Packet, now: u64) -> Decision {
    v.lookup(p, Origin::LocalPod, now, &mut SplitMix(0), None).decision
}

fn index_of(d: Decision) -> u32 {
    match d {
        Decision::Dnat { index, .. } => index,
        d => panic!("expected DNAT, got {d:?}"),
    }
}

#[test]
fn svc_bucket_matches_hand_computed_kernel_hash() {
    // (proto ^ addr ^ (port >> 8) ^ port) & 0xff, in host order, netns bits 0:
    // tcp 6, 0xAC140001, 80:     0x06 ^ 0x01 ^ 0x00 ^ 0x50 = 0x57
    // udp 17, 0x0A60000A, 53:    0x11 ^ 0x0A ^ 0x00 ^ 0x35 = 0x2E
    // tcp 6, 0x0A00000A, 30080:  0x06 ^ 0x0A ^ 0x75 ^ 0x80 = 0xF9
    // sctp 132, 0xAC1400FF, 443: 0x84 ^ 0xFF ^ 0x01 ^ 0xBB = 0xC1
    assert_eq!(svc_hashkey(Protocol::Tcp, ip("172.20.0.1"), 80, 0), 0x57);
    assert_eq!(svc_hashkey(Protocol::Udp, ip("10.96.0.10"), 53, 0), 0x2E);
    assert_eq!(svc_hashkey(Protocol::Tcp, ip("10.0.0.10"), 30080, 0), 0xF9);
    assert_eq!(svc_hashkey(Protocol::Sctp, ip("172.20.0.255"), 443, 0), 0xC1);
    // The netns pointer's bits 8..15 (here `ipvs >> 8` = 1) flip the bucket.
    assert_eq!(svc_hashkey(Protocol::Tcp, ip("172.20.0.1"), 80, 1), 0x56);
}

#[test]
fn sh_hash_matches_hand_computed_hash_32() {
    // hash_32(addr, 8) = (addr * 0x61C88647) >> 24.
    assert_eq!(sh_hashkey(ip("10.244.1.5")), 115);
    assert_eq!(sh_hashkey(ip("192.0.2.7")), 125);
}

#[test]
fn probes_count_chain_steps_head_first() {
    // 172.20.0.1:80 and 172.20.1.1:80 share bucket 0x57; the later one is at the head.
    let mut set = cluster_ip_services(2, 1);
    set.services[1].cluster_ip = Some(ip("172.20.1.1"));
    for fast in [true, false] {
        let mut v = if fast {
            Ipvs::new_fast(IpvsConfig::default())
        } else {
            Ipvs::new_reference(IpvsConfig::default())
        };
        v.full_sync(&set, &node_view());
        let probes = |v: &mut Ipvs, dst: &str, port: u16| {
            let p = pkt("10.244.1.5", dst, port);
            v.lookup(&p, Origin::LocalPod, 0, &mut SplitMix(0), None)
                .work
                .hash_probes
        };
        assert_eq!(probes(&mut v, "172.20.1.1", 80), 1, "head of the chain");
        assert_eq!(probes(&mut v, "172.20.0.1", 80), 2, "one step behind it");
        // A bound VIP on a port no Service uses: rejected by KUBE-IPVS-FILTER before IPVS.
        let p = pkt("10.244.1.5", "172.20.0.1", 81);
        let v2 = v.lookup(&p, Origin::LocalPod, 0, &mut SplitMix(0), None);
        assert!(matches!(
            v2.decision,
            Decision::Reject {
                service: 0,
                port: NO_PORT,
                reason: RejectReason::InvalidPort,
            }
        ));
        // From the host, the miss walks the whole (two-entry) chain twice: at LOCAL_OUT and
        // again at LOCAL_IN after loopback... but bucket of port 81 differs: 0x56 is empty.
        let p = pkt("10.0.0.10", "172.20.0.1", 81);
        let v3 = v.lookup(&p, Origin::Host, 0, &mut SplitMix(0), None);
        assert_eq!(v3.work.hash_probes, 0);
    }
}

#[test]
fn rr_cycles_destinations_in_list_order() {
    let set = cluster_ip_services(1, 3);
    let mut v = synced(&set, Scheduler::Rr);
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    let seq: Vec<u32> = (0..6).map(|i| index_of(pick(&mut v, &p, i))).collect();
    // kube-proxy adds 10.244.0.1, .2, .3; the kernel puts each new one at the list head.
    assert_eq!(seq, vec![2, 1, 0, 2, 1, 0]);
    let dump = v.dump();
    assert_eq!(
        dump,
        "-A -t 172.20.0.1:80 -s rr\n\
         -a -t 172.20.0.1:80 -r 10.244.0.3:8080 -m -w 1\n\
         -a -t 172.20.0.1:80 -r 10.244.0.2:8080 -m -w 1\n\
         -a -t 172.20.0.1:80 -r 10.244.0.1:8080 -m -w 1\n"
    );
}

#[test]
fn wrr_with_equal_weights_is_rr() {
    let set = cluster_ip_services(1, 4);
    let mut a = synced(&set, Scheduler::Rr);
    let mut b = synced(&set, Scheduler::Wrr);
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    for i in 0..9 {
        assert_eq!(pick(&mut a, &p, i), pick(&mut b, &p, i));
    }
}

#[test]
fn lc_picks_least_active_and_sees_closes() {
    let set = cluster_ip_services(1, 3);
    let mut v = synced(&set, Scheduler::Lc);
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    let first: Vec<u32> = (0..3).map(|i| index_of(pick(&mut v, &p, i))).collect();
    assert_eq!(first, vec![2, 1, 0], "each once, list order on ties");
    v.connection_closed(&p, 1);
    assert_eq!(index_of(pick(&mut v, &p, 9)), 1, "the one with a closed connection");
    assert_eq!(index_of(pick(&mut v, &p, 10)), 2, "all even again: list head");
}

#[test]
fn sh_is_stable_per_source() {
    let set = cluster_ip_services(1, 5);
    let mut v = synced(&set, Scheduler::Sh);
    // 10.244.1.5 hashes to bucket 115 → destination 115 % 5 = 0 in list order (10.244.0.5).
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    for i in 0..20 {
        assert_eq!(index_of(pick(&mut v, &p, i)), 4);
    }
    let mut seen = BTreeSet::new();
    for s in 0..64u8 {
        let p = pkt(&format!("10.244.2.{s}"), "172.20.0.1", 80);
        let a = index_of(pick(&mut v, &p, 0));
        assert_eq!(a, index_of(pick(&mut v, &p, 1)));
        seen.insert(a);
    }
    assert_eq!(seen.len(), 5, "sources spread over every destination");
}

#[test]
fn persistence_holds_the_client_until_the_timeout() {
    let mut set = cluster_ip_services(1, 3);
    set.services[0].session_affinity_seconds = Some(10);
    let mut v = synced(&set, Scheduler::Rr);
    assert!(v.dump().starts_with("-A -t 172.20.0.1:80 -s rr -p 10\n"));
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    let first = index_of(pick(&mut v, &p, 0));
    assert_eq!(index_of(pick(&mut v, &p, 9_000_000_000)), first);
    // Idle past the (refreshed) timeout: scheduled afresh, rr moves on.
    let later = index_of(pick(&mut v, &p, 19_000_000_001));
    assert_ne!(later, first);
}

#[test]
fn no_endpoints_rejects_and_iptables_counts_are_flat() {
    let mut set = cluster_ip_services(300, 2);
    set.endpoints[7][0].clear();
    let mut v = synced(&set, Scheduler::Rr);
    let d = pick(&mut v, &pkt("10.244.1.5", "172.20.0.8", 80), 0);
    assert!(matches!(
        d,
        Decision::Reject {
            service: 7,
            port: 0,
            ..
        }
    ));
    let w1 = v
        .lookup(
            &pkt("10.244.1.5", "172.20.0.1", 80),
            Origin::LocalPod,
            0,
            &mut SplitMix(0),
            None,
        )
        .work;
    let w2 = v
        .lookup(
            &pkt("10.244.1.5", "172.20.1.44", 80),
            Origin::LocalPod,
            0,
            &mut SplitMix(0),
            None,
        )
        .work;
    assert_eq!(
        w1.rules_evaluated, w2.rules_evaluated,
        "rule work independent of the Service"
    );
    assert_eq!(w1.random_draws, 0);
}

#[test]
fn dumps_hold_ipsets_and_rules() {
    let set = cluster_ip_services(2, 1);
    let v = synced(&set, Scheduler::Rr);
    let sets = v.dump_ipsets();
    assert!(sets.contains("create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"));
    assert!(sets.contains("add KUBE-CLUSTER-IP 172.20.0.1,tcp:80\n"));
    assert!(sets.contains("add KUBE-IPVS-IPS 172.20.0.2\n"));
    let ipt = v.dump_iptables();
    for line in [
        "-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
        "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT",
        "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT",
    ] {
        assert!(ipt.lines().any(|l| l == line), "missing {line}\n{ipt}");
    }
}

#[test]
fn partial_sync_writes_only_the_changed_service() {
    let node = node_view();
    let mut set = cluster_ip_services(200, 10);
    let mut v = Ipvs::new_fast(IpvsConfig::default());
    let full = v.full_sync(&set, &node);
    set.endpoints[7][0].pop();
    let part = v.partial_sync(&set, &node, &[7]);
    let mut fresh = Ipvs::new_fast(IpvsConfig::default());
    let _ = fresh.full_sync(&set, &node);
    assert_eq!(v.dump(), fresh.dump());
    assert_eq!(v.dump_ipsets(), fresh.dump_ipsets());
    let ipt = v.dump_iptables();
    let rules = ipt.lines().count() as u64;
    assert_eq!(
        part.objects_written,
        rules + 1,
        "the iptables restore and one -d\n{ipt}"
    );
    assert!(full.objects_written > 200 * 11);
}

/// syncEndpoint with node-local endpoints asked for and none on this node falls back to the
/// Cluster endpoints, which kube-proxy computes even with both policies Local once the port
/// accepts external traffic (`UsesClusterEndpoints`); a ClusterIP-only port has none.
#[test]
fn both_policies_local_fall_back_to_cluster_endpoints() {
    let mut set = cluster_ip_services(1, 2);
    set.services[0].internal_traffic_policy = TrafficPolicy::Local;
    set.services[0].external_traffic_policy = TrafficPolicy::Local;
    for e in &mut set.endpoints[0][0] {
        e.node = "node-9".into();
    }
    let p = pkt("10.244.1.5", "172.20.0.1", 80);
    let mut v = synced(&set, Scheduler::Rr);
    assert!(matches!(
        pick(&mut v, &p, 0),
        Decision::Reject {
            reason: RejectReason::NoEndpoints,
            ..
        }
    ));
    set.services[0].kind = ServiceType::NodePort;
    set.services[0].ports[0].node_port = Some(30080);
    let mut v = synced(&set, Scheduler::Rr);
    let mut got: Vec<u32> = (0..2).map(|i| index_of(pick(&mut v, &p, i))).collect();
    got.sort_unstable();
    assert_eq!(got, vec![0, 1], "both remote endpoints serve the ClusterIP");
}

mod props {
    use super::*;
    use crate::testing::strategies::{arb_lookup, arb_service_set};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn fast_equals_reference(
            (set, p, o, draws) in arb_service_set(6).prop_flat_map(arb_lookup),
            sched in prop::sample::select(vec![Scheduler::Rr, Scheduler::Wrr, Scheduler::Lc, Scheduler::Sh]),
        ) {
            let node = node_view();
            let cfg = IpvsConfig { scheduler: sched, ..IpvsConfig::default() };
            let mut r = Ipvs::new_reference(cfg.clone());
            let mut f = Ipvs::new_fast(cfg);
            r.full_sync(&set, &node);
            f.full_sync(&set, &node);
            prop_assert_eq!(r.dump(), f.dump());
            for (i, now) in [0u64, 1_000_000_000, 50_000_000_000_000].into_iter().enumerate() {
                let mut rr = Replay { draws: draws.clone(), next: 0 };
                let mut fr = Replay { draws: draws.clone(), next: 0 };
                let (mut rt, mut ft) = (Vec::new(), Vec::new());
                let vr = r.lookup(&p, o, now, &mut rr, Some(&mut rt));
                let vf = f.lookup(&p, o, now, &mut fr, Some(&mut ft));
                prop_assert_eq!(vr, vf, "lookup {}", i);
                prop_assert_eq!(rt, ft);
                prop_assert_eq!((rr.next, fr.next), (0, 0), "IPVS draws nothing");
            }
        }

        /// Partial syncs there and back move servers within their chains and entries in and
        /// out of the sets: the fast evaluator's index and chain positions follow.
        #[test]
        fn fast_equals_reference_after_partial_syncs(
            (set, p, o, draws) in arb_service_set(6).prop_flat_map(arb_lookup),
            other in arb_service_set(6),
        ) {
            let node = node_view();
            let mut before = set.clone();
            let n = set.services.len().min(other.services.len());
            for i in 0..n {
                before.services[i] = other.services[i].clone();
                before.endpoints[i] = other.endpoints[i].clone();
            }
            let changed: Vec<usize> = (0..n).collect();
            let mut r = Ipvs::new_reference(IpvsConfig::default());
            let mut f = Ipvs::new_fast(IpvsConfig::default());
            for v in [&mut r, &mut f] {
                v.full_sync(&set, &node);
                v.partial_sync(&before, &node, &changed);
                v.partial_sync(&set, &node, &changed);
            }
            prop_assert_eq!(r.dump(), f.dump());
            prop_assert_eq!(r.dump_ipsets(), f.dump_ipsets());
            let mut rr = Replay { draws: draws.clone(), next: 0 };
            let mut fr = Replay { draws, next: 0 };
            let (mut rt, mut ft) = (Vec::new(), Vec::new());
            let vr = r.lookup(&p, o, 0, &mut rr, Some(&mut rt));
            let vf = f.lookup(&p, o, 0, &mut fr, Some(&mut ft));
            prop_assert_eq!(vr, vf);
            prop_assert_eq!(rt, ft);
        }
    }
}

#[test]
fn set_ids_name_their_sets() {
    assert_eq!(rules::SetId::of(rules::IPVS_IPS), rules::SetId::IPVS_IPS);
    for (name, _, _) in rules::IPSETS {
        assert_eq!(rules::SetId::of(name).name(), name);
    }
}

/// Writes the dumps for a manual load check in a throwaway namespace:
/// `IPVS_DUMP_DIR=/tmp/x cargo test ipvs::tests::write_dumps -- --ignored`.
#[test]
#[ignore]
fn write_dumps() {
    let dir = std::env::var("IPVS_DUMP_DIR").expect("IPVS_DUMP_DIR");
    let mut set = cluster_ip_services(50, 3);
    set.services[3].session_affinity_seconds = Some(10800);
    set.services[5].kind = ServiceType::LoadBalancer;
    set.services[5].external_traffic_policy = TrafficPolicy::Local;
    set.services[5].load_balancer_ips = vec![ip("198.51.100.5")];
    set.services[5].load_balancer_source_ranges = vec!["10.0.0.0/8".parse().expect("net")];
    set.services[5].ports[0].node_port = Some(30005);
    set.services[6].external_ips = vec![ip("203.0.113.6")];
    set.endpoints[0][0][0].node = "node-0".into();
    let v = synced(&set, Scheduler::Rr);
    std::fs::write(format!("{dir}/ipvs.ipvsadm"), v.dump()).expect("write");
    std::fs::write(format!("{dir}/ipvs.iptables"), v.dump_iptables()).expect("write");
    std::fs::write(format!("{dir}/ipvs.ipset"), v.dump_ipsets()).expect("write");
}
