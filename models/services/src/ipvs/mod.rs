//! kube-proxy's IPVS mode: owns the virtual and real servers a node holds (one virtual server
//! per ClusterIP, external IP, load-balancer IP and node IP × NodePort, as kube-proxy's IPVS
//! proxier programs them), the kernel's 256-bucket service table and schedulers (`table`), the
//! iptables rules and ipsets the mode still needs (`rules`), syncs, and two evaluators.
//!
//! The reference (`Ipvs::new_reference`) finds a virtual server by scanning all of them and
//! derives the chain steps from insertion order, and answers ipset matches from the sets. The
//! fast one (`Ipvs::new_fast`) counts the same steps of `__ip_vs_service_find`'s bucket chain
//! from each server's kept position, and answers from a hash index (`index`): its wall time
//! does not grow with the number of Services, though the kernel work it reports does.

mod gen;
mod index;
mod ipset;
mod rules;
mod table;
#[cfg(test)]
mod tests;

pub use table::{sh_hashkey, svc_hashkey, Dest, Scheduler, VirtualServer, VsKey, SVC_TAB_SIZE};

use crate::model::*;
use gen::{service_frag, Frag};
use index::FastIndex;
use rules::{Entry, Exit, Members, Pkt, SetId, Sets};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsConfig {
    /// `--ipvs-scheduler` (rr when empty).
    pub scheduler: Scheduler,
    /// `1 << --masquerade-bit`.
    pub masquerade_mark: u32,
    /// The netns pointer bits `ip_vs_svc_hashkey` mixes in (see `svc_hashkey`).
    pub netns_salt: u32,
}

impl Default for IpvsConfig {
    fn default() -> Self {
        IpvsConfig {
            scheduler: Scheduler::Rr,
            masquerade_mark: 0x4000,
            netns_salt: 0,
        }
    }
}

fn proto_flag(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
    }
}

fn vs_line(v: &VirtualServer, sched: Scheduler) -> String {
    let k = &v.key;
    let mut s = format!("-A {} {}:{} -s {}", proto_flag(k.proto), k.addr, k.port, sched.name());
    if let Some(t) = v.persistent {
        let _ = write!(s, " -p {t}");
    }
    s
}

fn dest_line(k: &VsKey, d: &Dest) -> String {
    format!(
        "-a {} {}:{} -r {}:{} -m -w 1",
        proto_flag(k.proto),
        k.addr,
        k.port,
        d.ip,
        d.port
    )
}

/// The IPVS datapath of one node.
pub struct Ipvs {
    /// Some for the fast evaluator.
    index: Option<FastIndex>,
    cfg: IpvsConfig,
    node: Option<NodeView>,
    /// Found by key, or scanned for a unique key or a count; never iterated for an order
    /// (the table order is `buckets`).
    vs: FxHashMap<VsKey, VirtualServer>,
    /// `ip_vs_svc_table`: per bucket, keys oldest first (the chain head is the last).
    buckets: Vec<Vec<VsKey>>,
    seq: u64,
    sets: Sets,
    chains: rules::Chains,
    frags: Vec<Frag>,
}

/// Local addresses: the node's, loopback, and everything bound on kube-ipvs0.
fn is_local(node: &NodeView, sets: &dyn Members, ip: Ipv4Addr) -> bool {
    ip.is_loopback() || node.node_ips.contains(&ip) || sets.has(SetId::IPVS_IPS, &Entry::Ip(ip))
}

/// What the rules walk asks about ipsets: the fast index, or the sets themselves. (Of two
/// fields, not `&Ipvs`, so a lookup can still schedule on `vs` meanwhile.)
fn members<'a>(index: &'a Option<FastIndex>, sets: &'a Sets) -> &'a dyn Members {
    match index {
        Some(ix) => ix,
        None => sets,
    }
}

fn wrote(stats: &mut SyncStats, line: &str) {
    stats.objects_written += 1;
    stats.bytes_written += line.len() as u64 + 1;
}

impl Ipvs {
    /// Finds virtual servers by scanning them all (the definition the fast one is held to).
    pub fn new_reference(cfg: IpvsConfig) -> Ipvs {
        Ipvs::new(false, cfg)
    }

    /// Walks the bucket chain, as the kernel does.
    pub fn new_fast(cfg: IpvsConfig) -> Ipvs {
        Ipvs::new(true, cfg)
    }

    fn new(fast: bool, cfg: IpvsConfig) -> Ipvs {
        Ipvs {
            index: fast.then(FastIndex::default),
            cfg,
            node: None,
            vs: FxHashMap::default(),
            buckets: vec![Vec::new(); SVC_TAB_SIZE],
            seq: 0,
            sets: rules::empty_sets(),
            chains: BTreeMap::new(),
            frags: Vec::new(),
        }
    }

    /// The virtual server for a key, if programmed.
    pub fn virtual_server(&self, key: &VsKey) -> Option<&VirtualServer> {
        self.vs.get(key)
    }

    pub fn virtual_server_count(&self) -> usize {
        self.vs.len()
    }

    /// Keys in one bucket, chain head first.
    pub fn bucket(&self, b: usize) -> impl Iterator<Item = &VsKey> {
        self.buckets[b].iter().rev()
    }

    /// A connection that `lookup` sent to endpoint `endpoint` (from the packet `original`, as
    /// it was before translation) has ended: the lc scheduler counts it no more. The
    /// original packet names the virtual server, whose destinations keep their own counts.
    pub fn connection_closed(&mut self, original: &Packet, endpoint: u32) {
        let key = VsKey {
            proto: original.proto,
            addr: original.dst,
            port: original.dport,
        };
        if let Some(v) = self.vs.get_mut(&key) {
            v.closed(endpoint);
        }
    }

    /// The iptables rules IPVS mode keeps, in `iptables-restore` format.
    pub fn dump_iptables(&self) -> String {
        rules::render_chains(&self.chains)
    }

    /// The ipsets, in `ipset save` format.
    pub fn dump_ipsets(&self) -> String {
        rules::render_sets(&self.sets)
    }

    /// Programs `f`; `prev` is what the Service had before (its entries are not rewritten).
    fn add_frag(&mut self, f: &Frag, prev: &Frag, stats: &mut SyncStats) {
        for (set, e) in &f.entries {
            let c = self.sets.get_mut(set).expect("known ipset").entry(*e).or_insert(0);
            *c += 1;
            if *c == 1 {
                if let Some(ix) = &mut self.index {
                    ix.entry_added(SetId::of(set), *e);
                }
                if !prev.entries.contains(&(set, *e)) {
                    wrote(stats, &format!("add {set} {}", e.render()));
                }
            }
        }
        for spec in &f.vs {
            let k = spec.key;
            if !self.vs.contains_key(&k) {
                self.seq += 1;
                let bucket = svc_hashkey(k.proto, k.addr, k.port, self.cfg.netns_salt);
                let pos = self.buckets[bucket].len();
                self.buckets[bucket].push(k);
                if let Some(ix) = &mut self.index {
                    ix.vs_added(k);
                }
                let v = VirtualServer {
                    key: k,
                    service: spec.service,
                    port: spec.port,
                    persistent: spec.persistent,
                    dests: Vec::new(),
                    seq: self.seq,
                    bucket,
                    pos,
                    sched: Default::default(),
                };
                wrote(stats, &vs_line(&v, self.cfg.scheduler));
                self.vs.insert(k, v);
            }
            let v = self.vs.get_mut(&k).expect("just ensured");
            if (v.service, v.port, v.persistent) != (spec.service, spec.port, spec.persistent) {
                (v.service, v.port, v.persistent) = (spec.service, spec.port, spec.persistent);
                wrote(stats, &vs_line(v, self.cfg.scheduler));
            }
            let before: Vec<(Ipv4Addr, u16)> = v.dests.iter().map(|d| (d.ip, d.port)).collect();
            v.set_dests(&spec.dests);
            for d in &v.dests {
                if !before.contains(&(d.ip, d.port)) {
                    wrote(stats, &dest_line(&k, d));
                }
            }
            for (ip, port) in before {
                if !v.dests.iter().any(|d| (d.ip, d.port) == (ip, port)) {
                    let vip = format!("{}:{}", k.addr, k.port);
                    wrote(stats, &format!("-d {} {vip} -r {ip}:{port}", proto_flag(k.proto)));
                }
            }
        }
    }

    fn remove_frag(&mut self, f: &Frag, keep: &Frag, stats: &mut SyncStats) {
        for (set, e) in &f.entries {
            let m = self.sets.get_mut(set).expect("known ipset");
            if let Some(c) = m.get_mut(e) {
                *c -= 1;
                if *c == 0 {
                    m.remove(e);
                    if let Some(ix) = &mut self.index {
                        ix.entry_removed(SetId::of(set), *e);
                    }
                    if !keep.entries.contains(&(set, *e)) {
                        wrote(stats, &format!("del {set} {}", e.render()));
                    }
                }
            }
        }
        for spec in &f.vs {
            let gone = !keep.vs.iter().any(|n| n.key == spec.key);
            let owned = self.vs.get(&spec.key).is_some_and(|v| v.service == spec.service);
            if gone && owned {
                let v = self.vs.remove(&spec.key).expect("present");
                // Unlinked from its chain: the newer servers of the bucket move down one.
                let chain = &mut self.buckets[v.bucket];
                chain.remove(v.pos);
                for k in &chain[v.pos..] {
                    self.vs.get_mut(k).expect("chained servers exist").pos -= 1;
                }
                if let Some(ix) = &mut self.index {
                    ix.vs_removed(v.key);
                }
                let k = &v.key;
                wrote(stats, &format!("-D {} {}:{}", proto_flag(k.proto), k.addr, k.port));
            }
        }
    }

    fn rebuild_chains(&mut self, stats: &mut SyncStats) {
        let node = self.node.as_ref().expect("synced");
        self.chains = rules::build_chains(&self.sets, node.cluster_cidr, self.cfg.masquerade_mark);
        // kube-proxy restores its iptables rules whole on every sync.
        let text = rules::render_chains(&self.chains);
        for line in text.lines() {
            wrote(stats, line);
        }
    }

    /// `__ip_vs_service_find`: the virtual server for the packet and the chain steps taken.
    fn find(&self, key: &VsKey, work: &mut Work) -> Option<VsKey> {
        let b = svc_hashkey(key.proto, key.addr, key.port, self.cfg.netns_salt);
        if self.index.is_some() {
            // The steps of the walk from the chain head, without taking them.
            let (found, steps) = match self.vs.get(key) {
                Some(v) => (Some(v.key), self.buckets[b].len() - v.pos),
                None => (None, self.buckets[b].len()),
            };
            work.hash_probes += steps as u32;
            found
        } else {
            let found = self.vs.values().find(|v| v.key == *key);
            let in_bucket = |v: &&VirtualServer| v.bucket == b;
            let steps = match found {
                Some(f) => 1 + self.vs.values().filter(in_bucket).filter(|v| v.seq > f.seq).count(),
                None => self.vs.values().filter(in_bucket).count(),
            };
            work.hash_probes += steps as u32;
            found.map(|v| v.key)
        }
    }

    /// What a filter-table DROP or REJECT means: only KUBE-SOURCE-RANGES-FIREWALL drops, and
    /// only KUBE-IPVS-FILTER rejects (a bound address on a port no virtual server has).
    fn filter_verdict(&self, exit: &Exit, dst: Ipv4Addr, key: &VsKey) -> Option<Decision> {
        match exit {
            Exit::Drop => {
                let (service, port) = self.owner_of(dst, key);
                let reason = DropReason::SourceRangeDenied;
                Some(Decision::Drop { service, port, reason })
            }
            Exit::Reject => {
                let (service, _) = self.owner_of(dst, key);
                let reason = RejectReason::InvalidPort;
                Some(Decision::Reject {
                    service,
                    port: NO_PORT,
                    reason,
                })
            }
            _ => None,
        }
    }

    /// The service a packet to a bound address belongs to, for a REJECT or DROP verdict.
    fn owner_of(&self, dst: Ipv4Addr, key: &VsKey) -> (u32, u32) {
        if let Some(v) = self.vs.get(key) {
            return (v.service, v.port);
        }
        let s = match &self.index {
            Some(ix) => ix.at(dst).iter().map(|k| self.vs[k].service).min(),
            None => self.vs.values().filter(|v| v.key.addr == dst).map(|v| v.service).min(),
        };
        (s.unwrap_or(NO_SERVICE), NO_PORT)
    }
}

impl ServiceDatapath for Ipvs {
    fn mode(&self) -> Mode {
        Mode::Ipvs
    }

    fn full_sync(&mut self, set: &ServiceSet, node: &NodeView) -> SyncStats {
        set.assert_consistent();
        let cfg = self.cfg.clone();
        *self = Ipvs::new(self.index.is_some(), cfg);
        self.node = Some(node.clone());
        let mut stats = SyncStats::default();
        // kube-proxy adds virtual servers as it meets them; Service order stands in for its
        // map order, so the bucket chains are deterministic.
        let frags: Vec<Frag> = (0..set.services.len()).map(|s| service_frag(set, s, node)).collect();
        for f in &frags {
            self.add_frag(f, &Frag::default(), &mut stats);
        }
        self.frags = frags;
        self.rebuild_chains(&mut stats);
        stats
    }

    fn partial_sync(&mut self, set: &ServiceSet, node: &NodeView, changed: &[usize]) -> SyncStats {
        set.assert_consistent();
        if self.node.as_ref() != Some(node) || set.services.len() != self.frags.len() {
            return self.full_sync(set, node);
        }
        let mut stats = SyncStats::default();
        let changed: BTreeSet<usize> = changed.iter().copied().collect();
        for s in changed {
            assert!(s < set.services.len(), "changed service {s} out of range");
            let new = service_frag(set, s, node);
            let old = std::mem::take(&mut self.frags[s]);
            self.remove_frag(&old, &new, &mut stats);
            self.add_frag(&new, &old, &mut stats);
            self.frags[s] = new;
        }
        self.rebuild_chains(&mut stats);
        stats
    }

    fn lookup(
        &mut self,
        pkt: &Packet,
        origin: Origin,
        now_ns: u64,
        _rng: &mut dyn RandomSource,
        mut trace: Option<&mut Vec<TraceStep>>,
    ) -> Verdict {
        let node = self.node.as_ref().expect("lookup before full_sync");
        let mut work = Work::default();
        let sets = members(&self.index, &self.sets);
        let is_local = |ip: Ipv4Addr| is_local(node, sets, ip);
        let mut p = Pkt {
            src: pkt.src,
            dst: pkt.dst,
            dport: pkt.dport,
            proto: pkt.proto,
            mark: 0,
            is_local: &is_local,
        };
        let key = VsKey {
            proto: pkt.proto,
            addr: pkt.dst,
            port: pkt.dport,
        };
        let c = &self.chains;
        let host = origin == Origin::Host;
        let nat_in = if host { "OUTPUT" } else { "PREROUTING" };
        let _ = rules::walk(c, sets, "nat", nat_in, &mut p, &mut work, trace.as_deref_mut());
        let local = (p.is_local)(p.dst);
        let done = |d: Decision, work: Work| Verdict {
            decision: d,
            masquerade: false,
            work,
        };
        // Non-host traffic to a local address meets the filter INPUT chain before IPVS
        // (priority 0 < NF_IP_PRI_NAT_SRC - 2); traffic that is not local is forwarded.
        if !host {
            let chain = if local { "INPUT" } else { "FORWARD" };
            let exit = rules::walk(c, sets, "filter", chain, &mut p, &mut work, trace.as_deref_mut());
            if let Some(d) = self.filter_verdict(&exit, pkt.dst, &key) {
                return done(d, work);
            }
            if !local {
                let masq = matches!(
                    rules::walk(c, sets, "nat", "POSTROUTING", &mut p, &mut work, trace),
                    Exit::Masquerade
                );
                return Verdict {
                    decision: Decision::NotAService,
                    masquerade: masq,
                    work,
                };
            }
        }
        // IPVS: LOCAL_IN for arriving traffic, LOCAL_OUT for the host's own.
        let found = self.find(&key, &mut work);
        let mut decision = Decision::NotAService;
        if let Some(k) = found {
            let sched = self.cfg.scheduler;
            let v = self.vs.get_mut(&k).expect("found");
            match v.schedule(sched, pkt.src, now_ns) {
                Some(d) => {
                    if let Some(t) = trace.as_deref_mut() {
                        t.push(TraceStep {
                            table: "ipvs".into(),
                            chain: vs_line(v, sched),
                            rule: 0,
                            text: dest_line(&k, &d),
                        });
                    }
                    decision = Decision::Dnat {
                        service: v.service,
                        port: v.port,
                        index: d.index,
                        ip: d.ip,
                        dport: d.port,
                    };
                    p.dst = d.ip;
                    p.dport = d.port;
                }
                None => {
                    let (service, port) = (v.service, v.port);
                    let reason = RejectReason::NoEndpoints;
                    return done(Decision::Reject { service, port, reason }, work);
                }
            }
        }
        let c = &self.chains;
        if host {
            let out = rules::walk(c, sets, "filter", "OUTPUT", &mut p, &mut work, trace.as_deref_mut());
            if let Some(d) = self.filter_verdict(&out, pkt.dst, &key) {
                return done(d, work);
            }
        } else if found.is_some() {
            // ip_vs_nat_xmit sends the translated packet through LOCAL_OUT.
            let _ = rules::walk(c, sets, "filter", "OUTPUT", &mut p, &mut work, trace.as_deref_mut());
        } else {
            // Delivered to the host itself: no postrouting.
            return done(decision, work);
        }
        let local_now = (p.is_local)(p.dst);
        let post = rules::walk(c, sets, "nat", "POSTROUTING", &mut p, &mut work, trace.as_deref_mut());
        let masquerade = matches!(post, Exit::Masquerade);
        if host && found.is_none() && local_now {
            // Loopback: back in through the filter INPUT chain; IPVS looks again at LOCAL_IN.
            let exit = rules::walk(c, sets, "filter", "INPUT", &mut p, &mut work, trace);
            if let Some(d) = self.filter_verdict(&exit, pkt.dst, &key) {
                return done(d, work);
            }
            let _ = self.find(&key, &mut work);
        }
        Verdict {
            decision,
            masquerade,
            work,
        }
    }

    /// `ipvsadm -Sn`: services in table order (bucket by bucket, chain head first), each
    /// followed by its real servers in `svc->destinations` order.
    fn dump(&self) -> String {
        let mut out = String::new();
        for b in 0..SVC_TAB_SIZE {
            for k in self.buckets[b].iter().rev() {
                let v = &self.vs[k];
                out.push_str(&vs_line(v, self.cfg.scheduler));
                out.push('\n');
                for d in &v.dests {
                    out.push_str(&dest_line(k, d));
                    out.push('\n');
                }
            }
        }
        out
    }
}
