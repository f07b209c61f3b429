//! Conntrack behaviour on hand-written sequences: the TCP life cycle with its timeouts, UDP
//! stream promotion, the kube-proxy table size, and what happens when the table is full.

use cnsim_services::conntrack::*;
use cnsim_services::{Packet, Protocol};
use std::net::Ipv4Addr;

const S: u64 = 1_000_000_000;

fn pkt(client: u8, sport: u16, proto: Protocol) -> Packet {
    Packet {
        src: Ipv4Addr::new(10, 244, 1, client),
        dst: Ipv4Addr::new(172, 20, 0, 10),
        sport,
        dport: 80,
        proto,
    }
}

/// The reply tuple after DNAT of the VIP to 10.244.2.7:8080.
fn reply_of(p: &Packet) -> Packet {
    Packet {
        src: Ipv4Addr::new(10, 244, 2, 7),
        dst: p.src,
        sport: 8080,
        dport: p.sport,
        proto: p.proto,
    }
}

fn table(max: u32) -> ConntrackTable {
    ConntrackTable::new(ConntrackConfig::with_max(max, Timeouts::kube_proxy()))
}

#[test]
fn kube_proxy_max_is_per_core_with_a_floor() {
    assert_eq!(ConntrackConfig::kube_proxy(2).max, 131_072, "2 × 32768 < min");
    assert_eq!(ConntrackConfig::kube_proxy(4).max, 131_072);
    assert_eq!(ConntrackConfig::kube_proxy(8).max, 262_144);
    assert_eq!(ConntrackConfig::kube_proxy(8).buckets, 65_536, "hashsize = max/4");
    let t = Timeouts::kube_proxy();
    assert_eq!(t.established, 86_400 * S);
    assert_eq!(t.close_wait, 3_600 * S);
    assert_eq!(Timeouts::kernel().established, 432_000 * S);
    assert_eq!((t.udp, t.udp_stream), (30 * S, 120 * S));
}

#[test]
fn handshake_data_and_fin_close_walk_the_states_with_their_timeouts() {
    let mut ct = table(1024);
    let p = pkt(5, 40000, Protocol::Tcp);
    let r = reply_of(&p);
    let state = CtState::first_packet(Protocol::Tcp, TcpFlags::SYN).unwrap();
    assert_eq!(state, CtState::Tcp(TcpState::SynSent));
    let id = ct.insert(p, r, state, 0).unwrap();
    assert_eq!(ct.get(id).unwrap().expires_ns, 120 * S, "SYN_SENT 2 min");

    // The reply is found by its own (translated) tuple.
    assert_eq!(ct.lookup(&r, S), Some((id, Direction::Reply)));
    let o = ct.update_tcp(id, TcpFlags::SYN_ACK, Direction::Reply, S);
    assert_eq!(
        o,
        TcpOutcome::Updated {
            from: TcpState::SynSent,
            to: TcpState::SynRecv
        }
    );
    assert!(ct.get(id).unwrap().seen_reply && !ct.get(id).unwrap().assured);
    assert_eq!(ct.get(id).unwrap().expires_ns, S + 60 * S, "SYN_RECV 60 s");

    assert_eq!(ct.lookup(&p, 2 * S), Some((id, Direction::Original)));
    ct.update_tcp(id, TcpFlags::ACK, Direction::Original, 2 * S);
    let e = ct.get(id).unwrap();
    assert_eq!(e.state, CtState::Tcp(TcpState::Established));
    assert!(e.assured, "ACK after SYN_RECV with a reply seen: ASSURED");
    assert_eq!(e.expires_ns, 2 * S + 86_400 * S, "kube-proxy's 24 h");

    // Client closes: FIN, server ACKs, server FIN, client ACK.
    ct.update_tcp(id, TcpFlags::FIN_ACK, Direction::Original, 10 * S);
    assert_eq!(ct.get(id).unwrap().state, CtState::Tcp(TcpState::FinWait));
    assert_eq!(ct.get(id).unwrap().expires_ns, 10 * S + 120 * S);
    ct.update_tcp(id, TcpFlags::ACK, Direction::Reply, 11 * S);
    assert_eq!(ct.get(id).unwrap().state, CtState::Tcp(TcpState::CloseWait));
    assert_eq!(ct.get(id).unwrap().expires_ns, 11 * S + 3_600 * S, "1 h");
    ct.update_tcp(id, TcpFlags::FIN_ACK, Direction::Reply, 12 * S);
    assert_eq!(ct.get(id).unwrap().state, CtState::Tcp(TcpState::LastAck));
    assert_eq!(ct.get(id).unwrap().expires_ns, 12 * S + 30 * S);
    ct.update_tcp(id, TcpFlags::ACK, Direction::Original, 13 * S);
    assert_eq!(ct.get(id).unwrap().state, CtState::Tcp(TcpState::TimeWait));
    let gone_at = 13 * S + 120 * S;
    assert_eq!(ct.get(id).unwrap().expires_ns, gone_at);

    assert_eq!(ct.len_at(gone_at - 1), 1);
    assert_eq!(ct.lookup(&p, gone_at), None, "expired exactly at its timeout");
    assert_eq!(ct.len(), 0);
    assert_eq!(ct.stats().expired, 1);
}

#[test]
fn rst_before_any_reply_deletes_and_syn_on_time_wait_reopens() {
    let mut ct = table(16);
    let p = pkt(6, 40001, Protocol::Tcp);
    let id = ct.insert(p, reply_of(&p), CtState::Tcp(TcpState::SynSent), 0).unwrap();
    assert_eq!(
        ct.update_tcp(id, TcpFlags::RST, Direction::Reply, S),
        TcpOutcome::Killed,
        "connection refused"
    );
    assert!(ct.is_empty());

    let id = ct
        .insert(p, reply_of(&p), CtState::Tcp(TcpState::SynSent), 2 * S)
        .unwrap();
    assert_eq!(
        ct.update_tcp(id, TcpFlags::SYN, Direction::Original, 3 * S),
        TcpOutcome::Ignored,
        "retransmitted SYN keeps the old timer"
    );
    assert_eq!(ct.get(id).unwrap().expires_ns, 2 * S + 120 * S);
    ct.update_tcp(id, TcpFlags::SYN_ACK, Direction::Reply, 4 * S);
    ct.update_tcp(id, TcpFlags::RST, Direction::Original, 5 * S);
    assert_eq!(ct.get(id).unwrap().state, CtState::Tcp(TcpState::Close));
    assert_eq!(ct.get(id).unwrap().expires_ns, 15 * S, "CLOSE 10 s");
    assert_eq!(
        ct.update_tcp(id, TcpFlags::SYN, Direction::Original, 6 * S),
        TcpOutcome::Reopened
    );
    assert!(ct.get(id).is_none(), "the caller creates a fresh entry");
    let id = ct
        .insert(p, reply_of(&p), CtState::Tcp(TcpState::SynSent), 6 * S)
        .unwrap();
    assert_eq!(
        ct.update_tcp(id, TcpFlags::ACK, Direction::Original, 7 * S),
        TcpOutcome::Invalid,
        "ACK in SYN_SENT before the SYN-ACK is invalid"
    );
}

#[test]
fn a_bare_ack_is_picked_up_with_the_unacknowledged_cap() {
    assert_eq!(
        CtState::first_packet(Protocol::Tcp, TcpFlags::ACK),
        Some(CtState::Tcp(TcpState::Established))
    );
    assert_eq!(CtState::first_packet(Protocol::Tcp, TcpFlags::FIN_ACK), None);
    let mut ct = table(16);
    let p = pkt(7, 40002, Protocol::Tcp);
    let id = ct
        .insert(p, reply_of(&p), CtState::Tcp(TcpState::Established), 0)
        .unwrap();
    assert_eq!(ct.get(id).unwrap().expires_ns, 300 * S);
}

#[test]
fn udp_becomes_a_stream_only_after_two_seconds_with_a_reply() {
    let mut ct = table(16);
    let p = pkt(8, 5353, Protocol::Udp);
    let id = ct.insert(p, reply_of(&p), CtState::Udp, 0).unwrap();
    assert_eq!(ct.get(id).unwrap().expires_ns, 30 * S);
    ct.update(id, Direction::Reply, S / 2);
    assert_eq!(ct.get(id).unwrap().expires_ns, S / 2 + 30 * S);
    ct.update(id, Direction::Original, S);
    assert!(!ct.get(id).unwrap().assured, "replied, but within 2 s");
    ct.update(id, Direction::Original, 3 * S);
    let e = ct.get(id).unwrap();
    assert!(e.assured);
    assert_eq!(e.expires_ns, 3 * S + 120 * S);
}

#[test]
fn full_table_early_drops_unassured_entries_else_drops_the_packet() {
    // 8 entries, 2 buckets: early drop looks at both buckets, so any unassured entry can go.
    let mut ct = table(8);
    let mut ids = Vec::new();
    for i in 0..8u16 {
        let p = pkt(9, 41000 + i, Protocol::Tcp);
        ids.push(ct.insert(p, reply_of(&p), CtState::Tcp(TcpState::SynSent), 0).unwrap());
    }
    assert_eq!(ct.len(), 8);
    let extra = pkt(10, 42000, Protocol::Tcp);
    ct.insert(extra, reply_of(&extra), CtState::Tcp(TcpState::SynSent), S)
        .expect("early drop makes room");
    assert!(ct.stats().early_drops >= 1);
    assert!(ct.len() <= 8);

    // Now assure everything: nothing can be dropped early, so new connections are refused.
    let mut ct = table(8);
    for i in 0..8u16 {
        let p = pkt(11, 43000 + i, Protocol::Tcp);
        let id = ct.insert(p, reply_of(&p), CtState::Tcp(TcpState::SynSent), 0).unwrap();
        ct.update_tcp(id, TcpFlags::SYN_ACK, Direction::Reply, 0);
        ct.update_tcp(id, TcpFlags::ACK, Direction::Original, 0);
        assert!(ct.get(id).unwrap().assured);
    }
    let extra = pkt(12, 44000, Protocol::Tcp);
    assert_eq!(
        ct.insert(extra, reply_of(&extra), CtState::Tcp(TcpState::SynSent), S),
        Err(InsertError::TableFull)
    );
    assert_eq!((ct.stats().drops, ct.stats().early_drops), (1, 0));
    assert_eq!(ct.stats().max_len, 8);
    // The same tuple twice is a clash, not a second entry.
    let p = pkt(11, 43000, Protocol::Tcp);
    assert_eq!(
        ct.insert(p, reply_of(&p), CtState::Tcp(TcpState::SynSent), S),
        Err(InsertError::Clash)
    );
}

#[test]
fn lookups_cost_one_probe_each() {
    let mut ct = table(16);
    let p = pkt(13, 45000, Protocol::Tcp);
    assert_eq!(ct.lookup(&p, 0), None);
    ct.insert(p, invert(&p), CtState::Tcp(TcpState::SynSent), 0).unwrap();
    assert!(ct.lookup(&invert(&p), 0).is_some());
    assert_eq!(ct.stats().hash_probes, 2 * u64::from(HASH_PROBES_PER_LOOKUP));
    assert_eq!((ct.stats().lookups, ct.stats().found), (2, 1));
}
