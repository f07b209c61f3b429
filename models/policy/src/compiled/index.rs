//! The building blocks of the compiled engine: interned labels, compiled selectors, address
//! sets as sorted ranges, bitsets and compressed per-row lists.

use crate::types::{LabelSelector, Labels, SelectorOperator};
use hashbrown::HashMap;
use ipnet::IpNet;
use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;
use std::mem::size_of;
use std::net::IpAddr;

pub(crate) type FxMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// Rows of variable-length lists in one allocation (compressed sparse rows).
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T: Copy> Csr<T> {
    pub fn from_rows<I: IntoIterator<Item = T>>(rows: impl IntoIterator<Item = I>) -> Csr<T> {
        let mut csr = Csr {
            start: vec![0],
            items: Vec::new(),
        };
        for row in rows {
            csr.items.extend(row);
            csr.start.push(csr.items.len() as u32);
        }
        csr
    }

    /// Rows 0..rows from (row, item) pairs, keeping the pairs' order within a row.
    pub fn from_pairs(rows: usize, pairs: &[(u32, T)]) -> Csr<T> {
        let mut start = vec![0u32; rows + 1];
        for &(r, _) in pairs {
            start[r as usize + 1] += 1;
        }
        for i in 0..rows {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut items: Vec<Option<T>> = vec![None; pairs.len()];
        for &(r, t) in pairs {
            items[fill[r as usize] as usize] = Some(t);
            fill[r as usize] += 1;
        }
        Csr {
            start,
            items: items.into_iter().map(|t| t.expect("every slot filled")).collect(),
        }
    }

    pub fn row(&self, r: usize) -> &[T] {
        &self.items[self.start[r] as usize..self.start[r + 1] as usize]
    }

    pub fn bytes(&self) -> usize {
        self.start.capacity() * size_of::<u32>() + self.items.capacity() * size_of::<T>()
    }
}

/// Strings to dense ids, for label keys, label values and port names.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    map: FxMap<String, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.map.get(s) {
            return id;
        }
        let id = self.map.len() as u32;
        self.map.insert(s.to_string(), id);
        id
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// Label keys and values, interned separately.
#[derive(Debug, Default)]
pub(crate) struct LabelInterner {
    pub keys: Interner,
    pub values: Interner,
}

impl LabelInterner {
    /// (key, value) ids sorted by key.
    pub fn labels(&mut self, labels: &Labels) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = labels
            .iter()
            .map(|(k, v)| (self.keys.intern(k), self.values.intern(v)))
            .collect();
        out.sort_unstable();
        out
    }

    /// Compiles a selector against the labels interned so far (all the cluster's). A key or
    /// value nobody carries cannot match: `In` on it is dropped from the value list, `Exists`
    /// on it never holds, `NotIn`/`DoesNotExist` on it always hold.
    pub fn selector(&self, s: &LabelSelector) -> Selector {
        let mut terms = Vec::new();
        let mut never = false;
        let reqs = s
            .match_labels
            .iter()
            .map(|(k, v)| (k, SelectorOperator::In, std::slice::from_ref(v)))
            .chain(s.match_expressions.iter().map(|r| (&r.key, r.operator, &r.values[..])));
        for (key, op, values) in reqs {
            let known: SmallVec<[u32; 2]> = {
                let mut v: SmallVec<[u32; 2]> = values.iter().filter_map(|v| self.values.get(v)).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            match (self.keys.get(key), op) {
                (None, SelectorOperator::In | SelectorOperator::Exists) => never = true,
                (None, _) => {}
                (Some(_), SelectorOperator::In) if known.is_empty() => never = true,
                (Some(_), SelectorOperator::NotIn) if known.is_empty() => {}
                (Some(k), SelectorOperator::In) => terms.push(Term {
                    key: k,
                    op: Op::In,
                    values: known,
                }),
                (Some(k), SelectorOperator::NotIn) => terms.push(Term {
                    key: k,
                    op: Op::NotIn,
                    values: known,
                }),
                (Some(k), SelectorOperator::Exists) => terms.push(Term {
                    key: k,
                    op: Op::Exists,
                    values: SmallVec::new(),
                }),
                (Some(k), SelectorOperator::DoesNotExist) => terms.push(Term {
                    key: k,
                    op: Op::DoesNotExist,
                    values: SmallVec::new(),
                }),
            }
        }
        if never {
            terms.clear();
        }
        terms.sort_unstable();
        terms.dedup();
        Selector { never, terms }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Term {
    pub key: u32,
    pub op: Op,
    /// Sorted.
    pub values: SmallVec<[u32; 2]>,
}

/// A label selector over interned labels. Canonical (sorted terms), so equal selectors dedupe.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Selector {
    pub never: bool,
    pub terms: Vec<Term>,
}

impl Selector {
    /// `labels` sorted by key.
    pub fn matches(&self, labels: &[(u32, u32)]) -> bool {
        if self.never {
            return false;
        }
        self.terms.iter().all(|t| {
            let value = labels
                .binary_search_by_key(&t.key, |&(k, _)| k)
                .ok()
                .map(|i| labels[i].1);
            match t.op {
                Op::In => value.is_some_and(|v| t.values.contains(&v)),
                Op::NotIn => value.is_none_or(|v| !t.values.contains(&v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }

    /// A (key, value) every match must carry, if the selector has one: the posting list to
    /// start from when finding the pods it selects.
    pub fn required_pair(&self) -> Option<(u32, u32)> {
        self.terms
            .iter()
            .find(|t| t.op == Op::In && t.values.len() == 1)
            .map(|t| (t.key, t.values[0]))
    }

    pub fn bytes(&self) -> usize {
        size_of::<Selector>() + self.terms.capacity() * size_of::<Term>()
    }
}

/// A fixed-size set of small integers (namespace ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    pub fn new(len: usize) -> Bitset {
        Bitset {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub fn insert(&mut self, i: u32) {
        self.words[(i / 64) as usize] |= 1 << (i % 64);
    }

    pub fn contains(&self, i: u32) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn words(&self) -> &[u64] {
        &self.words
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.words.len() as u32 * 64).filter(|&i| self.contains(i))
    }
}

/// An address as a sortable key: family first, then the address bits.
pub(crate) fn addr_key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

/// A set of addresses as sorted, disjoint, non-adjacent inclusive ranges per family, for
/// binary search.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> IpSet {
        IpSet::from_ranges(
            nets.into_iter()
                .map(|n| (addr_key(n.network()), addr_key(n.broadcast()))),
        )
    }

    pub fn from_addrs(addrs: impl IntoIterator<Item = IpAddr>) -> IpSet {
        IpSet::from_ranges(addrs.into_iter().map(|a| (addr_key(a), addr_key(a))))
    }

    fn from_ranges(ranges: impl IntoIterator<Item = ((bool, u128), (bool, u128))>) -> IpSet {
        let mut all: Vec<_> = ranges.into_iter().collect();
        all.sort_unstable();
        let mut merged: Vec<((bool, u128), (bool, u128))> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match merged.last_mut() {
                Some(last) if last.1 .0 == lo.0 && (last.1 .1 >= lo.1 || last.1 .1.checked_add(1) == Some(lo.1)) => {
                    last.1 = last.1.max(hi);
                }
                _ => merged.push((lo, hi)),
            }
        }
        // A range never spans families: a network's ends share its family.
        IpSet {
            v4: merged
                .iter()
                .filter(|r| !r.0 .0)
                .map(|r| (r.0 .1 as u32, r.1 .1 as u32))
                .collect(),
            v6: merged.iter().filter(|r| r.0 .0).map(|r| (r.0 .1, r.1 .1)).collect(),
        }
    }

    #[inline(never)]
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn find<T: Copy + Ord>(ranges: &[(T, T)], key: T) -> bool {
            let i = ranges.partition_point(|r| r.0 <= key);
            i > 0 && ranges[i - 1].1 >= key
        }
        match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }

    pub fn v4(&self) -> &[(u32, u32)] {
        &self.v4
    }

    pub fn has_v6(&self) -> bool {
        !self.v6.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn bytes(&self) -> usize {
        size_of::<IpSet>()
            + self.v4.capacity() * size_of::<(u32, u32)>()
            + self.v6.capacity() * size_of::<(u128, u128)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_set_merges_and_finds() {
        let nets: Vec<IpNet> = [
            "10.0.0.0/24",
            "10.0.1.0/24",
            "10.0.0.128/25",
            "fd00::/64",
            "192.168.0.5/32",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let set = IpSet::from_nets(&nets);
        assert_eq!(
            set.v4.len() + set.v6.len(),
            3,
            "the two adjacent /24s and the nested /25 merge"
        );
        for (ip, inside) in [
            ("10.0.0.0", true),
            ("10.0.1.255", true),
            ("10.0.2.0", false),
            ("9.255.255.255", false),
            ("192.168.0.5", true),
            ("192.168.0.6", false),
            ("fd00::1", true),
            ("fd01::", false),
            ("::a00:1", false),
        ] {
            assert_eq!(set.contains(ip.parse().unwrap()), inside, "{ip}");
        }
    }

    #[test]
    fn csr_from_pairs_keeps_row_order() {
        let csr = Csr::from_pairs(3, &[(2, 'a'), (0, 'b'), (2, 'c')]);
        assert_eq!(csr.row(0), &['b']);
        assert_eq!(csr.row(1), &[] as &[char]);
        assert_eq!(csr.row(2), &['a', 'c']);
    }
}
