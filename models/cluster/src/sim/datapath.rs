//! The packet path, one event per hop (DESIGN.md "Packet path"):
//!
//! ```text
//! pod eth0 ─veth─▶ NodeEgress ─netfilter, route, [encap], ENI queue─▶ EniTx ─VPC route, fabric─▶
//!     NodeIngress ─[decap], netfilter, route, veth─▶ PodRx
//! ```
//! Same-node traffic goes NodeEgress ─netfilter, route, veth─▶ PodRx. Traffic to a destination
//! beyond the VPC leaves through a NAT gateway or the internet gateway (`internet`, `egress`):
//! EniTx ─▶ [NatGateway] ─▶ InternetRx, and its answers InternetIngress ─▶ [NatGateway] ─▶
//! NodeIngress. Every delay is a constant
//! from `calibration` (sourced in CALIBRATION.md), CPU time the service datapath's counted work
//! costs, a serialization time from the ENI's bandwidth, or queueing behind earlier packets.

mod conversation;
mod internet;

use super::egress::Egress;
use super::endpoints::{stale_or, Endpoints};
use super::event::{Ev, Hop};
use super::ipamd::Lifecycle;
use super::metrics::{DropReason, Metrics};
use super::netfilter::{judged_header, Netfilter, NfOutcome};
use super::packet::{tcp_flags, Header, PacketMeta, PacketSlab, NO_CONN, PROTO_TCP, PROTO_UDP};
use super::policy::PacketPolicy;
use super::routing::{self, Egress as Route, VpcNext};
use super::tcp::{self, Conn, ConnSlab};
use super::timeline::TimelineRecorder;
use super::traffic::{FlowPlan, Source, EPHEMERAL_FIRST, EPHEMERAL_LAST};
use crate::calibration::{
    NODE_ROUTING, UDP_IP_HEADER_BYTES, VETH_TRAVERSAL, VXLAN_DECAP, VXLAN_ENCAP, VXLAN_OVERHEAD_BYTES,
};
use crate::scenario::format::Protocol;
use crate::world::{NodeId, PodId, World};
use cnsim_services::Origin;
use sim_core::{Engine, SimTime};
use std::collections::VecDeque;

/// Bytes of headers on a TCP data segment: IPv4 + TCP + the timestamp option Linux sends.
const TCP_OVERHEAD: u32 = crate::calibration::TCP_IP_HEADER_BYTES + crate::calibration::TCP_TIMESTAMP_OPTION_BYTES;

/// A node ENI's transmit side: a FIFO drained at the ENI's bandwidth, tail-dropping past its
/// limit. `departures` holds the finish times of queued packets (nondecreasing).
struct EniQueue {
    busy_until: SimTime,
    departures: VecDeque<SimTime>,
}

pub struct Model<'w> {
    world: &'w World,
    pub engine: Engine<Ev>,
    pub netfilter: Netfilter,
    packets: PacketSlab,
    conns: ConnSlab,
    flows: Vec<FlowPlan>,
    sources: Vec<Source>,
    enis: Vec<EniQueue>,
    eni_limit: usize,
    fabric: crate::scenario::format::Fabric,
    /// Next ephemeral port per pod (Linux allocates from ip_local_port_range).
    ephemeral: Vec<u16>,
    pub metrics: Metrics,
    /// Pods as they are now and the IPAM engine behind them (`sim::ipamd`).
    pub life: Lifecycle,
    /// NetworkPolicy enforcement; None when the variant has no policies.
    pub policy: Option<PacketPolicy>,
    /// Services following pods; None when no pod change can reach a Service.
    pub endpoints: Option<Endpoints>,
    /// NAT gateways and the internet gateway.
    pub egress: Egress,
    internet_latency: SimTime,
}

/// Who sends a packet: a pod, or a flow's destination beyond the VPC (at its address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Host {
    Pod(PodId),
    Internet(u32),
}

impl<'w> Model<'w> {
    pub fn new(
        world: &'w World,
        fabric: &crate::scenario::format::Fabric,
        netfilter: Netfilter,
        flows: Vec<FlowPlan>,
        sources: Vec<Source>,
        scenario: &crate::scenario::format::Scenario,
    ) -> Model<'w> {
        // Pod and IPAM events first: at equal times they run before the traffic.
        let mut engine = Engine::new();
        let life = Lifecycle::new(scenario, world, &mut engine);
        let mut model = Model {
            world,
            engine,
            life,
            netfilter,
            packets: PacketSlab::default(),
            conns: ConnSlab::default(),
            metrics: Metrics {
                pod_rx: vec![0; world.pods.len()],
                ..Metrics::new(flows.len(), world.nodes.len())
            },
            enis: (0..world.nodes.len())
                .map(|_| EniQueue {
                    busy_until: SimTime::ZERO,
                    departures: VecDeque::new(),
                })
                .collect(),
            eni_limit: fabric.eni_tx_queue as usize,
            fabric: fabric.clone(),
            ephemeral: vec![EPHEMERAL_FIRST; world.pods.len()],
            flows,
            sources,
            policy: None,
            endpoints: None,
            egress: Egress::new(world),
            internet_latency: fabric.internet_latency,
        };
        for i in 0..model.sources.len() {
            let plan = &model.flows[model.sources[i].flow as usize];
            if let Some(at) = model.sources[i].next_arrival(plan, SimTime::ZERO) {
                model.engine.schedule_at(at, Ev::Arrival { source: i as u32 });
            }
        }
        model
    }

    /// Runs every event due up to `until`, sampling the state between events into `timeline`.
    pub fn run(&mut self, until: SimTime, timeline: &mut TimelineRecorder) {
        while let Some(ev) = self.engine.next_event(until) {
            timeline.before_event(self.engine.now(), self.world, &self.netfilter, &self.life);
            match ev {
                Ev::Arrival { source } => self.on_arrival(source),
                Ev::Pod(p) => {
                    self.life.handle(p, self.world, &mut self.engine);
                    match p {
                        super::event::PodEv::NodeReady { node } => self.node_ready(node),
                        super::event::PodEv::NodeLeave { node } => self.node_left(node),
                        _ => {}
                    }
                    let changed = self.life.take_changed();
                    if let Some(eps) = &mut self.endpoints {
                        for pod in changed {
                            eps.pod_changed(self.world, pod, &mut self.engine);
                        }
                    }
                }
                Ev::Endpoints(e) => {
                    let eps = self.endpoints.as_mut().expect("endpoint events come from the tracker");
                    eps.handle(e, self.world, &self.life.pods, &mut self.netfilter, &mut self.engine);
                }
                Ev::Hop {
                    hop,
                    node,
                    packet,
                    header,
                } => match hop {
                    Hop::NodeEgress => self.on_node_egress(packet, header),
                    Hop::EniTx => self.on_eni_tx(packet, header),
                    Hop::NodeIngress => self.on_node_ingress(packet, header),
                    Hop::PodRx => self.on_pod_rx(packet, header),
                    Hop::NatGateway => self.on_nat_gateway(node as u16, packet, header),
                    Hop::InternetRx => self.on_internet_rx(packet, header),
                    Hop::InternetIngress => self.on_internet_ingress(packet, header),
                },
            }
        }
    }

    pub fn packets_in_flight(&self) -> usize {
        self.packets.in_flight()
    }

    pub fn flows(&self) -> &[FlowPlan] {
        &self.flows
    }

    fn on_arrival(&mut self, source: u32) {
        let now = self.engine.now();
        let src = &mut self.sources[source as usize];
        let plan = &self.flows[src.flow as usize];
        let (flow, client) = (src.flow, src.pod);
        let pods = &self.life.pods;
        if !pods.is_running(client) {
            // A dynamic run plans a source for every pod of the flow: it sends once Running.
            if let Some(at) = src.next_arrival(plan, now) {
                self.engine.schedule_at(at, Ev::Arrival { source });
            }
            return;
        }
        // Where to send: the Service address, or a pod drawn from the flow's own stream (one
        // that does not run has no address: the packet is dropped as having no destination).
        let dst = match (plan.service.map(|s| s.0).or(plan.external), plan.dst_pods.len()) {
            (Some(ip), _) => Some(u32::from(ip)),
            (None, 0) => None,
            (None, 1) => pods.ip(plan.dst_pods[0]).map(u32::from),
            (None, n) => pods
                .ip(plan.dst_pods[src.destinations.below(n as u64) as usize])
                .map(u32::from),
        };
        if let Some(at) = src.next_arrival(plan, now) {
            self.engine.schedule_at(at, Ev::Arrival { source });
        }
        let plan = &self.flows[flow as usize];
        let Some(dst) = dst else {
            self.metrics.sent += 1;
            self.metrics.flows[flow as usize].sent += 1;
            self.metrics.drop(flow, DropReason::NoRunningDestination);
            return;
        };
        let dport = plan.dport;
        match plan.protocol {
            Protocol::UDP => {
                // One socket per source: a fixed ephemeral port.
                let sport = EPHEMERAL_FIRST + (source % u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1)) as u16;
                let len = plan.packet_size.0 as u16;
                debug_assert!(u32::from(len) >= UDP_IP_HEADER_BYTES);
                self.send(
                    flow,
                    NO_CONN,
                    Host::Pod(client),
                    true,
                    dst,
                    sport,
                    dport,
                    PROTO_UDP,
                    0,
                    len,
                );
            }
            Protocol::TCP => {
                let (request, response, requests) = (plan.request.0, plan.response.0, plan.requests);
                let sport = self.next_ephemeral(client, dport);
                let client_ip = u32::from(self.life.pods.ip(client).expect("sending pods run"));
                let conn = self.conns.insert(Conn {
                    flow,
                    client,
                    client_ip,
                    client_port: sport,
                    opened_at: now,
                    request_sent_at: now,
                    request_left: request,
                    response_left: response,
                    requests_after: requests - 1,
                    egress_source: None,
                });
                self.metrics.conns_opened += 1;
                self.metrics.flows[flow as usize].conns_opened += 1;
                self.send(
                    flow,
                    conn,
                    Host::Pod(client),
                    true,
                    dst,
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

    /// The pod's next ephemeral port, never the destination port itself.
    fn next_ephemeral(&mut self, pod: PodId, dport: u16) -> u16 {
        let port = &mut self.ephemeral[pod as usize];
        let step = |p: u16| if p == EPHEMERAL_LAST { EPHEMERAL_FIRST } else { p + 1 };
        if *port == dport {
            *port = step(*port);
        }
        let out = *port;
        *port = step(out);
        out
    }

    /// A packet leaves `from` now, addressed to `dst`: a pod's eth0 and veth, or the internet.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        flow: u32,
        conn: u32,
        from: Host,
        from_client: bool,
        dst: u32,
        sport: u16,
        dport: u16,
        proto: u8,
        flags: u8,
        len: u16,
    ) {
        let src = match from {
            Host::Pod(pod) => u32::from(self.life.pods.get(pod).ip.expect("sending pods hold an address")),
            Host::Internet(src) => src,
        };
        let header = Header {
            src,
            dst,
            sport,
            dport,
            proto,
            flags,
            len,
        };
        let Host::Pod(pod) = from else {
            return self.send_from_internet(flow, conn, from_client, header);
        };
        let src_node = self.life.pods.get(pod).node.expect("running pods have a node");
        let now = self.engine.now();
        let packet = self.packets.insert(PacketMeta {
            sent_at: now,
            flow,
            conn,
            src_node,
            dst_node: src_node,
            opened: false,
            from_client,
            wire_len: u32::from(len),
            encapsulated: false,
        });
        self.metrics.sent += 1;
        self.metrics.flows[flow as usize].sent += 1;
        self.metrics.cpu_ns += VETH_TRAVERSAL.as_nanos();
        self.engine.schedule_at(
            now + VETH_TRAVERSAL,
            Ev::Hop {
                hop: Hop::NodeEgress,
                node: src_node,
                packet,
                header,
            },
        );
    }

    fn drop_packet(&mut self, packet: u32, reason: DropReason) {
        let meta = self.packets.remove(packet);
        self.metrics.drop(meta.flow, reason);
    }

    /// Netfilter on `node`: translates `header` in place, or drops the packet. Returns the CPU
    /// time spent, or None if the packet was dropped.
    fn netfilter(&mut self, packet: u32, node: NodeId, header: &mut Header, origin: Origin) -> Option<SimTime> {
        let now = self.engine.now().as_nanos();
        match self.netfilter.process(node, header, origin, now, None) {
            NfOutcome::Pass {
                created,
                translated,
                cpu_ns,
                work,
                snat,
            } => {
                let new = created.is_some();
                if let Some(id) = created {
                    // Policy judges the pod's own source, before masquerading.
                    if !self.admit(packet, node, &judged_header(header, snat), origin) {
                        self.netfilter.forget(node, id);
                        return None;
                    }
                }
                if let Some((src, sport)) = snat {
                    self.metrics.snat_connections += 1;
                    let meta = *self.packets.get(packet);
                    if meta.conn != NO_CONN {
                        // Where the connection's NAT gateway translation starts (freed at close).
                        self.conns.get_mut(meta.conn).egress_source = Some((header.src, header.sport));
                    }
                    debug_assert_ne!((src, sport), (header.src, header.sport));
                }
                if new && origin == Origin::LocalPod {
                    self.packets.get_mut(packet).opened = true;
                    if translated || work.rules_evaluated + work.map_lookups > 0 {
                        self.metrics.service_lookups += 1;
                        self.metrics.service_work.add(work);
                    }
                }
                self.metrics.cpu_ns += cpu_ns;
                Some(SimTime::from_nanos(cpu_ns))
            }
            NfOutcome::Reject(reason) => {
                self.drop_packet(packet, reason.into());
                None
            }
            NfOutcome::Drop(reason) => {
                self.drop_packet(packet, reason.into());
                None
            }
            NfOutcome::TableFull => {
                self.drop_packet(packet, DropReason::ConntrackTableFull);
                None
            }
            NfOutcome::InsertClash => {
                self.drop_packet(packet, DropReason::ConntrackInsertFailed);
                None
            }
        }
    }

    /// The drop reason for a packet whose destination address has no pod: stale when a
    /// Service client's translated packet met a pod that is gone (`endpoints::stale_or`).
    fn no_pod(&self, meta: &PacketMeta, h: &Header, reason: DropReason) -> DropReason {
        let to_service = meta.from_client && self.flows[meta.flow as usize].service.is_some();
        stale_or(&self.life.pods, to_service, h, reason)
    }

    /// NetworkPolicy on a connection's first packet, after DNAT (sim/policy.rs): egress at the
    /// source node, ingress at the destination's (at the source when both pods share it).
    /// False: dropped as policy-denied, counted under the policies that denied it.
    fn admit(&mut self, packet: u32, node: NodeId, h: &Header, origin: Origin) -> bool {
        let Some(policy) = &mut self.policy else {
            return true;
        };
        if policy.admit(&self.life.pods, h, node, origin) {
            return true;
        }
        self.drop_packet(packet, DropReason::PolicyDenied);
        false
    }

    /// Source node root namespace: netfilter, then route to a local pod's veth or out the ENI.
    fn on_node_egress(&mut self, packet: u32, mut header: Header) {
        let now = self.engine.now();
        let node = self.packets.get(packet).src_node;
        let Some(nf) = self.netfilter(packet, node, &mut header, Origin::LocalPod) else {
            return;
        };
        let world = self.world;
        self.metrics.cpu_ns += NODE_ROUTING.as_nanos();
        let encapsulate = match routing::egress_in(world, &self.life.pods, node, header.dst_ip()) {
            Route::LocalPod => {
                self.metrics.cpu_ns += VETH_TRAVERSAL.as_nanos();
                self.engine.schedule_at(
                    now + nf + NODE_ROUTING + VETH_TRAVERSAL,
                    Ev::Hop {
                        hop: Hop::PodRx,
                        node,
                        packet,
                        header,
                    },
                );
                return;
            }
            Route::Eni { encapsulate } => encapsulate,
        };
        let mut ready = now + nf + NODE_ROUTING;
        if encapsulate {
            let m = self.packets.get_mut(packet);
            m.encapsulated = true;
            m.wire_len += VXLAN_OVERHEAD_BYTES;
            ready += VXLAN_ENCAP;
            self.metrics.cpu_ns += VXLAN_ENCAP.as_nanos();
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
                node,
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
        let outer = routing::outer_destination(world, header.dst_ip(), meta.encapsulated);
        let far = match routing::vpc_in(world, &self.life.pods, meta.src_node, outer).map(|hop| hop.next) {
            Ok(VpcNext::Node(far)) => far,
            Ok(VpcNext::NatGateway(g)) => {
                let az = world.nodes[meta.src_node as usize].az;
                return self.forward_to_nat_gateway(packet, header, az, g);
            }
            Ok(VpcNext::InternetGateway) => return self.forward_to_internet(packet, header),
            Err(reason) => return self.drop_packet(packet, self.no_pod(&meta, &header, reason)),
        };
        let latency = self.fabric_hop(
            packet,
            world.nodes[meta.src_node as usize].az,
            world.nodes[far as usize].az,
        );
        self.packets.get_mut(packet).dst_node = far;
        self.engine.schedule_at(
            now + latency,
            Ev::Hop {
                hop: Hop::NodeIngress,
                node: far,
                packet,
                header,
            },
        );
    }

    /// The fabric's delay from AZ `a` to AZ `b` for `packet`, counting the bytes of a crossing.
    fn fabric_hop(&mut self, packet: u32, a: u16, b: u16) -> SimTime {
        if a != b {
            self.metrics.cross_az_bytes += u64::from(self.packets.get(packet).wire_len);
        }
        self.fabric.one_way(a, b)
    }

    /// Far node: decapsulate, netfilter, route to the pod's veth.
    fn on_node_ingress(&mut self, packet: u32, mut header: Header) {
        let now = self.engine.now();
        let meta = *self.packets.get(packet);
        self.metrics.nodes[meta.dst_node as usize].rx_packets += 1;
        let decap = if meta.encapsulated { VXLAN_DECAP } else { SimTime::ZERO };
        let Some(nf) = self.netfilter(packet, meta.dst_node, &mut header, Origin::External) else {
            return;
        };
        if !routing::holds_pod(self.world, &self.life.pods, meta.dst_node, header.dst_ip()) {
            return self.drop_packet(packet, self.no_pod(&meta, &header, DropReason::NodeNoSuchPod));
        }
        self.metrics.cpu_ns += (decap + NODE_ROUTING + VETH_TRAVERSAL).as_nanos();
        self.engine.schedule_at(
            now + decap + nf + NODE_ROUTING + VETH_TRAVERSAL,
            Ev::Hop {
                hop: Hop::PodRx,
                node: meta.dst_node,
                packet,
                header,
            },
        );
    }

    /// Delivered to the pod; TCP endpoints answer.
    fn on_pod_rx(&mut self, packet: u32, header: Header) {
        let Some(pod) = self.life.pods.by_ip(header.dst_ip()) else {
            let meta = *self.packets.get(packet);
            return self.drop_packet(packet, self.no_pod(&meta, &header, DropReason::NodeNoSuchPod));
        };
        let meta = self.delivered(packet);
        self.metrics.pod_rx[pod as usize] += 1;
        if meta.conn != NO_CONN {
            self.on_tcp_segment(meta.conn, Host::Pod(pod), header, meta.from_client);
        }
    }

    /// Counts `packet` delivered now and frees it.
    fn delivered(&mut self, packet: u32) -> PacketMeta {
        let meta = self.packets.remove(packet);
        let latency = (self.engine.now() - meta.sent_at).as_nanos();
        self.metrics.delivered += 1;
        self.metrics.latency.record(latency);
        if meta.opened {
            self.metrics.first_packet_latency.record(latency);
        } else {
            self.metrics.established_latency.record(latency);
        }
        let fm = &mut self.metrics.flows[meta.flow as usize];
        fm.delivered += 1;
        fm.latency.record(latency);
        meta
    }
}
