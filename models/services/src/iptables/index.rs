//! The fast evaluator's index: for each long chain, the rules that could match a packet,
//! found by hashing instead of testing. A rule that requires an exact destination address,
//! protocol and port is filed under that triple; one that requires only protocol and port
//! under that pair; anything else is always a candidate. Every other rule of the chain
//! provably fails for the packet, so the walk counts it without testing it — the same count
//! and the same random draws as the kernel's linear walk, in time proportional to the
//! candidates (for KUBE-SERVICES: the matching service's rules and the final NODEPORTS jump).

use super::eval::{Candidates, PktState};
use super::generate::Ruleset;
use super::rule::*;
use crate::model::Protocol;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

/// Chains shorter than this are walked linearly: an index would not save anything.
const MIN_INDEXED_RULES: usize = 16;

type Positions = SmallVec<[u32; 2]>;

#[derive(Clone, Debug, Default)]
struct ChainIndex {
    by_dst_port: FxHashMap<(u32, u16, Protocol), Positions>,
    by_port: FxHashMap<(u16, Protocol), Positions>,
    always: Vec<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct FastIndex {
    /// [filter, nat]: chain id → its index, for the few chains worth one (a node with
    /// 30,000 Services has a third of a million chains, nearly all of a few rules).
    tables: [FxHashMap<u32, ChainIndex>; 2],
}

fn key_of(matches: &[Match]) -> (Option<Protocol>, Option<u16>, Option<u32>) {
    let (mut proto, mut port, mut dst) = (None, None, None);
    for m in matches {
        match *m {
            Match::Proto(p) => proto = Some(p),
            Match::Dport(d) => port = Some(d),
            Match::Dst { net, negated: false } if net.prefix_len() == 32 => dst = Some(u32::from(net.addr())),
            _ => {}
        }
    }
    (proto, port, dst)
}

fn build_table(t: &Table) -> FxHashMap<u32, ChainIndex> {
    t.chains
        .iter()
        .enumerate()
        .filter(|(_, c)| c.rules.len() >= MIN_INDEXED_RULES)
        .filter_map(|(id, c)| {
            // Sized for the usual case, a chain of one keyed rule per Service (KUBE-SERVICES).
            let mut ix = ChainIndex {
                by_dst_port: FxHashMap::with_capacity_and_hasher(c.rules.len(), Default::default()),
                ..ChainIndex::default()
            };
            for (i, r) in c.rules.iter().enumerate() {
                let i = i as u32;
                match key_of(t.matches(r)) {
                    (Some(p), Some(d), Some(a)) => ix.by_dst_port.entry((a, d, p)).or_default().push(i),
                    (Some(p), Some(d), None) => ix.by_port.entry((d, p)).or_default().push(i),
                    _ => ix.always.push(i),
                }
            }
            // Chains of unkeyed rules (probability ladders) gain nothing from an index.
            (ix.always.len() * 2 <= c.rules.len()).then_some((id as u32, ix))
        })
        .collect()
}

impl FastIndex {
    pub fn build(rs: &Ruleset) -> FastIndex {
        FastIndex {
            tables: [build_table(&rs.filter), build_table(&rs.nat)],
        }
    }
}

/// Merges increasing position lists into `out`.
fn merge(lists: [&[u32]; 3], out: &mut SmallVec<[u32; 16]>) {
    let mut at = [0usize; 3];
    loop {
        let mut best: Option<(usize, u32)> = None;
        for (k, l) in lists.iter().enumerate() {
            if let Some(&v) = l.get(at[k]) {
                if best.is_none_or(|(_, b)| v < b) {
                    best = Some((k, v));
                }
            }
        }
        match best {
            Some((k, v)) => {
                out.push(v);
                at[k] += 1;
            }
            None => return,
        }
    }
}

impl Candidates for FastIndex {
    fn candidates(&self, table: &Table, chain: u32, p: &PktState, out: &mut SmallVec<[u32; 16]>) -> bool {
        let t = usize::from(table.name == "nat");
        let Some(ix) = self.tables[t].get(&chain) else {
            return false;
        };
        let a = ix
            .by_dst_port
            .get(&(u32::from(p.dst), p.dport, p.proto))
            .map_or(&[][..], |v| v.as_slice());
        let b = ix.by_port.get(&(p.dport, p.proto)).map_or(&[][..], |v| v.as_slice());
        merge([a, b, &ix.always], out);
        true
    }
}
