//! The kernel side of IPVS: virtual servers in `ip_vs_svc_table` (256 chained buckets, new
//! services at the head of their chain), their destinations in `svc->destinations` order, and
//! the rr / wrr / lc / sh schedulers and persistence templates, as net/netfilter/ipvs does them.

use crate::model::Protocol;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `IP_VS_SVC_TAB_BITS` (ip_vs_ctl.c): 256 buckets.
pub const SVC_TAB_BITS: u32 = 8;
pub const SVC_TAB_SIZE: usize = 1 << SVC_TAB_BITS;
const SVC_TAB_MASK: u32 = (1 << SVC_TAB_BITS) - 1;

fn ipproto(p: Protocol) -> u32 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// `ip_vs_svc_hashkey` for IPv4: `(proto ^ (addr ^ (ipvs >> 8)) ^ (port >> 8) ^ port) & mask`,
/// address and port in host order. `netns_salt` is `(size_t)ipvs >> 8`, from the netns_ipvs
/// pointer the kernel mixes in: it differs between boots, so it is a parameter (0 by
/// default); only its low 8 bits survive the mask.
pub fn svc_hashkey(proto: Protocol, addr: Ipv4Addr, port: u16, netns_salt: u32) -> usize {
    let porth = u32::from(port);
    let ahash = u32::from(addr) ^ netns_salt;
    ((ipproto(proto) ^ ahash ^ (porth >> SVC_TAB_BITS) ^ porth) & SVC_TAB_MASK) as usize
}

/// `ip_vs_sh_hashkey` for IPv4 with port 0 (kube-proxy sets no sh-port flag) and offset 0:
/// `hash_32(ntohl(addr), 8)`, i.e. `(addr * GOLDEN_RATIO_32) >> 24`.
pub fn sh_hashkey(src: Ipv4Addr) -> usize {
    const GOLDEN_RATIO_32: u32 = 0x61C8_8647;
    (u32::from(src).wrapping_mul(GOLDEN_RATIO_32) >> (32 - 8)) as usize
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VsKey {
    pub proto: Protocol,
    pub addr: Ipv4Addr,
    pub port: u16,
}

/// A real server: endpoint address and the index of that endpoint in the service port's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dest {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub index: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scheduler {
    /// Round robin, kube-proxy's default.
    #[default]
    Rr,
    /// Weighted round robin; kube-proxy gives every real server weight 1, so it visits
    /// destinations exactly as rr does.
    Wrr,
    /// Least connection: fewest `(activeconns << 8) + inactconns`, first in list on ties.
    Lc,
    /// Source hashing over a 256-bucket table.
    Sh,
}

impl Scheduler {
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Sh => "sh",
        }
    }
}

/// Scheduling state of one virtual server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedState {
    /// rr/wrr: the destination last chosen (`svc->sched_data` / `mark->cl`), None = list head.
    pub last: Option<(Ipv4Addr, u16)>,
    /// lc: active connections per destination.
    pub active: BTreeMap<(Ipv4Addr, u16), u32>,
    /// Persistence templates: client → (destination, expiry ns).
    pub templates: BTreeMap<Ipv4Addr, ((Ipv4Addr, u16), u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualServer {
    pub key: VsKey,
    pub service: u32,
    pub port: u32,
    /// `-p timeout` for ClientIP affinity (seconds).
    pub persistent: Option<u32>,
    /// In `svc->destinations` order: the kernel adds each new destination at the head.
    pub dests: Vec<Dest>,
    /// Insertion sequence number in the service table (bigger = nearer the chain head).
    pub seq: u64,
    pub bucket: usize,
    /// Position in the bucket, oldest first: reaching it from the chain head takes
    /// `bucket length - pos` steps.
    pub pos: usize,
    pub sched: SchedState,
}

impl VirtualServer {
    /// Replaces the destinations with `sorted` (kube-proxy's order of adding them), keeping the
    /// ones that stay where they are, as `ip_vs_add_dest` / `ip_vs_del_dest` would.
    pub fn set_dests(&mut self, sorted: &[Dest]) {
        let keep = |d: &Dest| sorted.iter().any(|n| (n.ip, n.port) == (d.ip, d.port));
        if let Some(last) = self.sched.last {
            // ip_vs_rr_del_dest: a removed current position moves to its predecessor.
            if !sorted.iter().any(|n| (n.ip, n.port) == last) {
                let pos = self.dests.iter().position(|d| (d.ip, d.port) == last);
                let prev = pos.and_then(|p| self.dests[..p].iter().rev().find(|d| keep(d)));
                self.sched.last = prev.map(|d| (d.ip, d.port));
            }
        }
        self.dests.retain(|d| keep(d));
        for d in self.dests.iter_mut() {
            if let Some(n) = sorted.iter().find(|n| (n.ip, n.port) == (d.ip, d.port)) {
                d.index = n.index;
            }
        }
        for n in sorted {
            if !self.dests.iter().any(|d| (d.ip, d.port) == (n.ip, n.port)) {
                self.dests.insert(0, *n);
            }
        }
        let live = &self.dests;
        self.sched
            .active
            .retain(|k, _| live.iter().any(|d| (d.ip, d.port) == *k));
        self.sched
            .templates
            .retain(|_, (k, _)| live.iter().any(|d| (d.ip, d.port) == *k));
    }

    /// Picks a destination for a new connection from `src` (no random draws).
    pub fn schedule(&mut self, sched: Scheduler, src: Ipv4Addr, now_ns: u64) -> Option<Dest> {
        if self.dests.is_empty() {
            return None;
        }
        if let Some(timeout) = self.persistent {
            if let Some(&(k, exp)) = self.sched.templates.get(&src) {
                if now_ns < exp {
                    let d = *self.dests.iter().find(|d| (d.ip, d.port) == k)?;
                    let exp = now_ns + u64::from(timeout) * 1_000_000_000;
                    self.sched.templates.insert(src, (k, exp));
                    return Some(self.opened(d));
                }
            }
        }
        let n = self.dests.len();
        let d = match sched {
            Scheduler::Rr | Scheduler::Wrr => {
                let start = match self.sched.last {
                    None => 0,
                    Some(k) => self
                        .dests
                        .iter()
                        .position(|d| (d.ip, d.port) == k)
                        .map_or(0, |p| (p + 1) % n),
                };
                let d = self.dests[start];
                self.sched.last = Some((d.ip, d.port));
                d
            }
            Scheduler::Lc => {
                let load = |d: &Dest| {
                    let a = self.sched.active.get(&(d.ip, d.port)).copied().unwrap_or(0);
                    // ip_vs_dest_conn_overhead: active << 8 (+ inactive, not modelled).
                    u64::from(a) << 8
                };
                let mut best = self.dests[0];
                for d in &self.dests[1..] {
                    if load(d) < load(&best) {
                        best = *d;
                    }
                }
                best
            }
            // ip_vs_sh_reassign with every weight 1: bucket i holds destination i mod n.
            Scheduler::Sh => self.dests[sh_hashkey(src) % n],
        };
        if let Some(timeout) = self.persistent {
            let exp = now_ns + u64::from(timeout) * 1_000_000_000;
            self.sched.templates.insert(src, ((d.ip, d.port), exp));
        }
        Some(self.opened(d))
    }

    fn opened(&mut self, d: Dest) -> Dest {
        *self.sched.active.entry((d.ip, d.port)).or_insert(0) += 1;
        d
    }

    /// One connection to endpoint `index` ended: lc sees one active connection fewer.
    pub fn closed(&mut self, index: u32) {
        if let Some(d) = self.dests.iter().find(|d| d.index == index) {
            if let Some(c) = self.sched.active.get_mut(&(d.ip, d.port)) {
                *c = c.saturating_sub(1);
            }
        }
    }
}
