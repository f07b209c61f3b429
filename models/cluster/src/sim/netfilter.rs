//! A node's netfilter path as the packet path sees it: conntrack first; for a NEW connection,
//! the service datapath (kube-proxy's iptables / IPVS / nftables, or Cilium's eBPF) decides
//! the translation, and the entry remembers it, so later packets and replies follow the entry
//! without touching the rules. Work counted by the engine becomes CPU time through
//! `cnsim_services::cost`. A NEW connection from a local pod to a destination the node
//! masquerades (`World::snat`: the VPC CNI's SNAT rule, or the overlay's) leaves with the node's
//! primary address and a source port drawn as `--random-fully` draws it; the entry remembers
//! that too, so replies find the pod.

use super::packet::{Header, PROTO_TCP, PROTO_UDP};
use crate::calibration::{SNAT_PORT_ATTEMPTS, SNAT_PORT_FIRST};
use crate::world::{NodeId, World};
use cnsim_ipam::{SnatDecision, SnatPolicy};
use cnsim_services::conntrack::{
    invert, ConntrackConfig, ConntrackTable, CtState, Direction, EntryId, InsertError, TcpFlags, TcpOutcome,
};
use cnsim_services::{
    self as svc, Decision, Mode, NodeView, Origin, RandomSource, ServiceDatapath, ServiceSet, TraceStep, Work,
};
use sim_core::RngStream;
use std::net::Ipv4Addr;

/// The source port masquerading gives a NEW connection to `header`'s destination, as
/// `--random-fully` picks it (nf_nat_l4proto_unique_tuple): from a random offset in 1024–65535,
/// the next ports while the reply tuple is tracked already, up to 128 of them; then again from
/// a fresh offset with half as many, while the last round had 16 or more (128, 64, 32, 16, 8).
/// None when every try clashed: the kernel then fails the insert.
fn snat_port(n: &mut NodeNetfilter, header: &Header, source: Ipv4Addr, now_ns: u64) -> Option<u16> {
    let range = u32::from(u16::MAX - SNAT_PORT_FIRST) + 1;
    let mut attempts = SNAT_PORT_ATTEMPTS;
    loop {
        let start = (n.snat_rng.next_u64() >> 48) as u32;
        let free = (0..attempts)
            .map(|i| SNAT_PORT_FIRST + ((start + i) % range) as u16)
            .find(|&port| {
                let reply = svc::Packet {
                    src: header.dst_ip(),
                    dst: source,
                    sport: header.dport,
                    dport: port,
                    proto: protocol(header.proto),
                };
                n.table.lookup(&reply, now_ns).is_none()
            });
        if free.is_some() || attempts < 16 {
            return free;
        }
        attempts /= 2;
    }
}

/// The header NetworkPolicy judges for a packet `process` passed: the pod's own source, before
/// any masquerading (`snat`).
pub fn judged_header(header: &Header, snat: Option<(u32, u16)>) -> Header {
    let mut judged = *header;
    if let Some((src, sport)) = snat {
        (judged.src, judged.sport) = (src, sport);
    }
    judged
}

fn to_packet(h: &Header) -> svc::Packet {
    svc::Packet {
        src: Ipv4Addr::from(h.src),
        dst: Ipv4Addr::from(h.dst),
        sport: h.sport,
        dport: h.dport,
        proto: protocol(h.proto),
    }
}

fn tcp_flags(f: u8) -> TcpFlags {
    use super::packet::tcp_flags::{ACK, FIN, SYN};
    TcpFlags {
        syn: f & SYN != 0,
        ack: f & ACK != 0,
        fin: f & FIN != 0,
        rst: false,
    }
}

/// What happened to a packet in a node's netfilter path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NfOutcome {
    /// Continue. `created`: the conntrack entry the packet created (a NEW connection), which
    /// the caller [`Netfilter::forget`]s if policy then drops the packet (the kernel never
    /// confirms such an entry); `cpu_ns` is the time spent. `snat`: the NEW connection was
    /// masqueraded; its source (address, port) before that, which NetworkPolicy judges
    /// ([`judged_header`]).
    Pass {
        created: Option<EntryId>,
        translated: bool,
        cpu_ns: u64,
        work: Work,
        snat: Option<(u32, u16)>,
    },
    /// REJECT (ICMP unreachable / TCP RST): a Service without usable endpoints, or a port it
    /// does not serve.
    Reject(svc::RejectReason),
    /// Dropped by the datapath (source ranges, no local endpoint).
    Drop(svc::DropReason),
    /// The conntrack table is full and nothing could be evicted.
    TableFull,
    /// A tuple of the new connection is tracked already (the kernel's `insert_failed`).
    InsertClash,
}

pub struct NodeNetfilter {
    engine: Option<Box<dyn ServiceDatapath>>,
    table: ConntrackTable,
    rng: RngStream,
    /// Source ports for masqueraded connections (`snat/<node>`).
    snat_rng: RngStream,
    view: NodeView,
}

/// Random draws for the engines from the node's own named stream.
struct Draws<'a>(&'a mut RngStream);

impl RandomSource for Draws<'_> {
    fn next_u32(&mut self) -> u32 {
        (self.0.next_u64() >> 32) as u32
    }
}

pub struct Netfilter {
    pub mode: Mode,
    /// Cilium socket LB: translations for the node's own pods happen at connect().
    socket_lb: bool,
    nodes: Vec<NodeNetfilter>,
    set: ServiceSet,
    lookup_cost: svc::cost::LookupCost,
    established_ns: u64,
    snat: SnatPolicy,
}

fn protocol(p: u8) -> svc::Protocol {
    match p {
        PROTO_TCP => svc::Protocol::Tcp,
        PROTO_UDP => svc::Protocol::Udp,
        _ => svc::Protocol::Sctp,
    }
}

impl Netfilter {
    /// `engine` builds one node's datapath; None when the scenario has no Services (then no
    /// rules exist and every NEW connection passes at base cost).
    pub fn new(
        world: &World,
        seed: u64,
        mode: Mode,
        socket_lb: bool,
        set: ServiceSet,
        conntrack: impl Fn(NodeId) -> ConntrackConfig,
        engine: impl Fn() -> Option<Box<dyn ServiceDatapath>>,
    ) -> Netfilter {
        let cluster_cidr = world.cluster_cidr;
        let nodes = (0..world.nodes.len())
            .map(|n| NodeNetfilter {
                engine: if set.services.is_empty() { None } else { engine() },
                table: ConntrackTable::new(conntrack(n as NodeId)),
                rng: RngStream::new(seed, &format!("netfilter/{}", world.nodes[n].name)),
                snat_rng: RngStream::new(seed, &format!("snat/{}", world.nodes[n].name)),
                view: NodeView {
                    name: world.nodes[n].name.clone(),
                    node_ips: vec![world.nodes[n].ip],
                    cluster_cidr: Some(cluster_cidr),
                },
            })
            .collect();
        Netfilter {
            mode,
            socket_lb,
            nodes,
            set,
            lookup_cost: svc::cost::lookup_cost(mode),
            established_ns: svc::cost::established_cost_ns(mode),
            snat: world.snat.clone(),
        }
    }

    pub fn services(&self) -> &ServiceSet {
        &self.set
    }

    /// Programs the datapath of every node `joined` at t=0 (a full sync), returning the sync
    /// stats of each (default for the others: they sync when they join, `full_sync_node`).
    pub fn full_sync(&mut self, joined: impl Fn(NodeId) -> bool) -> Vec<svc::SyncStats> {
        (0..self.nodes.len() as NodeId)
            .map(|n| {
                if joined(n) {
                    self.full_sync_node(n)
                } else {
                    Default::default()
                }
            })
            .collect()
    }

    /// Programs `node`'s datapath from the current set (kube-proxy's first sync on a node).
    pub fn full_sync_node(&mut self, node: NodeId) -> svc::SyncStats {
        let n = &mut self.nodes[node as usize];
        n.engine
            .as_mut()
            .map(|e| e.full_sync(&self.set, &n.view))
            .unwrap_or_default()
    }

    /// The endpoint lists of Service `s` (one per port) as the API server holds them now. Nodes
    /// see a change only at their next [`Netfilter::partial_sync`].
    pub fn endpoints_mut(&mut self, s: usize) -> &mut Vec<Vec<svc::Endpoint>> {
        &mut self.set.endpoints[s]
    }

    /// Re-programs `node` for the listed Services from the current set (kube-proxy's partial
    /// sync; an eBPF map update). Returns the modelled sync time, ns (0 without an engine).
    pub fn partial_sync(&mut self, node: NodeId, changed: &[usize]) -> u64 {
        let n = &mut self.nodes[node as usize];
        let Some(engine) = n.engine.as_mut() else { return 0 };
        let stats = engine.partial_sync(&self.set, &n.view, changed);
        svc::cost::sync_cost(self.mode).ns(&stats, self.set.services.len() as u64)
    }

    /// Deletes `node`'s UDP conntrack entries whose translation leads to one of `gone`
    /// (kube-proxy's stale-endpoint cleanup at a sync). Returns how many.
    pub fn flush_udp_to(&mut self, node: NodeId, gone: &[(Ipv4Addr, u16)]) -> u64 {
        let table = &mut self.nodes[node as usize].table;
        let ids: Vec<_> = table
            .entries()
            .into_iter()
            .filter(|e| e.state == CtState::Udp && gone.contains(&(e.reply.src, e.reply.sport)))
            .map(|e| e.id)
            .collect();
        for &id in &ids {
            table.remove(id);
        }
        ids.len() as u64
    }

    /// The modelled time of each node's t=0 full sync, from its stats.
    pub fn sync_ns(&self, stats: &[svc::SyncStats]) -> Vec<u64> {
        let cost = svc::cost::sync_cost(self.mode);
        let services = self.set.services.len() as u64;
        stats.iter().map(|st| cost.ns(st, services)).collect()
    }

    pub fn conntrack(&self, node: NodeId) -> &ConntrackTable {
        &self.nodes[node as usize].table
    }

    /// What one endpoint change costs to program, measured on `node`'s own engine once the run
    /// is over (so it changes nothing the run saw): the first Service with two or more
    /// endpoints loses its last one and the engine re-syncs that Service (kube-proxy's partial
    /// sync; a full pass where the mode has no other). None without an engine or such Service.
    pub fn endpoint_change_sync(&mut self, node: NodeId) -> Option<svc::SyncStats> {
        let n = &mut self.nodes[node as usize];
        let engine = n.engine.as_mut()?;
        let changed =
            (0..self.set.services.len()).find(|&i| self.set.endpoints[i].first().is_some_and(|e| e.len() >= 2))?;
        let mut after = self.set.clone();
        for eps in &mut after.endpoints[changed] {
            eps.pop();
        }
        Some(engine.partial_sync(&after, &n.view, &[changed]))
    }

    /// Deletes the entry a NEW packet created on `node`, which policy then dropped: an entry
    /// whose first packet never leaves is never confirmed, so later packets are NEW again.
    pub fn forget(&mut self, node: NodeId, id: EntryId) {
        self.nodes[node as usize].table.remove(id);
    }

    /// The ruleset a node holds, in its tool's save format.
    pub fn dump(&self, node: NodeId) -> Option<String> {
        self.nodes[node as usize].engine.as_ref().map(|e| e.dump())
    }

    /// Runs `header` through `node`'s netfilter path, translating it in place.
    pub fn process(
        &mut self,
        node: NodeId,
        header: &mut Header,
        origin: Origin,
        now_ns: u64,
        trace: Option<&mut Vec<TraceStep>>,
    ) -> NfOutcome {
        let n = &mut self.nodes[node as usize];
        let pkt = to_packet(header);
        let probe = Work {
            hash_probes: cnsim_services::conntrack::HASH_PROBES_PER_LOOKUP,
            ..Work::default()
        };
        if let Some((id, dir)) = n.table.lookup(&pkt, now_ns) {
            let entry = n.table.get(id).expect("a found entry is live").clone();
            let reopened = if header.proto == PROTO_TCP {
                n.table.update_tcp(id, tcp_flags(header.flags), dir, now_ns) == TcpOutcome::Reopened
            } else {
                n.table.update(id, dir, now_ns);
                false
            };
            if !reopened {
                let (orig, rep) = (entry.orig, entry.reply);
                // The entry's two tuples say both translations (each the identity when absent):
                // DNAT in the reply's source, SNAT in its destination.
                if dir == Direction::Reply {
                    header.src = u32::from(orig.dst);
                    header.sport = orig.dport;
                    header.dst = u32::from(orig.src);
                    header.dport = orig.sport;
                } else {
                    header.dst = u32::from(rep.src);
                    header.dport = rep.sport;
                    header.src = u32::from(rep.dst);
                    header.sport = rep.dport;
                }
                let translated = orig.dst != rep.src || orig.dport != rep.sport;
                return NfOutcome::Pass {
                    created: None,
                    translated,
                    cpu_ns: self.established_ns,
                    work: probe,
                    snat: None,
                };
            }
        }
        let mut work = probe;
        let mut translated = false;
        if let Some(engine) = n.engine.as_mut() {
            let verdict = engine.lookup(&pkt, origin, now_ns, &mut Draws(&mut n.rng), trace);
            work.add(verdict.work);
            match verdict.decision {
                Decision::NotAService => {}
                Decision::Dnat { ip, dport, .. } => {
                    header.dst = u32::from(ip);
                    header.dport = dport;
                    translated = true;
                }
                Decision::Reject { reason, .. } => return NfOutcome::Reject(reason),
                Decision::Drop { reason, .. } => return NfOutcome::Drop(reason),
            }
        }
        let cpu_ns = self.lookup_cost.ns(&work);
        let n = &mut self.nodes[node as usize];
        let at_socket = translated && self.socket_lb && origin != Origin::External;
        let tracked = if at_socket { to_packet(header) } else { pkt };
        if at_socket {
            // Translated at connect() (or sendmsg() for UDP): the connection is tracked by its
            // backend tuple, which later datagrams of a UDP socket may already have made.
            if let Some((id, dir)) = n.table.lookup(&tracked, now_ns) {
                if header.proto == PROTO_TCP {
                    n.table.update_tcp(id, tcp_flags(header.flags), dir, now_ns);
                } else {
                    n.table.update(id, dir, now_ns);
                }
                return NfOutcome::Pass {
                    created: None,
                    translated,
                    cpu_ns,
                    work,
                    snat: None,
                };
            }
        }
        // A segment conntrack will not track (e.g. a stray ACK it cannot pick up) passes untracked.
        let Some(state) = CtState::first_packet(pkt.proto, tcp_flags(header.flags)) else {
            return NfOutcome::Pass {
                created: None,
                translated,
                cpu_ns,
                work,
                snat: None,
            };
        };
        let mut snat = None;
        if origin == Origin::LocalPod {
            if let SnatDecision::NodePrimary { source } = self.snat.decide(n.view.node_ips[0], header.dst_ip()) {
                let Some(port) = snat_port(n, header, source, now_ns) else {
                    return NfOutcome::InsertClash;
                };
                snat = Some((header.src, header.sport));
                header.src = u32::from(source);
                header.sport = port;
            }
        }
        match n.table.insert(tracked, invert(&to_packet(header)), state, now_ns) {
            Ok(id) => NfOutcome::Pass {
                created: Some(id),
                translated,
                cpu_ns,
                work,
                snat,
            },
            Err(InsertError::TableFull) => NfOutcome::TableFull,
            // The tuple is tracked already (a port reuse clash): the kernel drops such a packet.
            Err(InsertError::Clash) => NfOutcome::InsertClash,
        }
    }
}
