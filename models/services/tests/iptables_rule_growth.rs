//! How kube-proxy's iptables rules grow with Services and endpoints, the probability ladder
//! that spreads connections over endpoints, and the spread it achieves.
//!
//! Rule count (kube-proxy release 1.31 line, pkg/proxy/iptables/proxier.go): for S ClusterIP
//! Services with E ≥ 1 ready endpoints each, no session affinity and a cluster CIDR (so the
//! `! -s CIDR -j KUBE-MARK-MASQ` rule is written), the nat table holds
//!     5 + S·(2 + 3E)
//! rules: KUBE-POSTROUTING 3, KUBE-MARK-MASQ 1 and the final KUBE-NODEPORTS jump of
//! KUBE-SERVICES 1; per Service one KUBE-SERVICES rule and one masquerade rule in KUBE-SVC-*,
//! and per endpoint one KUBE-SVC-* jump plus two KUBE-SEP-* rules (hairpin mark, DNAT). The
//! filter table holds 4 (kubelet's KUBE-FIREWALL guard, KUBE-FORWARD's INVALID drop and two
//! accepts), whatever S and E.

use cnsim_services::iptables::names::probability_text;
use cnsim_services::iptables::{generate, IptablesFast, IptablesReference, ProxierConfig};
use cnsim_services::testing::{cluster_ip_services, node_view, SplitMix};
use cnsim_services::*;
use std::net::Ipv4Addr;

#[test]
fn nat_rules_are_5_plus_s_times_2_plus_3e() {
    for s in [1u32, 3, 10, 40] {
        for e in [1u32, 2, 5, 30] {
            let rs = generate(&cluster_ip_services(s, e), &node_view(), &ProxierConfig::default());
            assert_eq!(rs.nat.rule_count() as u32, 5 + s * (2 + 3 * e), "S={s} E={e}");
            assert_eq!(rs.filter.rule_count(), 4, "S={s} E={e}");
        }
    }
}

#[test]
fn a_packet_to_no_service_walks_every_service_rule() {
    // KUBE-SERVICES has one rule per Service then the NODEPORTS jump: a packet that matches
    // nothing tests them all, so the count grows by exactly one per Service.
    let pkt = Packet {
        src: Ipv4Addr::new(10, 244, 1, 5),
        dst: Ipv4Addr::new(10, 244, 3, 3),
        sport: 40000,
        dport: 8080,
        proto: Protocol::Tcp,
    };
    let work = |s: u32| {
        let mut dp = IptablesFast::new(ProxierConfig::default());
        dp.full_sync(&cluster_ip_services(s, 3), &node_view());
        dp.lookup(&pkt, Origin::LocalPod, 0, &mut SplitMix(1), None)
    };
    let base = work(1);
    assert_eq!(base.decision, Decision::NotAService);
    for s in [10u32, 1000] {
        assert_eq!(work(s).work.rules_evaluated - base.work.rules_evaluated, s - 1, "S={s}");
    }
}

#[test]
fn statistic_ladder_is_one_over_n_minus_i_with_ten_decimals() {
    let set = cluster_ip_services(1, 10);
    let rs = generate(&set, &node_view(), &ProxierConfig::default());
    let svc = rs
        .nat
        .chains
        .iter()
        .find(|c| c.name.starts_with("KUBE-SVC-"))
        .expect("a service chain");
    // Rule 0 is the masquerade rule; then one jump per endpoint.
    let jumps = &svc.rules[1..];
    assert_eq!(jumps.len(), 10);
    for (i, r) in jumps.iter().enumerate() {
        let n = 10 - i as u32;
        if n > 1 {
            let want = format!("--probability {}", probability_text(n));
            assert!(r.text.contains(&want), "rule {i}: {}", r.text);
            let digits = r.text.split("--probability ").nth(1).unwrap();
            let p = digits.split(' ').next().unwrap();
            assert_eq!(p.split('.').nth(1).unwrap().len(), 10, "ten decimals: {p}");
            let v: f64 = p.parse().unwrap();
            assert!((v - 1.0 / f64::from(n)).abs() < 1e-10, "1/{n}: {p}");
        } else {
            assert!(!r.text.contains("statistic"), "the last jump always matches");
        }
    }
    assert!(jumps[0].text.contains("--probability 0.1000000000"));
    assert!(jumps[7].text.contains("--probability 0.3333333333"));
    assert!(jumps[8].text.contains("--probability 0.5000000000"));
}

#[test]
fn ten_endpoints_each_get_a_tenth_of_100k_connections() {
    let set = cluster_ip_services(1, 10);
    let mut dp = IptablesReference::new(ProxierConfig::default());
    dp.full_sync(&set, &node_view());
    let mut rng = SplitMix(0x5eed);
    let mut counts = [0u32; 10];
    let pkt = Packet {
        src: Ipv4Addr::new(10, 244, 1, 5),
        dst: set.services[0].cluster_ip.unwrap(),
        sport: 40000,
        dport: 80,
        proto: Protocol::Tcp,
    };
    let n = 100_000u32;
    let mut draws = 0u64;
    for _ in 0..n {
        let v = dp.lookup(&pkt, Origin::LocalPod, 0, &mut rng, None);
        draws += u64::from(v.work.random_draws);
        match v.decision {
            Decision::Dnat { index, .. } => counts[index as usize] += 1,
            d => panic!("expected a DNAT, got {d:?}"),
        }
    }
    for (i, &c) in counts.iter().enumerate() {
        let share = f64::from(c) / f64::from(n);
        assert!((share - 0.1).abs() <= 0.005, "endpoint {i}: {share}");
    }
    // The ladder draws until a step matches: on average Σ_{k=1..9} k/10 + 9/10 = 5.4 draws.
    let mean = draws as f64 / f64::from(n);
    assert!((mean - 5.4).abs() < 0.05, "mean draws {mean}");
}

#[test]
fn large_clusters_drop_the_per_endpoint_comments() {
    // Above 1000 endpoints kube-proxy stops commenting SEP rules and the SVC→SEP jumps
    // (largeClusterEndpointsThreshold); the rule count stays the same.
    let small = generate(&cluster_ip_services(100, 10), &node_view(), &ProxierConfig::default());
    let large = generate(&cluster_ip_services(101, 10), &node_view(), &ProxierConfig::default());
    assert!(!small.large_cluster_mode && large.large_cluster_mode);
    let sep_text = |rs: &cnsim_services::iptables::Ruleset| {
        let c = rs.nat.chains.iter().find(|c| c.name.starts_with("KUBE-SEP-")).unwrap();
        c.rules[1].text.clone()
    };
    assert!(
        sep_text(&small).contains("-m comment --comment ns/svc-"),
        "{}",
        sep_text(&small)
    );
    assert!(!sep_text(&large).contains("-m comment"), "{}", sep_text(&large));
    assert_eq!(large.nat.rule_count(), 5 + 101 * (2 + 3 * 10));
}

/// Generation and sync time at the largest size; run with `--ignored --nocapture`.
#[test]
#[ignore]
fn time_full_sync_30k_services_10_endpoints() {
    let set = cluster_ip_services(30_000, 10);
    let node = node_view();
    let t = std::time::Instant::now();
    let rs = generate(&set, &node, &ProxierConfig::default());
    eprintln!("generate: {:?} ({} nat rules)", t.elapsed(), rs.nat.rule_count());
    drop(rs);
    let mut dp = IptablesFast::new(ProxierConfig::default());
    let t = std::time::Instant::now();
    let st = dp.full_sync(&set, &node);
    eprintln!("full sync: {:?}, {st:?}", t.elapsed());
    let t = std::time::Instant::now();
    let st = dp.partial_sync(&set, &node, &[7]);
    eprintln!("partial sync: {:?}, {st:?}", t.elapsed());
    let pkt = Packet {
        src: Ipv4Addr::new(10, 244, 1, 5),
        dst: set.services[29_999].cluster_ip.unwrap(),
        sport: 1,
        dport: 80,
        proto: Protocol::Tcp,
    };
    let t = std::time::Instant::now();
    let mut rng = SplitMix(3);
    let mut work = 0u64;
    for _ in 0..10_000 {
        work += u64::from(
            dp.lookup(&pkt, Origin::LocalPod, 0, &mut rng, None)
                .work
                .rules_evaluated,
        );
    }
    eprintln!("10k fast lookups: {:?}, mean rules {}", t.elapsed(), work / 10_000);
}
