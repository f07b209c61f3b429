//! `ConntrackTable` against `ReferenceTable` on random event sequences: inserts (with clashes),
//! lookups of either direction, TCP segments and UDP packets, time steps that expire entries,
//! and small tables so early drop and table-full drops happen often.

use cnsim_services::conntrack::reference::ReferenceTable;
use cnsim_services::conntrack::*;
use cnsim_services::{Packet, Protocol};
use proptest::prelude::*;
use std::net::Ipv4Addr;

#[derive(Clone, Debug)]
enum Ev {
    Insert { flow: u8, first: u8 },
    Lookup { flow: u8, reply: bool },
    Segment { flow: u8, flags: u8, reply: bool },
    Advance { ms: u32 },
    Remove { flow: u8 },
}

const FLAGS: [TcpFlags; 5] = [
    TcpFlags::SYN,
    TcpFlags::SYN_ACK,
    TcpFlags::ACK,
    TcpFlags::FIN_ACK,
    TcpFlags::RST,
];

fn flow(f: u8) -> (Packet, Packet) {
    let proto = if f % 3 == 0 { Protocol::Udp } else { Protocol::Tcp };
    let orig = Packet {
        src: Ipv4Addr::new(10, 244, 1, f % 7),
        dst: Ipv4Addr::new(172, 20, 0, 1 + f % 3),
        sport: 30000 + u16::from(f),
        dport: 80,
        proto,
    };
    let reply = Packet {
        src: Ipv4Addr::new(10, 244, 2, f % 5),
        dst: orig.src,
        sport: 8080,
        dport: orig.sport,
        proto,
    };
    (orig, reply)
}

fn arb_ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => (0u8..40, 0u8..5).prop_map(|(flow, first)| Ev::Insert { flow, first }),
        3 => (0u8..40, any::<bool>()).prop_map(|(flow, reply)| Ev::Lookup { flow, reply }),
        4 => (0u8..40, 0u8..5, any::<bool>()).prop_map(|(flow, flags, reply)| Ev::Segment { flow, flags, reply }),
        2 => prop_oneof![0u32..3_000, 0u32..200_000].prop_map(|ms| Ev::Advance { ms }),
        1 => (0u8..40).prop_map(|flow| Ev::Remove { flow }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn fast_table_equals_reference(
        max in 1u32..24,
        evs in prop::collection::vec(arb_ev(), 1..200),
    ) {
        let cfg = ConntrackConfig::with_max(max, Timeouts::kube_proxy());
        let mut fast = ConntrackTable::new(cfg);
        let mut reference = ReferenceTable::new(cfg);
        let mut now = 0u64;
        for ev in evs {
            match ev {
                Ev::Insert { flow: f, first } => {
                    let (o, r) = flow(f);
                    if let Some(state) = CtState::first_packet(o.proto, FLAGS[first as usize]) {
                        prop_assert_eq!(fast.insert(o, r, state, now), reference.insert(o, r, state, now));
                    }
                }
                Ev::Lookup { flow: f, reply } => {
                    let (o, r) = flow(f);
                    let t = if reply { r } else { o };
                    prop_assert_eq!(fast.lookup(&t, now), reference.lookup(&t, now));
                }
                Ev::Segment { flow: f, flags, reply } => {
                    let (o, r) = flow(f);
                    let t = if reply { r } else { o };
                    let hit = fast.lookup(&t, now);
                    prop_assert_eq!(hit, reference.lookup(&t, now));
                    if let Some((id, dir)) = hit {
                        if o.proto == Protocol::Tcp {
                            let a = fast.update_tcp(id, FLAGS[flags as usize], dir, now);
                            let b = reference.update_tcp(id, FLAGS[flags as usize], dir, now);
                            prop_assert_eq!(a, b);
                        } else {
                            fast.update(id, dir, now);
                            reference.update(id, dir, now);
                        }
                    }
                }
                Ev::Advance { ms } => {
                    now += u64::from(ms) * 1_000_000;
                    fast.advance(now);
                    reference.advance(now);
                }
                Ev::Remove { flow: f } => {
                    let (o, _) = flow(f);
                    if let Some((id, _)) = fast.lookup(&o, now) {
                        prop_assert_eq!(reference.lookup(&o, now).map(|h| h.0), Some(id));
                        fast.remove(id);
                        reference.remove(id);
                    } else {
                        prop_assert_eq!(reference.lookup(&o, now), None);
                    }
                }
            }
            prop_assert_eq!(fast.len(), reference.len());
            prop_assert!(fast.len() <= max as usize);
            // Observing occupancy later must agree with expiring up to then, without doing it.
            for ahead_ms in [0u64, 1_000, 130_000] {
                let at = now + ahead_ms * 1_000_000;
                prop_assert_eq!(fast.live_at(at), fast.clone().len_at(at));
            }
            prop_assert_eq!(fast.stats(), reference.stats());
            let a: Vec<Entry> = fast.entries().into_iter().cloned().collect();
            let b: Vec<Entry> = reference.entries().into_iter().cloned().collect();
            prop_assert_eq!(a, b);
        }
    }
}
