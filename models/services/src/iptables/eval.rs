//! Walking a packet through the tables as netfilter does: the nat table at PREROUTING (or
//! OUTPUT for the host), the routing decision, the filter table at INPUT / FORWARD / OUTPUT,
//! and nat POSTROUTING for packets that leave. Every rule visited counts as evaluated; a jump
//! enters a chain and RETURN or the end of a chain resumes the caller; built-in chains end in
//! policy ACCEPT. A `statistic` match draws one random number each time it is tested.
//!
//! The walk is shared by both evaluators; they differ only in which rules of a chain they
//! visit (`Candidates`): the reference tests every rule, the fast one skips rules its index
//! proves cannot match, and still counts them.

use super::generate::Ruleset;
use super::recent::RecentState;
use super::rule::*;
use crate::model::*;
use smallvec::SmallVec;
use std::net::Ipv4Addr;

/// A packet's state as the tables see it.
#[derive(Clone, Copy, Debug)]
pub struct PktState {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub dport: u16,
    pub proto: Protocol,
    pub mark: u32,
    pub ct: u8,
    pub origin: Origin,
}

/// Which rules of a chain to test; the rest provably do not match.
pub trait Candidates {
    /// Fills `out` with increasing rule positions and returns true, or returns false to test
    /// every rule.
    fn candidates(&self, table: &Table, chain: u32, pkt: &PktState, out: &mut SmallVec<[u32; 16]>) -> bool;
}

/// Test every rule: the kernel's linear walk.
pub struct Linear;

impl Candidates for Linear {
    fn candidates(&self, _: &Table, _: u32, _: &PktState, _: &mut SmallVec<[u32; 16]>) -> bool {
        false
    }
}

pub struct Ctx<'a> {
    pub rs: &'a Ruleset,
    pub recent: &'a mut RecentState,
    pub now_ns: u64,
    pub rng: &'a mut dyn RandomSource,
    pub work: Work,
    pub trace: Option<&'a mut Vec<TraceStep>>,
}

enum Flow {
    Continue,
    Stop(Stop),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Accept,
    Drop(Cause),
    Reject(Cause),
    Dnat(Decision),
    Masquerade,
}

impl Ctx<'_> {
    fn matches(&mut self, table: &Table, m: &Match, p: &PktState) -> bool {
        match *m {
            Match::Proto(pr) => p.proto == pr,
            Match::Src { net, negated } => net.contains(&p.src) != negated,
            Match::Dst { net, negated } => net.contains(&p.dst) != negated,
            Match::Dport(d) => p.dport == d,
            Match::DstTypeLocal => self.rs.is_local(p.dst),
            // A host process's packet carries one of the node's own addresses as its source.
            Match::SrcTypeLocal => p.origin == Origin::Host || self.rs.is_local(p.src),
            Match::Mark { value, mask, negated } => (p.mark & mask == value) != negated,
            Match::CtState { states, negated } => (p.ct & states != 0) != negated,
            Match::Statistic { probability } => {
                self.work.random_draws += 1;
                (self.rng.next_u32() & 0x7FFF_FFFF) < probability
            }
            Match::RecentSet { chain } => self.recent.set(&table.chains[chain as usize].name, p.src, self.now_ns),
            Match::RecentCheck { chain, seconds } => {
                self.recent
                    .rcheck_reap(&table.chains[chain as usize].name, p.src, self.now_ns, seconds)
            }
            Match::Nfacct => true,
        }
    }

    fn walk(&mut self, table: &Table, chain: u32, p: &mut PktState, cands: &dyn Candidates) -> Flow {
        let c = &table.chains[chain as usize];
        let len = c.rules.len() as u32;
        let mut list: SmallVec<[u32; 16]> = SmallVec::new();
        let indexed = cands.candidates(table, chain, p, &mut list);
        let mut next = 0u32;
        let mut k = 0usize;
        loop {
            let pos = if indexed {
                match list.get(k) {
                    Some(&x) => x,
                    None => break,
                }
            } else if next < len {
                next
            } else {
                break;
            };
            k += 1;
            debug_assert!(pos >= next && pos < len, "candidates increase within the chain");
            // Rules the index skipped were still tested by the kernel and failed.
            self.work.rules_evaluated += pos - next + 1;
            next = pos + 1;
            let rule = &c.rules[pos as usize];
            if !table.matches(rule).iter().all(|m| self.matches(table, m, p)) {
                continue;
            }
            if let Some(t) = self.trace.as_deref_mut() {
                t.push(TraceStep {
                    table: table.name.to_string(),
                    chain: c.name.to_string(),
                    rule: pos + 1,
                    text: rule.text.to_string(),
                });
            }
            match rule.target {
                Target::None => {}
                Target::Jump(to) => {
                    if let Flow::Stop(s) = self.walk(table, to, p, cands) {
                        return Flow::Stop(s);
                    }
                }
                Target::Return => return Flow::Continue,
                Target::Accept => return Flow::Stop(Stop::Accept),
                Target::Drop(cause) => return Flow::Stop(Stop::Drop(cause)),
                Target::Reject(cause) => return Flow::Stop(Stop::Reject(cause)),
                Target::Dnat {
                    ip,
                    port,
                    service,
                    svc_port,
                    endpoint,
                } => {
                    p.dst = ip;
                    p.dport = port;
                    p.ct |= CT_DNAT;
                    return Flow::Stop(Stop::Dnat(Decision::Dnat {
                        service,
                        port: svc_port,
                        index: endpoint,
                        ip,
                        dport: port,
                    }));
                }
                Target::MarkOr(m) => p.mark |= m,
                Target::MarkXor(m) => p.mark ^= m,
                Target::Masquerade => return Flow::Stop(Stop::Masquerade),
            }
        }
        self.work.rules_evaluated += len - next;
        Flow::Continue
    }
}

fn builtin(t: &Table, name: &str) -> u32 {
    t.find(name).expect("built-in chains always exist")
}

/// Looks up the first packet of a connection through `rs`: `ServiceDatapath::lookup`'s
/// arguments plus the engine's state and candidate policy, kept flat so both engines call it
/// the same way.
#[allow(clippy::too_many_arguments)]
pub fn lookup(
    rs: &Ruleset,
    recent: &mut RecentState,
    cands: &dyn Candidates,
    pkt: &Packet,
    origin: Origin,
    now_ns: u64,
    rng: &mut dyn RandomSource,
    trace: Option<&mut Vec<TraceStep>>,
) -> Verdict {
    let mut ctx = Ctx {
        rs,
        recent,
        now_ns,
        rng,
        work: Work::default(),
        trace,
    };
    let mut p = PktState {
        src: pkt.src,
        dst: pkt.dst,
        dport: pkt.dport,
        proto: pkt.proto,
        mark: 0,
        ct: CT_NEW,
        origin,
    };
    let nat_hook = if origin == Origin::Host { "OUTPUT" } else { "PREROUTING" };
    let mut decision = match ctx.walk(&rs.nat, builtin(&rs.nat, nat_hook), &mut p, cands) {
        Flow::Continue => Decision::NotAService,
        Flow::Stop(Stop::Dnat(d)) => d,
        Flow::Stop(s) => panic!("kube-proxy's nat rules only translate, got {s:?}"),
    };
    // Routing after nat: to this node (INPUT), through it (FORWARD), or from it (OUTPUT).
    let local_dst = rs.is_local(p.dst);
    let filter_hook = match origin {
        Origin::Host => "OUTPUT",
        _ if local_dst => "INPUT",
        _ => "FORWARD",
    };
    let fstop = ctx.walk(&rs.filter, builtin(&rs.filter, filter_hook), &mut p, cands);
    let cause = match fstop {
        Flow::Stop(Stop::Drop(c)) | Flow::Stop(Stop::Reject(c)) => {
            Some((c, matches!(fstop, Flow::Stop(Stop::Reject(_)))))
        }
        Flow::Continue | Flow::Stop(Stop::Accept) => None,
        Flow::Stop(s) => panic!("kube-proxy's filter rules only accept or drop, got {s:?}"),
    };
    let mut masquerade = false;
    if let Some((c, rejected)) = cause {
        decision = match c {
            Cause::NoEndpoints { service, port } => {
                assert!(rejected, "no-endpoint rules REJECT");
                Decision::Reject {
                    service,
                    port,
                    reason: RejectReason::NoEndpoints,
                }
            }
            Cause::Dropped { service, port, reason } => Decision::Drop { service, port, reason },
            // kubelet's guard is about no Service.
            Cause::Martian => Decision::Drop {
                service: NO_SERVICE,
                port: NO_PORT,
                reason: DropReason::LocalnetGuard,
            },
        };
    } else if origin == Origin::Host || !local_dst {
        let post = builtin(&rs.nat, "POSTROUTING");
        masquerade = matches!(ctx.walk(&rs.nat, post, &mut p, cands), Flow::Stop(Stop::Masquerade));
    }
    Verdict {
        decision,
        masquerade,
        work: ctx.work,
    }
}
