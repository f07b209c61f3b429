//! Beyond the VPC: NAT gateways, the internet gateway, and what they let through.
//!
//! Owns each NAT gateway's translation table and the egress counters. The node's own SNAT (the
//! VPC CNI's rule) is conntrack's business (`sim::netfilter`); this module takes over once a
//! VPC route names a NAT gateway or the internet gateway. Facts (Amazon VPC user guide, "NAT
//! gateway basics", "Internet gateways"; figures in `calibration` and CALIBRATION.md "Egress"):
//! - A NAT gateway translates the source of every connection to its private address and a
//!   port of its own (port address translation), whatever the source: a node address, or a
//!   pod address with AWS_VPC_K8S_CNI_EXTERNALSNAT. It routes on by its own subnet's route
//!   table, which must send the destination to an internet gateway.
//! - It holds at most 55,000 connections per unique destination (IP, port, protocol); one
//!   more fails with ErrorPortAllocation. An idle connection ends after 350 s.
//! - The internet gateway passes only sources with a public address: a node in a public
//!   subnet, or a NAT gateway (its Elastic IP). A pod address has none.
//!
//! Assumptions (CALIBRATION.md): the gateway picks ports in order per destination (AWS does
//! not say how); its processing adds no delay beyond the fabric's hop; public addresses are
//! not modelled as numbers (the IGW's 1:1 mapping is invisible to the flows), so the internet
//! sees a NAT gateway or a public node by its private address.

use super::metrics::DropReason;
use super::packet::Header;
use crate::calibration::{NAT_GATEWAY_CONNECTIONS_PER_DESTINATION, NAT_GATEWAY_IDLE_TIMEOUT, SNAT_PORT_FIRST};
use crate::world::{NatGatewayInfo, World};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// A connection as it reaches the gateway from inside: (src, sport, dst, dport, proto).
pub type Inside = (u32, u16, u32, u16, u8);
/// A destination beyond the gateway: (dst, dport, proto).
type Destination = (u32, u16, u8);

#[derive(Clone, Copy, Debug)]
struct Mapping {
    port: u16,
    last_ns: u64,
}

#[derive(Default)]
struct DestinationPorts {
    /// Active translations by when they were last used, oldest first: the idle ones expire
    /// from the front.
    by_age: BTreeSet<(u64, u16)>,
    /// The inside connection of each port in use.
    inside: FxHashMap<u16, Inside>,
    next_port: u16,
}

/// One NAT gateway's translations and counters.
pub struct NatGateway {
    ip: u32,
    mappings: FxHashMap<Inside, Mapping>,
    destinations: FxHashMap<Destination, DestinationPorts>,
    pub stats: NatGatewayStats,
}

/// What one NAT gateway did; the results carry it as it is (`results::egress`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NatGatewayStats {
    /// Bytes processed in either direction (what AWS bills as data processing).
    pub bytes: u64,
    pub packets: u64,
    /// Translations created, and connections refused for want of a port (CloudWatch's
    /// ErrorPortAllocation).
    pub connections: u64,
    pub port_allocation_errors: u64,
    /// Translations ended by their connection's close, and after the idle timeout.
    pub closed: u64,
    pub idle_timeouts: u64,
    /// The most translations active to any one destination at once (the limit is 55,000).
    pub peak_connections_per_destination: u32,
}

impl NatGatewayStats {
    /// Whether any traffic reached the gateway.
    pub fn used(&self) -> bool {
        self.packets > 0 || self.port_allocation_errors > 0
    }
}

impl NatGateway {
    fn new(info: &NatGatewayInfo) -> NatGateway {
        NatGateway {
            ip: u32::from(info.ip),
            mappings: FxHashMap::default(),
            destinations: FxHashMap::default(),
            stats: NatGatewayStats::default(),
        }
    }

    /// Expires `dest`'s translations idle for the timeout by `now`.
    fn expire(&mut self, dest: Destination, now: u64) {
        let Some(d) = self.destinations.get_mut(&dest) else {
            return;
        };
        let timeout = NAT_GATEWAY_IDLE_TIMEOUT.as_nanos();
        while let Some(&(last, port)) = d.by_age.first() {
            if last + timeout > now {
                break;
            }
            d.by_age.pop_first();
            let inside = d.inside.remove(&port).expect("an aged port is in use");
            self.mappings.remove(&inside);
            self.stats.idle_timeouts += 1;
        }
    }

    /// A packet from inside: its source becomes the gateway's address and a port of its own.
    pub fn outbound(&mut self, h: &mut Header, now: u64) -> Result<(), DropReason> {
        let inside = (h.src, h.sport, h.dst, h.dport, h.proto);
        let dest = (h.dst, h.dport, h.proto);
        self.expire(dest, now);
        let port = match self.mappings.get_mut(&inside) {
            Some(m) => {
                let d = self.destinations.get_mut(&dest).expect("a mapping has its destination");
                d.by_age.remove(&(m.last_ns, m.port));
                d.by_age.insert((now, m.port));
                m.last_ns = now;
                m.port
            }
            None => {
                let d = self.destinations.entry(dest).or_insert_with(|| DestinationPorts {
                    next_port: SNAT_PORT_FIRST,
                    ..DestinationPorts::default()
                });
                if d.inside.len() as u32 >= NAT_GATEWAY_CONNECTIONS_PER_DESTINATION {
                    self.stats.port_allocation_errors += 1;
                    return Err(DropReason::NatGatewayPortAllocation);
                }
                // Fewer ports are in use than exist, so the search ends.
                let mut port = d.next_port;
                while d.inside.contains_key(&port) {
                    port = if port == u16::MAX { SNAT_PORT_FIRST } else { port + 1 };
                }
                d.next_port = if port == u16::MAX { SNAT_PORT_FIRST } else { port + 1 };
                d.inside.insert(port, inside);
                d.by_age.insert((now, port));
                self.stats.peak_connections_per_destination =
                    self.stats.peak_connections_per_destination.max(d.inside.len() as u32);
                self.mappings.insert(inside, Mapping { port, last_ns: now });
                self.stats.connections += 1;
                port
            }
        };
        self.count(h);
        h.src = self.ip;
        h.sport = port;
        Ok(())
    }

    /// A packet from outside to the gateway's address: back to the inside connection it
    /// answers, or dropped when no translation is active for it.
    pub fn inbound(&mut self, h: &mut Header, now: u64) -> Result<(), DropReason> {
        let dest = (h.src, h.sport, h.proto);
        self.expire(dest, now);
        let Some(d) = self.destinations.get_mut(&dest) else {
            return Err(DropReason::NatGatewayNoTranslation);
        };
        let Some(&inside) = d.inside.get(&h.dport) else {
            return Err(DropReason::NatGatewayNoTranslation);
        };
        let m = self.mappings.get_mut(&inside).expect("a port in use has its mapping");
        d.by_age.remove(&(m.last_ns, m.port));
        d.by_age.insert((now, m.port));
        m.last_ns = now;
        self.count(h);
        h.dst = inside.0;
        h.dport = inside.1;
        Ok(())
    }

    /// The connection `inside` closed: its port is free again.
    pub fn release(&mut self, inside: Inside) {
        let Some(m) = self.mappings.remove(&inside) else { return };
        let d = self
            .destinations
            .get_mut(&(inside.2, inside.3, inside.4))
            .expect("a mapping has its destination");
        d.by_age.remove(&(m.last_ns, m.port));
        d.inside.remove(&m.port);
        self.stats.closed += 1;
    }

    /// The counters at `end` (the run's end): translations idle for the timeout by then that
    /// no packet has expired yet (expiry is lazy, per destination) count with the expired
    /// ones. A sum, so the map's order does not matter.
    pub fn stats_at(&self, end: u64) -> NatGatewayStats {
        let timeout = NAT_GATEWAY_IDLE_TIMEOUT.as_nanos();
        let idle = self.mappings.values().filter(|m| m.last_ns + timeout <= end).count() as u64;
        NatGatewayStats {
            idle_timeouts: self.stats.idle_timeouts + idle,
            ..self.stats.clone()
        }
    }

    fn count(&mut self, h: &Header) {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(h.len);
    }
}

/// Egress state of a run: every NAT gateway, and the internet gateway's counters.
pub struct Egress {
    pub nat_gateways: Vec<NatGateway>,
    /// Bytes through the internet gateway, out of and into the VPC.
    pub internet_bytes_out: u64,
    pub internet_bytes_in: u64,
}

impl Egress {
    pub fn new(world: &World) -> Egress {
        Egress {
            nat_gateways: world.nat_gateways.iter().map(NatGateway::new).collect(),
            internet_bytes_out: 0,
            internet_bytes_in: 0,
        }
    }
}

/// Whether the internet gateway passes a packet from `src`: it must have a public address (a
/// node in a public subnet, or a NAT gateway's Elastic IP).
pub fn has_public_address(world: &World, src: Ipv4Addr) -> bool {
    world.nat_by_ip(src).is_some()
        || world
            .node_by_ip(src)
            .is_some_and(|n| world.subnets[world.nodes[n as usize].subnet as usize].public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::packet::PROTO_TCP;
    use proptest::prelude::*;

    fn gateway() -> NatGateway {
        NatGateway::new(&NatGatewayInfo {
            name: "nat".into(),
            subnet: 0,
            az: 0,
            ip: Ipv4Addr::new(10, 0, 0, 254),
        })
    }

    /// The destination's answer to `h`: addresses and ports swapped.
    fn answer(h: &Header) -> Header {
        Header {
            src: h.dst,
            dst: h.src,
            sport: h.dport,
            dport: h.sport,
            ..*h
        }
    }

    fn syn(src: u32, sport: u16) -> Header {
        Header {
            src,
            dst: u32::from(Ipv4Addr::new(203, 0, 113, 10)),
            sport,
            dport: 443,
            proto: PROTO_TCP,
            flags: 0,
            len: 60,
        }
    }

    #[test]
    fn translations_round_trip_and_each_connection_gets_its_own_port() {
        let mut g = gateway();
        let (mut a, mut b) = (syn(1, 40000), syn(2, 40000));
        g.outbound(&mut a, 0).unwrap();
        g.outbound(&mut b, 0).unwrap();
        assert_eq!((a.src, b.src), (g.ip, g.ip));
        assert_ne!(
            a.sport, b.sport,
            "two inside sources with one port need two gateway ports"
        );
        let mut reply = answer(&a);
        g.inbound(&mut reply, 1).unwrap();
        assert_eq!((reply.dst, reply.dport), (1, 40000));
        let mut again = syn(1, 40000);
        g.outbound(&mut again, 2).unwrap();
        assert_eq!(again.sport, a.sport, "an active connection keeps its port");
        assert_eq!(g.stats.connections, 2);
    }

    #[test]
    fn the_55001st_connection_to_one_destination_fails_and_another_destination_does_not() {
        let mut g = gateway();
        for i in 0..NAT_GATEWAY_CONNECTIONS_PER_DESTINATION {
            g.outbound(&mut syn(i, 1000), 0).unwrap();
        }
        assert_eq!(
            g.outbound(&mut syn(u32::MAX, 1000), 0),
            Err(DropReason::NatGatewayPortAllocation)
        );
        let mut other = syn(u32::MAX, 1000);
        other.dport = 80;
        assert!(g.outbound(&mut other, 0).is_ok());
        assert_eq!(g.stats.port_allocation_errors, 1);
        assert_eq!(
            g.stats.peak_connections_per_destination,
            NAT_GATEWAY_CONNECTIONS_PER_DESTINATION
        );
    }

    /// One step against a gateway: a connection's packet out, an answer in, or a close.
    #[derive(Clone, Debug)]
    enum Op {
        Out { conn: u8, dest: u8 },
        In { conn: u8 },
        Close { conn: u8 },
    }

    proptest! {
        /// Over any sequence, at times that grow by up to the idle timeout: an active
        /// translation's answer comes back to exactly its connection; no two active
        /// connections to one destination share a port; an answer to a connection that was
        /// closed or idled out is refused; translations are never lost or duplicated.
        #[test]
        fn translations_stay_unique_and_answers_find_their_connection(
            ops in proptest::collection::vec(
                prop_oneof![
                    (0u8..12, 0u8..3).prop_map(|(conn, dest)| Op::Out { conn, dest }),
                    (0u8..12).prop_map(|conn| Op::In { conn }),
                    (0u8..12).prop_map(|conn| Op::Close { conn }),
                ],
                1..200,
            ),
            gaps in proptest::collection::vec(0u64..400, 200),
        ) {
            let mut g = gateway();
            // The reference: per connection, its destination, gateway port and last use.
            let mut active: std::collections::BTreeMap<u8, (u8, u16, u64)> = Default::default();
            let timeout = NAT_GATEWAY_IDLE_TIMEOUT.as_nanos();
            let mut now = 0u64;
            let conn_header = |conn: u8, dest: u8| {
                let mut h = syn(100 + u32::from(conn), 40000);
                h.dport = 443 + u16::from(dest);
                h
            };
            for (op, gap) in ops.iter().zip(&gaps) {
                now += gap * 1_000_000_000;
                match *op {
                    Op::Out { conn, dest } => {
                        // A connection keeps its destination: reuse it if it has one.
                        let dest = active.get(&conn).map_or(dest, |a| a.0);
                        let mut h = conn_header(conn, dest);
                        g.outbound(&mut h, now).unwrap();
                        prop_assert_eq!(h.src, g.ip);
                        let live = active.get(&conn).filter(|a| a.2 + timeout > now);
                        if let Some(a) = live {
                            prop_assert_eq!(h.sport, a.1, "an active connection keeps its port");
                        }
                        active.insert(conn, (dest, h.sport, now));
                        let dest_ports: Vec<u16> = active
                            .values()
                            .filter(|a| a.0 == dest && a.2 + timeout > now)
                            .map(|a| a.1)
                            .collect();
                        let unique: std::collections::BTreeSet<u16> = dest_ports.iter().copied().collect();
                        prop_assert_eq!(unique.len(), dest_ports.len(), "ports unique per destination");
                    }
                    Op::In { conn } => {
                        let Some(&(dest, port, last)) = active.get(&conn) else { continue };
                        let h0 = conn_header(conn, dest);
                        let mut back = answer(&Header { src: g.ip, sport: port, ..h0 });
                        let got = g.inbound(&mut back, now);
                        if last + timeout > now {
                            prop_assert_eq!(got, Ok(()));
                            prop_assert_eq!((back.dst, back.dport), (h0.src, h0.sport));
                            active.insert(conn, (dest, port, now));
                        } else {
                            prop_assert_eq!(got, Err(DropReason::NatGatewayNoTranslation));
                            active.remove(&conn);
                        }
                    }
                    Op::Close { conn } => {
                        if let Some((dest, port, _)) = active.remove(&conn) {
                            let h0 = conn_header(conn, dest);
                            g.release((h0.src, h0.sport, h0.dst, h0.dport, h0.proto));
                            let mut late = answer(&Header { src: g.ip, sport: port, ..h0 });
                            prop_assert_eq!(g.inbound(&mut late, now), Err(DropReason::NatGatewayNoTranslation));
                        }
                    }
                }
                let mapped: usize = g.destinations.values().map(|d| d.inside.len()).sum();
                prop_assert_eq!(mapped, g.mappings.len(), "both indexes hold the same translations");
                let aged: usize = g.destinations.values().map(|d| d.by_age.len()).sum();
                prop_assert_eq!(aged, g.mappings.len());
            }
        }
    }

    #[test]
    fn idle_translations_expire_after_350_seconds_and_free_their_port() {
        let mut g = gateway();
        let mut a = syn(1, 40000);
        g.outbound(&mut a, 0).unwrap();
        let timeout = NAT_GATEWAY_IDLE_TIMEOUT.as_nanos();
        let mut reply = answer(&a);
        assert!(g.inbound(&mut reply.clone(), timeout - 1).is_ok(), "used just in time");
        assert_eq!(
            g.inbound(&mut reply, 2 * timeout),
            Err(DropReason::NatGatewayNoTranslation)
        );
        assert_eq!(g.stats.idle_timeouts, 1);
        assert!(g.mappings.is_empty());
    }
}
