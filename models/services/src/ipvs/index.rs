//! What the fast IPVS evaluator keeps beside the ipsets and virtual servers so that a lookup
//! costs the same wall time at any number of Services (issue 3): every ipset entry in one hash
//! set, the `hash:ip,port,net` entries grouped by their (ip, proto, port) prefix, and the
//! virtual servers by address. Kept up to date entry by entry as syncs add and remove them;
//! the reference evaluator has none of it and answers from the sets and servers themselves.

use super::ipset::{Entry, SetId};
use super::rules::Members;
use super::table::VsKey;
use crate::model::Protocol;
use ipnet::Ipv4Net;
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, Default)]
pub struct FastIndex {
    entries: FxHashSet<(SetId, Entry)>,
    /// A source-range set's nets per (set, LB ip, proto, port): a match tests only those.
    nets: FxHashMap<(SetId, Ipv4Addr, Protocol, u16), SmallVec<[Ipv4Net; 2]>>,
    /// Virtual servers per address (one per port and protocol served there).
    by_addr: FxHashMap<Ipv4Addr, SmallVec<[VsKey; 2]>>,
}

impl FastIndex {
    /// `e` entered `set` (its first owner added it).
    pub fn entry_added(&mut self, set: SetId, e: Entry) {
        self.entries.insert((set, e));
        if let Entry::IpPortNet(a, p, n, net) = e {
            self.nets.entry((set, a, p, n)).or_default().push(net);
        }
    }

    /// `e` left `set` (its last owner removed it).
    pub fn entry_removed(&mut self, set: SetId, e: Entry) {
        self.entries.remove(&(set, e));
        if let Entry::IpPortNet(a, p, n, net) = e {
            let k = (set, a, p, n);
            if let Some(v) = self.nets.get_mut(&k) {
                v.retain(|x| *x != net);
                if v.is_empty() {
                    self.nets.remove(&k);
                }
            }
        }
    }

    pub fn vs_added(&mut self, k: VsKey) {
        self.by_addr.entry(k.addr).or_default().push(k);
    }

    pub fn vs_removed(&mut self, k: VsKey) {
        if let Some(v) = self.by_addr.get_mut(&k.addr) {
            v.retain(|x| *x != k);
            if v.is_empty() {
                self.by_addr.remove(&k.addr);
            }
        }
    }

    /// The virtual servers on `addr`, in no particular order.
    pub fn at(&self, addr: Ipv4Addr) -> &[VsKey] {
        self.by_addr.get(&addr).map_or(&[], |v| v.as_slice())
    }
}

impl Members for FastIndex {
    fn has(&self, set: SetId, e: &Entry) -> bool {
        self.entries.contains(&(set, *e))
    }
    fn net_has(&self, set: SetId, dst: Ipv4Addr, proto: Protocol, port: u16, src: Ipv4Addr) -> bool {
        self.nets
            .get(&(set, dst, proto, port))
            .is_some_and(|nets| nets.iter().any(|n| n.contains(&src)))
    }
}
