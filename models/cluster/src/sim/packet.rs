//! Packets on the wire (`Header`, the fields a hop reads and the trace records) apart from the
//! simulator's bookkeeping about them (`PacketMeta`), stored in a slab reused as packets end.

use crate::world::NodeId;
use sim_core::SimTime;
use std::net::Ipv4Addr;

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// TCP flag bits as on the wire.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The IPv4 + L4 header fields the datapath looks at. `len` is the IP total length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub flags: u8,
    pub len: u16,
}

impl Header {
    pub fn src_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src)
    }

    pub fn dst_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst)
    }
}

/// What the simulator tracks about a packet in flight.
#[derive(Clone, Copy, Debug)]
pub struct PacketMeta {
    pub sent_at: SimTime,
    pub flow: u32,
    /// The TCP connection it belongs to, or `NO_CONN` for UDP.
    pub conn: u32,
    pub src_node: NodeId,
    /// Set once routing has chosen the far node.
    pub dst_node: NodeId,
    /// It created a conntrack entry at the sender's node: the first packet of a connection.
    pub opened: bool,
    /// TCP: sent by the connection's client (set at send time: headers alone cannot tell when
    /// a pod connects to itself with equal ports).
    pub from_client: bool,
    /// Bytes on the wire between nodes (the IP length, plus VXLAN overhead when encapsulated).
    pub wire_len: u32,
    pub encapsulated: bool,
}

pub const NO_CONN: u32 = u32::MAX;

/// Packets in flight; freed slots are reused, so memory follows the in-flight count.
#[derive(Default)]
pub struct PacketSlab {
    items: Vec<PacketMeta>,
    free: Vec<u32>,
}

impl PacketSlab {
    pub fn insert(&mut self, meta: PacketMeta) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = meta;
                i
            }
            None => {
                self.items.push(meta);
                u32::try_from(self.items.len() - 1).expect("fewer than 2^32 packets in flight")
            }
        }
    }

    #[inline]
    pub fn get(&self, id: u32) -> &PacketMeta {
        &self.items[id as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut PacketMeta {
        &mut self.items[id as usize]
    }

    pub fn remove(&mut self, id: u32) -> PacketMeta {
        self.free.push(id);
        self.items[id as usize]
    }

    pub fn in_flight(&self) -> usize {
        self.items.len() - self.free.len()
    }
}
