//! The events of the packet path, one per hop, and their canonical trace encoding.

use super::packet::Header;
use sim_core::{TraceEvent, TraceWriter};

/// Where a packet is when its event fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Hop {
    /// In the source node's root namespace, having crossed the pod's veth: routing (and, in
    /// later issues, conntrack, service translation and egress policy) happen here.
    NodeEgress = 1,
    /// The source node's ENI finished transmitting it; the VPC routes it.
    EniTx = 2,
    /// At the far node's ENI: decapsulation and routing to the pod's veth.
    NodeIngress = 3,
    /// Out of the veth into the destination pod: delivered.
    PodRx = 4,
    /// At NAT gateway `node` (an index into `world.nat_gateways`), from either side.
    NatGateway = 5,
    /// At the flow's destination beyond the internet gateway: delivered.
    InternetRx = 6,
    /// From the internet, at the VPC's internet gateway.
    InternetIngress = 7,
}

#[derive(Clone, Copy, Debug)]
pub enum Ev {
    /// A flow source's next arrival: a UDP datagram or a TCP connection leaves the pod's eth0.
    Arrival { source: u32 },
    /// Pod lifecycle and IPAM (`sim::ipamd`): only in runs with timed IPAM or scale events.
    Pod(PodEv),
    /// Services following pods (`sim::endpoints`): only when a pod behind a Service changes.
    Endpoints(EpEv),
    /// A packet reaching a hop on `node`.
    Hop {
        hop: Hop,
        node: u32,
        packet: u32,
        header: Header,
    },
}

/// What happens to pods and to ipamd's pools over a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodEv {
    /// ipamd on `node` is due: an ENI attach completes, or its pool loop ticks.
    IpamdWake { node: u32 },
    /// The kubelet retries `pod`'s sandbox (the CNI ADD) after an address error. `life` is the
    /// pod's incarnation when the retry was scheduled (bookkeeping, not traced): a retry for a
    /// pod deleted since (scaled down, evicted) does nothing.
    SandboxRetry { pod: u32, life: u32 },
    /// The scenario's scale event `event` (index into `events`): a workload scaled, or a node
    /// group grown (its new nodes launch now).
    Scale { event: u32 },
    /// A node a scale event launched is Ready and joins the cluster (`world::launch`).
    NodeReady { node: u32 },
    /// A node a scale-down drained is terminated and leaves the cluster (`world::terminate`).
    NodeLeave { node: u32 },
}

/// Endpoint changes on their way to each node's service datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpEv {
    /// The EndpointSlice update for `pod` (which became Running or was deleted at
    /// `changed_ns`) reaches the nodes: the controller reconciles the pod as it is now.
    SliceUpdate { pod: u32, changed_ns: u64 },
    /// `node`'s service proxy syncs the Services changed since its last sync.
    NodeSync { node: u32 },
}

/// Trace kinds. Changing an encoding changes every digest: bump DIGEST_VERSION in sim-core
/// or explain the golden-digest change in the commit.
const KIND_ARRIVAL: u16 = 1;
const KIND_IPAMD_WAKE: u16 = 2;
const KIND_SANDBOX_RETRY: u16 = 3;
const KIND_SCALE: u16 = 4;
const KIND_SLICE_UPDATE: u16 = 5;
const KIND_NODE_SYNC: u16 = 6;
const KIND_NODE_READY: u16 = 7;
const KIND_NODE_LEAVE: u16 = 8;
const KIND_HOP_BASE: u16 = 16;

impl TraceEvent for Ev {
    #[inline]
    fn trace(&self, w: &mut TraceWriter) {
        match self {
            Ev::Arrival { source } => {
                w.kind(KIND_ARRIVAL);
                w.u32(*source);
            }
            Ev::Pod(p) => {
                let (kind, id) = match *p {
                    PodEv::IpamdWake { node } => (KIND_IPAMD_WAKE, node),
                    PodEv::SandboxRetry { pod, .. } => (KIND_SANDBOX_RETRY, pod),
                    PodEv::Scale { event } => (KIND_SCALE, event),
                    PodEv::NodeReady { node } => (KIND_NODE_READY, node),
                    PodEv::NodeLeave { node } => (KIND_NODE_LEAVE, node),
                };
                w.kind(kind);
                w.u32(id);
            }
            Ev::Endpoints(e) => {
                let (kind, id) = match *e {
                    EpEv::SliceUpdate { pod, .. } => (KIND_SLICE_UPDATE, pod),
                    EpEv::NodeSync { node } => (KIND_NODE_SYNC, node),
                };
                w.kind(kind);
                w.u32(id);
            }
            // The slab index is left out: it is bookkeeping, not what happened.
            Ev::Hop {
                hop, node, header: h, ..
            } => {
                w.kind(KIND_HOP_BASE + *hop as u16);
                w.u32(*node);
                w.u32(h.src);
                w.u32(h.dst);
                w.u16(h.sport);
                w.u16(h.dport);
                w.u8(h.proto);
                w.u8(h.flags);
                w.u16(h.len);
            }
        }
    }
}
