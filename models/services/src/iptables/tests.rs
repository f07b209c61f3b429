//! Tests of the iptables engine that need the crate's test generators: the fast evaluator is
//! held equal to the reference (verdict, masquerade, work, draws, trace) on generated
//! services and packets, including affinity across repeated lookups; partial syncs leave the
//! same state as full ones and write less.

use super::render::{restore_text, Scope};
use super::*;
use crate::testing::strategies::{arb_lookup, arb_service_set};
use crate::testing::{node_view, Replay};
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn both(set: &ServiceSet) -> (IptablesReference, IptablesFast) {
    let node = node_view();
    let mut r = IptablesReference::new(ProxierConfig::default());
    let mut f = IptablesFast::new(ProxierConfig::default());
    let a = r.full_sync(set, &node);
    let b = f.full_sync(set, &node);
    assert_eq!(a, b, "same sync accounting");
    (r, f)
}

/// Runs one lookup on both engines with the same draws; returns the reference's verdict.
fn same(
    r: &mut IptablesReference,
    f: &mut IptablesFast,
    pkt: &Packet,
    origin: Origin,
    now: u64,
    draws: &[u32],
) -> Result<Verdict, TestCaseError> {
    let (mut dr, mut df) = (
        Replay {
            draws: draws.to_vec(),
            next: 0,
        },
        Replay {
            draws: draws.to_vec(),
            next: 0,
        },
    );
    let (mut tr, mut tf) = (Vec::new(), Vec::new());
    let vr = r.lookup(pkt, origin, now, &mut dr, Some(&mut tr));
    let vf = f.lookup(pkt, origin, now, &mut df, Some(&mut tf));
    prop_assert_eq!(vr, vf, "verdicts differ for {:?} from {:?}", pkt, origin);
    prop_assert_eq!(dr.next, df.next, "draws consumed");
    prop_assert_eq!(vr.work.random_draws as usize, dr.next, "every draw is counted");
    prop_assert_eq!(&tr, &tf, "traces");
    prop_assert!(
        vr.work.rules_evaluated >= tr.len() as u32,
        "matched rules were evaluated"
    );
    Ok(vr)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fast_equals_reference(
        (set, pkt, origin, draws) in arb_service_set(8).prop_flat_map(arb_lookup),
        step_s in 0u64..30_000,
    ) {
        let (mut r, mut f) = both(&set);
        let mut now = 1_000_000_000u64;
        // The same client again (affinity hits or expires), then another client.
        for _ in 0..3 {
            let v = same(&mut r, &mut f, &pkt, origin, now, &draws)?;
            if let Decision::Dnat { service, port, index, ip, dport } = v.decision {
                let ep = &set.endpoints[service as usize][port as usize][index as usize];
                prop_assert_eq!((ep.ip, ep.port), (ip, dport), "index names the endpoint");
            }
            now += step_s * 1_000_000_000 / 4;
        }
        let other = Packet { src: Ipv4Addr::new(10, 244, 2, 9), ..pkt };
        same(&mut r, &mut f, &other, origin, now, &draws)?;
        prop_assert_eq!(&r.state.recent, &f.state.recent, "affinity lists");
    }

    #[test]
    fn partial_sync_reaches_the_full_sync_state(
        a in arb_service_set(6),
        b in arb_service_set(6),
    ) {
        let node = node_view();
        let mut full = IptablesFast::new(ProxierConfig::default());
        full.full_sync(&b, &node);
        let mut part = IptablesFast::new(ProxierConfig::default());
        part.full_sync(&a, &node);
        let all: Vec<usize> = (0..b.services.len()).collect();
        let st = part.partial_sync(&b, &node, &all);
        prop_assert_eq!(full.dump(), part.dump());
        let none = part.partial_sync(&b, &node, &[]);
        prop_assert!(none.objects_written <= st.objects_written);
        prop_assert!(none.bytes_written <= st.bytes_written);
    }
}

/// The sync accounting (summed while the rules are generated) against the text it counts.
fn assert_counts_its_text(st: SyncStats, state: &IptablesState) -> Result<(), TestCaseError> {
    let text = state.last_restore_text.as_deref().expect("kept");
    prop_assert_eq!(st.bytes_written, text.len() as u64);
    let rules = text.lines().filter(|l| l.starts_with("-A ")).count();
    prop_assert_eq!(st.objects_written, rules as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sync_accounting_counts_the_restore_text(
        a in arb_service_set(6),
        b in arb_service_set(6),
        pick in prop::collection::vec(any::<bool>(), 6),
    ) {
        let node = node_view();
        let mut dp = IptablesReference::new(ProxierConfig::default());
        dp.state.keep_restore_text = true;
        let st = dp.full_sync(&a, &node);
        assert_counts_its_text(st, &dp.state)?;
        let changed: Vec<usize> = (0..b.services.len()).filter(|&s| pick[s]).collect();
        let st = dp.partial_sync(&b, &node, &changed);
        assert_counts_its_text(st, &dp.state)?;
        let st = dp.full_sync(&a, &node);
        assert_counts_its_text(st, &dp.state)?;
    }
}

#[test]
fn a_clone_keeps_its_rules_when_the_original_syncs_into_their_buffers() {
    // A sync writes into the previous ruleset's buffers, unless a clone still shares them.
    let node = node_view();
    let (a, b) = (
        crate::testing::cluster_ip_services(5, 3),
        crate::testing::cluster_ip_services(7, 2),
    );
    let mut dp = IptablesFast::new(ProxierConfig::default());
    dp.full_sync(&a, &node);
    let before = dp.dump();
    let copy = dp.clone();
    dp.full_sync(&b, &node);
    assert_eq!(copy.dump(), before, "the clone is untouched");
    let mut fresh = IptablesFast::new(ProxierConfig::default());
    fresh.full_sync(&b, &node);
    assert_eq!(dp.dump(), fresh.dump(), "the original holds the new rules");
    drop(copy);
    dp.full_sync(&a, &node);
    assert_eq!(dp.dump(), before, "and reuses its buffers once no clone shares them");
}

#[test]
fn partial_sync_writes_only_changed_chains_and_deletes_stale_ones() {
    let node = node_view();
    let set = crate::testing::cluster_ip_services(3, 2);
    let mut dp = IptablesReference::new(ProxierConfig::default());
    dp.state.keep_restore_text = true;
    let full = dp.full_sync(&set, &node);
    // 5 fixed nat rules + 3 × (2 + 3·2); filter: KUBE-FIREWALL 1 + KUBE-FORWARD 3.
    assert_eq!(full.objects_written, 5 + 3 * 8 + 4);
    let mut changed = set.clone();
    changed.endpoints[1][0].pop();
    let st = dp.partial_sync(&changed, &node, &[1]);
    // Always: 5 fixed + 3 KUBE-SERVICES + 4 filter; service 1's chains: SVC 1 + 1, SEP 2.
    assert_eq!(st.objects_written, 5 + 3 + 4 + 4);
    let text = dp.state.last_restore_text.clone().unwrap();
    assert!(
        text.contains("-X KUBE-SEP-"),
        "the removed endpoint's chain is deleted:\n{text}"
    );
    assert!(!text.contains("ns/svc-0 -> "), "unchanged services are not rewritten");
    assert_eq!(st.bytes_written, text.len() as u64);
    let (whole, n) = restore_text(dp.state.ruleset(), Scope::Full, &[]);
    assert_eq!(n, 5 + 3 + 4 + 2 * (1 + 3 * 2) + (1 + 3));
    assert!(whole.len() > text.len());
}

#[test]
fn affinity_sticks_within_the_timeout_and_expires_after() {
    let node = node_view();
    let mut set = crate::testing::cluster_ip_services(1, 5);
    set.services[0].session_affinity_seconds = Some(10);
    let mut dp = IptablesFast::new(ProxierConfig::default());
    dp.full_sync(&set, &node);
    let pkt = Packet {
        src: Ipv4Addr::new(10, 244, 1, 5),
        dst: set.services[0].cluster_ip.unwrap(),
        sport: 1,
        dport: 80,
        proto: Protocol::Tcp,
    };
    let mut rng = crate::testing::SplitMix(7);
    let first = dp.lookup(&pkt, Origin::LocalPod, 0, &mut rng, None).decision;
    for t in 1..=10u64 {
        let v = dp.lookup(&pkt, Origin::LocalPod, t * 1_000_000_000, &mut rng, None);
        assert_eq!(v.decision, first, "sticky at {t}s");
        assert_eq!(v.work.random_draws, 0, "an affinity hit draws nothing");
    }
    // 10 s after the last refresh (at 10 s) the entry is still within --seconds 10; at 21 s
    // it is not, so the ladder runs again.
    let v = dp.lookup(&pkt, Origin::LocalPod, 21_000_000_000, &mut rng, None);
    assert!(v.work.random_draws > 0, "expired: the ladder draws");
}

#[test]
fn localnet_guard_drops_untranslated_traffic_to_loopback_naming_no_service() {
    // kubelet's KUBE-FIREWALL rule: from off the node to 127.0.0.1 on a port no NodePort
    // translates. Both evaluators agree and blame no Service.
    let set = crate::testing::cluster_ip_services(1, 1);
    let (mut r, mut f) = both(&set);
    let pkt = Packet {
        src: Ipv4Addr::new(192, 0, 2, 7),
        dst: Ipv4Addr::LOCALHOST,
        sport: 1,
        dport: 8080,
        proto: Protocol::Tcp,
    };
    let v = same(&mut r, &mut f, &pkt, Origin::External, 0, &[]).expect("engines agree");
    let want = Decision::Drop {
        service: NO_SERVICE,
        port: NO_PORT,
        reason: DropReason::LocalnetGuard,
    };
    assert_eq!(v.decision, want);
}
