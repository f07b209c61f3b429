//! The packet path, one event per hop (DESIGN.md "Packet path"):
//!
//! ```text
//! pod eth0 ─veth─▶ NodeEgress ─route, [encap], ENI queue─▶ EniTx ─VPC route, fabric─▶
//!     NodeIngress ─[decap], route, veth─▶ PodRx
//! ```
//! Same-node traffic goes NodeEgress ─route, veth─▶ PodRx. Every delay is a constant from
//! `calibration` (sourced in CALIBRATION.md), a serialization time from the ENI's bandwidth,
//! or a queueing delay behind earlier packets on the same ENI.

use super::event::{Ev, Hop};
use super::metrics::{DropReason, Metrics};
use super::packet::{tcp_flags, Header, PacketMeta, PacketSlab, NO_CONN, PROTO_TCP, PROTO_UDP};
use super::tcp::{self, Conn, ConnSlab};
use super::traffic::{FlowPlan, Source, EPHEMERAL_FIRST, EPHEMERAL_LAST};
use crate::calibration::{
    NODE_ROUTING, UDP_IP_HEADER_BYTES, VETH_TRAVERSAL, VXLAN_DECAP, VXLAN_ENCAP,
    VXLAN_OVERHEAD_BYTES,
};
use crate::scenario::format::{NetworkMode, Protocol};
use crate::world::{NodeId, PodId, VpcTarget, World};
use sim_core::{Engine, SimTime};
use std::collections::VecDeque;

/// Bytes of headers on a TCP data segment: IPv4 + TCP + the timestamp option Linux sends.
const TCP_OVERHEAD: u32 =
    crate::calibration::TCP_IP_HEADER_BYTES + crate::calibration::TCP_TIMESTAMP_OPTION_BYTES;

/// A node ENI's transmit side: a FIFO drained at the ENI's bandwidth, tail-dropping past its
/// limit. `departures` holds the finish times of queued packets (nondecreasing).
struct EniQueue {
    busy_until: SimTime,
    departures: VecDeque<SimTime>,
}

pub struct Model<'w> {
    world: &'w World,
    pub engine: Engine<Ev>,
    packets: PacketSlab,
    conns: ConnSlab,
    flows: Vec<FlowPlan>,
    sources: Vec<Source>,
    enis: Vec<EniQueue>,
    eni_limit: usize,
    same_az: SimTime,
    cross_az: SimTime,
    mss: u32,
    /// Next ephemeral port per pod (Linux allocates from ip_local_port_range).
    ephemeral: Vec<u16>,
    pub metrics: Metrics,
}

impl<'w> Model<'w> {
    pub fn new(
        world: &'w World,
        fabric: &crate::scenario::format::Fabric,
        flows: Vec<FlowPlan>,
        sources: Vec<Source>,
    ) -> Model<'w> {
        let mut model = Model {
            world,
            engine: Engine::new(),
            packets: PacketSlab::default(),
            conns: ConnSlab::default(),
            metrics: Metrics::new(flows.len(), world.nodes.len()),
            enis: (0..world.nodes.len())
                .map(|_| EniQueue {
                    busy_until: SimTime::ZERO,
                    departures: VecDeque::new(),
                })
                .collect(),
            eni_limit: fabric.eni_tx_queue as usize,
            same_az: fabric.same_az_latency,
            cross_az: fabric.cross_az_latency,
            mss: crate::calibration::tcp_mss(world.mtu),
            ephemeral: vec![EPHEMERAL_FIRST; world.pods.len()],
            flows,
            sources,
        };
        for i in 0..model.sources.len() {
            let plan = &model.flows[model.sources[i].flow as usize];
            if let Some(at) = model.sources[i].next_arrival(plan, SimTime::ZERO) {
                model
                    .engine
                    .schedule_at(at, Ev::Arrival { source: i as u32 });
            }
        }
        model
    }

    /// Runs every event due up to `until`.
    pub fn run(&mut self, until: SimTime) {
        while let Some(ev) = self.engine.next_event(until) {
            match ev {
                Ev::Arrival { source } => self.on_arrival(source),
                Ev::Hop {
                    hop,
                    packet,
                    header,
                } => match hop {
                    Hop::NodeEgress => self.on_node_egress(packet, header),
                    Hop::EniTx => self.on_eni_tx(packet, header),
                    Hop::NodeIngress => self.on_node_ingress(packet, header),
                    Hop::PodRx => self.on_pod_rx(packet, header),
                },
            }
        }
    }

    pub fn packets_in_flight(&self) -> usize {
        self.packets.in_flight()
    }

    pub fn open_connections(&self) -> usize {
        self.conns.open()
    }

    pub fn flows(&self) -> &[FlowPlan] {
        &self.flows
    }

    fn on_arrival(&mut self, source: u32) {
        let now = self.engine.now();
        let src = &mut self.sources[source as usize];
        let plan = &self.flows[src.flow as usize];
        let (flow, client) = (src.flow, src.pod);
        let server = match plan.dst_pods.len() {
            0 => None,
            1 => Some(plan.dst_pods[0]),
            n => Some(plan.dst_pods[src.rng.below(n as u64) as usize]),
        };
        if let Some(at) = src.next_arrival(plan, now) {
            self.engine.schedule_at(at, Ev::Arrival { source });
        }
        let plan = &self.flows[flow as usize];
        let Some(server) = server else {
            self.metrics.sent += 1;
            self.metrics.flows[flow as usize].sent += 1;
            self.metrics.drop(flow, DropReason::NoRunningDestination);
            return;
        };
        let dport = plan.dport;
        match plan.protocol {
            Protocol::UDP => {
                // One socket per source: a fixed ephemeral port.
                let sport = EPHEMERAL_FIRST
                    + (source % u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1)) as u16;
                let len = plan.packet_size.0 as u16;
                debug_assert!(u32::from(len) >= UDP_IP_HEADER_BYTES);
                self.send(
                    flow, NO_CONN, client, server, sport, dport, PROTO_UDP, 0, len,
                );
            }
            Protocol::TCP => {
                let (request, response) = (plan.request.0, plan.response.0);
                let sport = self.next_ephemeral(client);
                let conn = self.conns.insert(Conn {
                    flow,
                    client,
                    server,
                    sport,
                    opened_at: now,
                    request_left: request,
                    response_left: response,
                });
                self.metrics.conns_opened += 1;
                self.metrics.flows[flow as usize].conns_opened += 1;
                self.send(
                    flow,
                    conn,
                    client,
                    server,
                    sport,
                    dport,
                    PROTO_TCP,
                    tcp_flags::SYN,
                    tcp::SYN_LEN,
                );
            }
            Protocol::SCTP => unreachable!("validation rejects SCTP flows"),
        }
    }

    fn next_ephemeral(&mut self, pod: PodId) -> u16 {
        let port = &mut self.ephemeral[pod as usize];
        let out = *port;
        *port = if out == EPHEMERAL_LAST {
            EPHEMERAL_FIRST
        } else {
            out + 1
        };
        out
    }

    /// A packet leaves `from`'s eth0 now and crosses its veth into the node.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        flow: u32,
        conn: u32,
        from: PodId,
        to: PodId,
        sport: u16,
        dport: u16,
        proto: u8,
        flags: u8,
        len: u16,
    ) {
        let pods = &self.world.pods;
        let (src, dst) = (&pods[from as usize], &pods[to as usize]);
        let header = Header {
            src: u32::from(src.ip.expect("sending pods run")),
            dst: u32::from(dst.ip.expect("destination pods run")),
            sport,
            dport,
            proto,
            flags,
            len,
        };
        let src_node = src.node.expect("running pods have a node");
        let now = self.engine.now();
        let packet = self.packets.insert(PacketMeta {
            sent_at: now,
            flow,
            conn,
            src_node,
            dst_node: src_node,
            dst_pod: to,
            wire_len: u32::from(len),
            encapsulated: false,
        });
        self.metrics.sent += 1;
        self.metrics.flows[flow as usize].sent += 1;
        self.engine.schedule_at(
            now + VETH_TRAVERSAL,
            Ev::Hop {
                hop: Hop::NodeEgress,
                packet,
                header,
            },
        );
    }

    fn drop_packet(&mut self, packet: u32, reason: DropReason) {
        let meta = self.packets.remove(packet);
        self.metrics.drop(meta.flow, reason);
    }

    /// Source node root namespace: route to a local pod's veth, or out of the ENI.
    fn on_node_egress(&mut self, packet: u32, header: Header) {
        let now = self.engine.now();
        let meta = *self.packets.get(packet);
        let node = meta.src_node;
        let world = self.world;
        let dst_ip = header.dst_ip();
        if world.nodes[node as usize]
            .pod_cidr
            .is_some_and(|c| c.contains(&dst_ip))
        {
            self.engine.schedule_at(
                now + NODE_ROUTING + VETH_TRAVERSAL,
                Ev::Hop {
                    hop: Hop::PodRx,
                    packet,
                    header,
                },
            );
            return;
        }
        let mut ready = now + NODE_ROUTING;
        // Overlay: pod prefixes of other nodes are reached through VXLAN to the node address.
        if world.mode == NetworkMode::Overlay && world.node_of_pod_ip(dst_ip).is_some() {
            let m = self.packets.get_mut(packet);
            m.encapsulated = true;
            m.wire_len += VXLAN_OVERHEAD_BYTES;
            ready += VXLAN_ENCAP;
        }
        let wire_len = self.packets.get(packet).wire_len;
        let eni = &mut self.enis[node as usize];
        while eni.departures.front().is_some_and(|&d| d <= ready) {
            eni.departures.pop_front();
        }
        if eni.departures.len() >= self.eni_limit {
            self.metrics.nodes[node as usize].queue_drops += 1;
            self.drop_packet(packet, DropReason::EniTxQueueFull);
            return;
        }
        let start = ready.max(eni.busy_until);
        let done = start
            + world.nodes[node as usize]
                .bandwidth
                .serialization_time(u64::from(wire_len));
        eni.busy_until = done;
        eni.departures.push_back(done);
        let queued = eni.departures.len() as u32;
        let nm = &mut self.metrics.nodes[node as usize];
        nm.max_queue = nm.max_queue.max(queued);
        nm.tx_packets += 1;
        nm.tx_bytes += u64::from(wire_len);
        self.engine.schedule_at(
            done,
            Ev::Hop {
                hop: Hop::EniTx,
                packet,
                header,
            },
        );
    }

    /// Transmitted: the source subnet's VPC route table decides where it goes.
    fn on_eni_tx(&mut self, packet: u32, header: Header) {
        let now = self.engine.now();
        let meta = *self.packets.get(packet);
        let world = self.world;
        let outer_dst = if meta.encapsulated {
            match world.node_of_pod_ip(header.dst_ip()) {
                Some(n) => world.nodes[n as usize].ip,
                None => unreachable!("encapsulated only toward a known VTEP"),
            }
        } else {
            header.dst_ip()
        };
        let target = world
            .route_table_of(meta.src_node)
            .routes
            .lookup(outer_dst)
            .map(|(_, t)| *t);
        let far: NodeId = match target {
            None => return self.drop_packet(packet, DropReason::VpcNoRoute),
            Some(VpcTarget::Blackhole) => {
                return self.drop_packet(packet, DropReason::VpcBlackhole)
            }
            Some(VpcTarget::InternetGateway) | Some(VpcTarget::NatGateway(_)) => {
                return self.drop_packet(packet, DropReason::VpcEgressNotSimulated)
            }
            Some(VpcTarget::NodeEni(n)) => n,
            Some(VpcTarget::Local) => match world.node_by_ip(outer_dst) {
                Some(n) => n,
                None => return self.drop_packet(packet, DropReason::VpcNoSuchAddress),
            },
        };
        let (a, b) = (
            world.nodes[meta.src_node as usize].az,
            world.nodes[far as usize].az,
        );
        let latency = if a == b {
            self.same_az
        } else {
            self.metrics.cross_az_bytes += u64::from(meta.wire_len);
            self.cross_az
        };
        self.packets.get_mut(packet).dst_node = far;
        self.engine.schedule_at(
            now + latency,
            Ev::Hop {
                hop: Hop::NodeIngress,
                packet,
                header,
            },
        );
    }

    /// Far node: decapsulate, route to the pod's veth.
    fn on_node_ingress(&mut self, packet: u32, header: Header) {
        let now = self.engine.now();
        let meta = *self.packets.get(packet);
        self.metrics.nodes[meta.dst_node as usize].rx_packets += 1;
        let node = &self.world.nodes[meta.dst_node as usize];
        if !node.pod_cidr.is_some_and(|c| c.contains(&header.dst_ip())) {
            return self.drop_packet(packet, DropReason::NodeNoSuchPod);
        }
        let decap = if meta.encapsulated {
            VXLAN_DECAP
        } else {
            SimTime::ZERO
        };
        self.engine.schedule_at(
            now + decap + NODE_ROUTING + VETH_TRAVERSAL,
            Ev::Hop {
                hop: Hop::PodRx,
                packet,
                header,
            },
        );
    }

    /// Delivered to the pod; TCP endpoints answer.
    fn on_pod_rx(&mut self, packet: u32, header: Header) {
        let now = self.engine.now();
        if self.world.pod_by_ip(header.dst_ip()).is_none() {
            return self.drop_packet(packet, DropReason::NodeNoSuchPod);
        }
        let meta = self.packets.remove(packet);
        let latency = (now - meta.sent_at).as_nanos();
        self.metrics.delivered += 1;
        self.metrics.latency.record(latency);
        let fm = &mut self.metrics.flows[meta.flow as usize];
        fm.delivered += 1;
        fm.latency.record(latency);
        if meta.conn != NO_CONN {
            self.on_tcp_segment(meta.conn, header);
        }
    }

    fn on_tcp_segment(&mut self, id: u32, h: Header) {
        let conn = *self.conns.get_mut(id);
        let svc_port = self.flows[conn.flow as usize].dport;
        let server_ip = self.world.pods[conn.server as usize].ip.map(u32::from);
        // Client → server segments go to the server's address and the service port; a pod
        // talking to itself is told apart by the ports.
        let to_server = Some(h.dst) == server_ip && h.dport == svc_port && h.sport == conn.sport;
        let payload = u64::from(h.len).saturating_sub(u64::from(TCP_OVERHEAD));
        if h.flags == tcp_flags::SYN {
            self.send(
                conn.flow,
                id,
                conn.server,
                conn.client,
                svc_port,
                conn.sport,
                PROTO_TCP,
                tcp_flags::SYN | tcp_flags::ACK,
                tcp::SYN_LEN,
            );
        } else if h.flags == tcp_flags::SYN | tcp_flags::ACK {
            self.send(
                conn.flow,
                id,
                conn.client,
                conn.server,
                conn.sport,
                svc_port,
                PROTO_TCP,
                tcp_flags::ACK,
                tcp::ACK_LEN,
            );
            if conn.request_left == 0 {
                self.respond(id);
            } else {
                self.send_payload(
                    id,
                    conn.client,
                    conn.server,
                    conn.sport,
                    svc_port,
                    conn.request_left,
                );
            }
        } else if payload > 0 && to_server {
            let c = self.conns.get_mut(id);
            c.request_left -= payload.min(c.request_left);
            if c.request_left == 0 {
                self.respond(id);
            }
        } else if payload > 0 {
            let c = self.conns.get_mut(id);
            c.response_left -= payload.min(c.response_left);
            if c.response_left == 0 {
                self.complete(id);
            }
        }
    }

    /// The server sends the whole response (or completes at once if there is none).
    fn respond(&mut self, id: u32) {
        let c = *self.conns.get_mut(id);
        let svc_port = self.flows[c.flow as usize].dport;
        if c.response_left == 0 {
            self.complete(id);
        } else {
            self.send_payload(id, c.server, c.client, svc_port, c.sport, c.response_left);
        }
    }

    fn send_payload(
        &mut self,
        id: u32,
        from: PodId,
        to: PodId,
        sport: u16,
        dport: u16,
        bytes: u64,
    ) {
        let flow = self.conns.get_mut(id).flow;
        for seg in tcp::segments(bytes, self.mss) {
            self.send(
                flow,
                id,
                from,
                to,
                sport,
                dport,
                PROTO_TCP,
                tcp_flags::ACK | tcp_flags::PSH,
                (seg + TCP_OVERHEAD) as u16,
            );
        }
    }

    fn complete(&mut self, id: u32) {
        let c = *self.conns.get_mut(id);
        let elapsed = (self.engine.now() - c.opened_at).as_nanos();
        self.metrics.conns_completed += 1;
        self.metrics.conn_latency.record(elapsed);
        let fm = &mut self.metrics.flows[c.flow as usize];
        fm.conns_completed += 1;
        fm.conn_latency.record(elapsed);
        self.conns.close(id);
    }
}
