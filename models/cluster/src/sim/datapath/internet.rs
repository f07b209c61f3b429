//! The packet path beyond the VPC (DESIGN.md "Packet path": NAT gateway, IGW): a VPC route to
//! a NAT gateway or the internet gateway, the flow's destination out there, and the way back.
//! The gateways' rules are `sim::egress`; this is where their hops meet the event engine.
//!
//! Delays: node ↔ NAT gateway is a fabric hop (same- or cross-AZ by the gateway's subnet,
//! cross-AZ bytes counted); gateway ↔ destination is `fabric.internet_latency` one way; the
//! internet gateway itself adds none (assumption, CALIBRATION.md "Egress").

use super::{Host, Model};
use crate::sim::egress::has_public_address;
use crate::sim::event::{Ev, Hop};
use crate::sim::metrics::DropReason;
use crate::sim::packet::{Header, PacketMeta, NO_CONN, PROTO_TCP};
use crate::sim::routing::{self, VpcNext};
use crate::sim::tcp::Conn;
use sim_core::SimTime;
use std::net::Ipv4Addr;

impl Model<'_> {
    /// A VPC route sent the packet from a node in AZ `from_az` to NAT gateway `g`.
    pub(super) fn forward_to_nat_gateway(&mut self, packet: u32, header: Header, from_az: u16, g: u16) {
        let latency = self.fabric_hop(packet, from_az, self.world.nat_gateways[g as usize].az);
        self.engine.schedule_at(
            self.engine.now() + latency,
            Ev::Hop {
                hop: Hop::NatGateway,
                node: u32::from(g),
                packet,
                header,
            },
        );
    }

    /// A route to the internet gateway: out, if the source has a public address.
    pub(super) fn forward_to_internet(&mut self, packet: u32, header: Header) {
        if !has_public_address(self.world, header.src_ip()) {
            return self.drop_packet(packet, DropReason::IgwNoPublicAddress);
        }
        self.egress.internet_bytes_out += u64::from(header.len);
        self.engine.schedule_at(
            self.engine.now() + self.internet_latency,
            Ev::Hop {
                hop: Hop::InternetRx,
                node: 0,
                packet,
                header,
            },
        );
    }

    /// At NAT gateway `g`: from inside, translated and routed to the internet gateway by the
    /// gateway's own subnet; from outside (to the gateway's address), translated back and
    /// routed to the node that holds the inside address.
    pub(super) fn on_nat_gateway(&mut self, g: u16, packet: u32, mut header: Header) {
        let now = self.engine.now();
        let world = self.world;
        let info = &world.nat_gateways[g as usize];
        let gateway = &mut self.egress.nat_gateways[g as usize];
        if header.dst_ip() != info.ip {
            let route = routing::vpc_from_subnet(world, &self.life.pods, info.subnet, header.dst_ip());
            if !matches!(route.map(|r| r.next), Ok(VpcNext::InternetGateway)) {
                return self.drop_packet(packet, DropReason::NatGatewayNoInternetRoute);
            }
            if let Err(reason) = gateway.outbound(&mut header, now.as_nanos()) {
                return self.drop_packet(packet, reason);
            }
            return self.forward_to_internet(packet, header);
        }
        if let Err(reason) = gateway.inbound(&mut header, now.as_nanos()) {
            return self.drop_packet(packet, reason);
        }
        let far = match routing::vpc_from_subnet(world, &self.life.pods, info.subnet, header.dst_ip()) {
            Ok(hop) => match hop.next {
                VpcNext::Node(far) => far,
                _ => return self.drop_packet(packet, DropReason::VpcNoSuchAddress),
            },
            Err(reason) => return self.drop_packet(packet, reason),
        };
        let latency = self.fabric_hop(packet, info.az, world.nodes[far as usize].az);
        self.forward_to_node(packet, header, far, now + latency);
    }

    /// Delivered to the flow's destination beyond the VPC, which answers TCP as a pod would.
    pub(super) fn on_internet_rx(&mut self, packet: u32, header: Header) {
        let meta = self.delivered(packet);
        if meta.conn != NO_CONN {
            self.on_tcp_segment(meta.conn, Host::Internet(header.dst), header, meta.from_client);
        }
    }

    /// The destination beyond the VPC sends `header`; it reaches the internet gateway after
    /// the internet's latency.
    pub(super) fn send_from_internet(&mut self, flow: u32, conn: u32, from_client: bool, header: Header) {
        let now = self.engine.now();
        let packet = self.packets.insert(PacketMeta {
            sent_at: now,
            flow,
            conn,
            // Not a node: set once the internet gateway hands the packet to one.
            src_node: 0,
            dst_node: 0,
            opened: false,
            from_client,
            wire_len: u32::from(header.len),
            encapsulated: false,
        });
        self.metrics.sent += 1;
        self.metrics.flows[flow as usize].sent += 1;
        self.engine.schedule_at(
            now + self.internet_latency,
            Ev::Hop {
                hop: Hop::InternetIngress,
                node: 0,
                packet,
                header,
            },
        );
    }

    /// At the internet gateway from outside: to the NAT gateway or the public node that owns
    /// the destination address.
    pub(super) fn on_internet_ingress(&mut self, packet: u32, header: Header) {
        let now = self.engine.now();
        self.egress.internet_bytes_in += u64::from(header.len);
        let world = self.world;
        if let Some(g) = world.nat_by_ip(header.dst_ip()) {
            self.engine.schedule_at(
                now,
                Ev::Hop {
                    hop: Hop::NatGateway,
                    node: u32::from(g),
                    packet,
                    header,
                },
            );
            return;
        }
        match world.node_by_ip(header.dst_ip()) {
            Some(node) if has_public_address(world, header.dst_ip()) => self.forward_to_node(packet, header, node, now),
            // Only answers come in, to the sources that went out; nothing else reaches here.
            _ => self.drop_packet(packet, DropReason::VpcNoSuchAddress),
        }
    }

    /// Connection `c` to `server:port` beyond the VPC closed: the NAT gateway on its route
    /// frees its port at once (assumption: the sim sends no FIN, and AWS documents no hold
    /// time after a close; only idle connections wait for the 350 s timeout).
    pub(super) fn release_nat(&mut self, c: &Conn, server: u32, port: u16) {
        let world = self.world;
        let Some(node) = self.life.pods.get(c.client).node else {
            return;
        };
        let (src, sport) = c.egress_source.unwrap_or((c.client_ip, c.client_port));
        if let Ok(VpcNext::NatGateway(g)) =
            routing::vpc_in(world, &self.life.pods, node, Ipv4Addr::from(server)).map(|h| h.next)
        {
            self.egress.nat_gateways[g as usize].release((src, sport, server, port, PROTO_TCP));
        }
    }

    /// Hands the packet to `node`'s ENI at `at`.
    fn forward_to_node(&mut self, packet: u32, header: Header, node: u32, at: SimTime) {
        self.packets.get_mut(packet).dst_node = node;
        self.engine.schedule_at(
            at,
            Ev::Hop {
                hop: Hop::NodeIngress,
                node,
                packet,
                header,
            },
        );
    }
}
