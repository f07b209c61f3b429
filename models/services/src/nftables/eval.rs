//! Walking a packet through the `ip kube-proxy` table as the kernel does: base chains in hook
//! and priority order, `jump`/`goto`/`return` with a call stack, verdict maps, `numgen`, the
//! masquerade mark and the affinity sets. One interpreter; what varies between the reference
//! and the fast evaluator is how a chain, set element or affinity entry is found (`Finder`).

use super::gen::*;
use super::ir::*;
use crate::model::*;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::net::Ipv4Addr;

/// Per affinity set: source address → expiry (ns). Elements are alive while `now < expiry`
/// (the kernel's `nft_set_elem_expired` treats `expiry <= now` as gone). Only ever looked up
/// by key, never iterated in an order that shows.
pub type Affinity = FxHashMap<String, FxHashMap<Ipv4Addr, u64>>;

/// How the evaluator finds things. The kernel resolves chain references at load time and
/// finds elements by hash; either way it is one "lookup" in `Work`, which the interpreter
/// counts, not the finder.
pub trait Finder {
    /// A chain by name (the base chains a hook starts from).
    fn chain<'a>(&self, t: &'a Tables, name: &str) -> Option<(&'a str, &'a Chain)>;
    /// The chain a jump, goto or verdict names.
    fn target<'a>(&self, t: &'a Tables, r: &ChainRef) -> Option<(&'a str, &'a Chain)>;
    fn element<'a>(&self, t: &'a Tables, container: &str, key: &Key) -> Option<&'a Element>;
    fn affinity_expiry(&self, a: &Affinity, set: &str, src: Ipv4Addr) -> Option<u64>;
}

/// Linear scans over everything: obviously right, O(n) per lookup.
pub struct Scan;

impl Finder for Scan {
    fn chain<'a>(&self, t: &'a Tables, name: &str) -> Option<(&'a str, &'a Chain)> {
        t.chains().find(|(n, _)| *n == name)
    }
    /// By name, ignoring the binding (which the fast finder is held to through this).
    fn target<'a>(&self, t: &'a Tables, r: &ChainRef) -> Option<(&'a str, &'a Chain)> {
        self.chain(t, &r.name)
    }
    fn element<'a>(&self, t: &'a Tables, container: &str, key: &Key) -> Option<&'a Element> {
        let (_, c) = t.containers.iter().find(|(n, _)| *n == container)?;
        c.elements.iter().find(|(k, _)| *k == key).map(|(_, e)| e)
    }
    fn affinity_expiry(&self, a: &Affinity, set: &str, src: Ipv4Addr) -> Option<u64> {
        let (_, m) = a.iter().find(|(n, _)| *n == set)?;
        m.iter().find(|(k, _)| **k == src).map(|(_, v)| *v)
    }
}

/// Hash lookups and bound chain references: O(1) per lookup, whatever the number of
/// Services.
pub struct Indexed;

impl Finder for Indexed {
    fn chain<'a>(&self, t: &'a Tables, name: &str) -> Option<(&'a str, &'a Chain)> {
        t.chain(name)
    }
    fn target<'a>(&self, t: &'a Tables, r: &ChainRef) -> Option<(&'a str, &'a Chain)> {
        t.at(r.slot().expect("chain references are bound when added to the table"))
    }
    fn element<'a>(&self, t: &'a Tables, container: &str, key: &Key) -> Option<&'a Element> {
        t.containers.get(container)?.elements.get(key)
    }
    fn affinity_expiry(&self, a: &Affinity, set: &str, src: Ipv4Addr) -> Option<u64> {
        a.get(set)?.get(&src).copied()
    }
}

/// Where a verdict sends the walk: a chain of the table, as the rule or element that holds
/// the reference names it (borrowed, so following a verdict allocates nothing).
enum Next<'a> {
    Goto(&'a ChainRef),
    Drop,
}

impl<'a> Next<'a> {
    fn of(v: &'a ElemVerdict) -> Next<'a> {
        match v {
            ElemVerdict::Goto(c) => Next::Goto(c),
            ElemVerdict::Drop => Next::Drop,
        }
    }
}

/// How a base chain's evaluation ended.
enum Exit {
    /// Fell off the end or hit `return` at the bottom: the policy (accept).
    Accept,
    Dnat,
    Masquerade,
    Done(Decision),
}

struct Walk<'a, F: Finder> {
    t: &'a Tables,
    f: &'a F,
    node: &'a NodeView,
    aff: &'a mut Affinity,
    now_ns: u64,
    rng: &'a mut dyn RandomSource,
    trace: Option<&'a mut Vec<TraceStep>>,
    work: Work,
    saddr: Ipv4Addr,
    daddr: Ipv4Addr,
    dport: u16,
    proto: Protocol,
    mark: u32,
    /// The owner of the last element a lookup hit: whom a later reject or drop is about.
    owner: Option<Owner>,
    dnat: Option<Decision>,
}

fn step(chain: &str, rule: u32, text: String) -> TraceStep {
    TraceStep {
        table: TABLE.into(),
        chain: chain.into(),
        rule,
        text,
    }
}

impl<'a, F: Finder> Walk<'a, F> {
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.node.node_ips.contains(&ip)
    }

    fn record(&mut self, s: impl FnOnce() -> TraceStep) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.push(s());
        }
    }

    fn set_has(&mut self, set: &str, key: Key) -> bool {
        self.work.map_lookups += 1;
        match self.f.element(self.t, set, &key) {
            Some(e) => {
                if e.owner.service != NO_SERVICE {
                    self.owner = Some(e.owner);
                }
                true
            }
            None => false,
        }
    }

    fn test(&mut self, m: &Match) -> bool {
        match m {
            Match::CtStateNew => true,
            Match::DaddrEq(a) => self.daddr == *a,
            Match::SaddrEq(a) => self.saddr == *a,
            Match::SaddrInNet(n) => n.contains(&self.saddr),
            Match::SaddrNotInNet(n) => !n.contains(&self.saddr),
            Match::SaddrNotInAnon(v) => {
                self.work.map_lookups += 1;
                !v.iter().any(|s| match s.parse::<ipnet::Ipv4Net>() {
                    Ok(n) => n.contains(&self.saddr),
                    Err(_) => s.parse::<Ipv4Addr>().is_ok_and(|a| a == self.saddr),
                })
            }
            Match::DaddrInSet(s) => self.set_has(s, Key::Addr(self.daddr)),
            Match::SaddrInSet(s) => {
                self.work.map_lookups += 1;
                let exp = self.f.affinity_expiry(self.aff, s, self.saddr);
                exp.is_some_and(|e| self.now_ns < e)
            }
            Match::FibSaddrLocal => self.is_local(self.saddr),
            Match::L4Proto(p) => self.proto == *p,
            Match::MarkClear(m) => self.mark & m == 0,
        }
    }

    fn run(&mut self, base: &str) -> Exit {
        let (t, f) = (self.t, self.f);
        let target_of = |r: &ChainRef| {
            f.target(t, r)
                .unwrap_or_else(|| panic!("chain {r} is referenced but does not exist"))
        };
        // kube-proxy's chains jump at most two deep: inline, so a walk does not allocate. The
        // caller's chain rides on the stack, so a return looks nothing up.
        let mut stack: SmallVec<[(&'a str, &'a Chain, usize); 4]> = SmallVec::new();
        let (mut name, mut chain) = f.chain(t, base).expect("base chain exists");
        let mut next = 0usize;
        loop {
            let Some(rule) = chain.rules.get(next) else {
                match stack.pop() {
                    Some(caller) => {
                        (name, chain, next) = caller;
                        continue;
                    }
                    None => return Exit::Accept,
                }
            };
            next += 1;
            self.work.rules_evaluated += 1;
            if !rule.matches.iter().all(|m| self.test(m)) {
                continue;
            }
            let rule_no = next as u32;
            let target = match &rule.action {
                Action::VmapDest(m) => {
                    let key = Key::Dest(self.daddr, self.proto, self.dport);
                    match self.vmap_rule(name, rule_no, rule, m, key) {
                        Some(v) => v,
                        None => continue,
                    }
                }
                Action::VmapPort(m) => {
                    let key = Key::Port(self.proto, self.dport);
                    match self.vmap_rule(name, rule_no, rule, m, key) {
                        Some(v) => v,
                        None => continue,
                    }
                }
                other => {
                    self.record(|| step(name, rule_no, rule.text()));
                    match other {
                        Action::Jump(c) => {
                            stack.push((name, chain, next));
                            Next::Goto(c)
                        }
                        Action::Goto(c) => Next::Goto(c),
                        Action::Return => match stack.pop() {
                            Some(caller) => {
                                (name, chain, next) = caller;
                                continue;
                            }
                            None => return Exit::Accept,
                        },
                        Action::Drop => {
                            let o = self.owner.expect("firewall drop after a firewall-ips hit");
                            return Exit::Done(Decision::Drop {
                                service: o.service,
                                port: o.port,
                                reason: DropReason::SourceRangeDenied,
                            });
                        }
                        Action::Reject => {
                            let o = self.owner.expect("reject after a map or set hit");
                            // reject-chain serves the no-endpoint maps; cluster-ips-check a
                            // ClusterIP hit on none of its ports (the owner has NO_PORT).
                            let reason = if name == CLUSTER_IPS_CHECK {
                                RejectReason::InvalidPort
                            } else {
                                RejectReason::NoEndpoints
                            };
                            return Exit::Done(Decision::Reject {
                                service: o.service,
                                port: o.port,
                                reason,
                            });
                        }
                        Action::Numgen(chains) => {
                            assert!(!chains.is_empty(), "numgen over no endpoints");
                            let draw = self.rng.next_u32();
                            self.work.random_draws += 1;
                            self.work.map_lookups += 1;
                            // nft_ng_random_gen: reciprocal_scale(get_random_u32(), modulus).
                            let i = ((u64::from(draw) * chains.len() as u64) >> 32) as usize;
                            let c = &chains[i];
                            self.record(|| step(name, 0, format!("{i} : goto {c}")));
                            Next::Goto(c)
                        }
                        Action::MarkOr(m) => {
                            self.mark |= m;
                            continue;
                        }
                        Action::MarkXor(m) => {
                            self.mark ^= m;
                            continue;
                        }
                        Action::Masquerade => return Exit::Masquerade,
                        Action::UpdateAffinity(set) => {
                            self.work.map_lookups += 1;
                            let timeout = t
                                .containers
                                .get(set)
                                .and_then(|c| c.timeout_s)
                                .expect("affinity set with a timeout");
                            let exp = self.now_ns + u64::from(timeout) * 1_000_000_000;
                            match self.aff.get_mut(set.as_str()) {
                                Some(m) => m.insert(self.saddr, exp),
                                None => self.aff.entry(set.clone()).or_default().insert(self.saddr, exp),
                            };
                            continue;
                        }
                        Action::DnatTo { ip, port, owner, index } => {
                            self.dnat = Some(Decision::Dnat {
                                service: owner.service,
                                port: owner.port,
                                index: *index,
                                ip: *ip,
                                dport: *port,
                            });
                            self.daddr = *ip;
                            self.dport = *port;
                            return Exit::Dnat;
                        }
                        Action::VmapDest(_) | Action::VmapPort(_) => unreachable!("handled above"),
                    }
                }
            };
            match target {
                Next::Goto(c) => {
                    (name, chain) = target_of(c);
                    next = 0;
                }
                Next::Drop => {
                    let o = self.owner.expect("drop element has an owner");
                    return Exit::Done(Decision::Drop {
                        service: o.service,
                        port: o.port,
                        reason: DropReason::NoLocalEndpoints,
                    });
                }
            }
        }
    }

    fn vmap_rule(&mut self, chain: &str, rule_no: u32, rule: &Rule, map: &str, key: Key) -> Option<Next<'a>> {
        self.work.map_lookups += 1;
        let e = self.f.element(self.t, map, &key)?;
        self.owner = Some(e.owner);
        let v = e.value.as_ref().expect("verdict map element has a verdict");
        self.record(|| step(chain, rule_no, rule.text()));
        self.record(|| step(map, 0, element_text(&key, e)));
        Some(Next::of(v))
    }
}

/// The first packet of a connection through every hook it meets, and the verdict.
#[allow(clippy::too_many_arguments)]
pub fn lookup<F: Finder>(
    t: &Tables,
    f: &F,
    node: &NodeView,
    aff: &mut Affinity,
    pkt: &Packet,
    origin: Origin,
    now_ns: u64,
    rng: &mut dyn RandomSource,
    trace: Option<&mut Vec<TraceStep>>,
) -> Verdict {
    let mut w = Walk {
        t,
        f,
        node,
        aff,
        now_ns,
        rng,
        trace,
        work: Work::default(),
        saddr: pkt.src,
        daddr: pkt.dst,
        dport: pkt.dport,
        proto: pkt.proto,
        mark: 0,
        owner: None,
        dnat: None,
    };
    let host = origin == Origin::Host;
    // At most six hooks (the host's loopback path): inline, no allocation.
    let mut hooks: SmallVec<[&str; 6]> = if host {
        SmallVec::from_slice(&[FILTER_OUTPUT_PRE_DNAT, NAT_OUTPUT, FILTER_OUTPUT])
    } else {
        SmallVec::from_slice(&[FILTER_PREROUTING_PRE_DNAT, NAT_PREROUTING])
    };
    let mut masquerade = false;
    let mut i = 0;
    while i < hooks.len() {
        let hook = hooks[i];
        i += 1;
        match w.run(hook) {
            Exit::Done(d) => {
                return Verdict {
                    decision: d,
                    masquerade: false,
                    work: w.work,
                }
            }
            Exit::Masquerade => masquerade = true,
            Exit::Accept | Exit::Dnat => {}
        }
        // Routing after the DNAT hooks decides where the packet goes next.
        if hook == NAT_PREROUTING {
            let next = if w.is_local(w.daddr) {
                FILTER_INPUT
            } else {
                FILTER_FORWARD
            };
            hooks.extend([next, NAT_POSTROUTING]);
        } else if hook == FILTER_OUTPUT {
            hooks.push(NAT_POSTROUTING);
            if w.is_local(w.daddr) {
                // Loopback delivery: the packet comes back in through prerouting and input.
                // NAT was already set up on the way out, so only the filter hooks run.
                hooks.extend([FILTER_PREROUTING_PRE_DNAT, FILTER_INPUT]);
            }
        }
    }
    Verdict {
        decision: w.dnat.unwrap_or(Decision::NotAService),
        masquerade,
        work: w.work,
    }
}
