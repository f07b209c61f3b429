//! The kernel's `xt_recent` lists as kube-proxy's ClientIP affinity uses them: one list per
//! KUBE-SEP chain name, holding source addresses with the time they were last `--set`.
//!
//! Kernel semantics followed (net/netfilter/xt_recent.c, `recent_mt`):
//! - `--set` adds the source (evicting the least recently updated entry when the list holds
//!   `ip_list_tot` = 100 entries) or refreshes it and moves it to the back of the LRU list.
//! - `--rcheck --seconds N` matches when the source is listed with a stamp not older than
//!   now − N s; with `--reap`, after the check the head of the LRU list is removed if its
//!   newest stamp is older than now − N s. A source that is not listed neither matches nor
//!   reaps.
//!
//! Time is `now_ns` rather than jiffies; hit counts and TTL matching are not used by kube-proxy.

use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// xt_recent's default `ip_list_tot`.
pub const IP_LIST_TOT: usize = 100;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct List {
    /// address → (last stamp, LRU sequence)
    entries: FxHashMap<Ipv4Addr, (u64, u64)>,
    /// LRU sequence → address; the first is the least recently updated.
    lru: BTreeMap<u64, Ipv4Addr>,
    next_seq: u64,
}

impl List {
    fn touch(&mut self, addr: Ipv4Addr, now_ns: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.entries.get_mut(&addr) {
            self.lru.remove(&e.1);
            *e = (now_ns, seq);
        } else {
            if self.entries.len() >= IP_LIST_TOT {
                let (&old_seq, &old) = self.lru.iter().next().expect("full list has a head");
                self.lru.remove(&old_seq);
                self.entries.remove(&old);
            }
            self.entries.insert(addr, (now_ns, seq));
        }
        self.lru.insert(seq, addr);
        debug_assert_eq!(self.lru.len(), self.entries.len());
    }
}

/// All recent lists of a node, keyed by list name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecentState {
    lists: FxHashMap<String, List>,
}

impl RecentState {
    /// `-m recent --name NAME --set`: always matches.
    pub fn set(&mut self, name: &str, addr: Ipv4Addr, now_ns: u64) -> bool {
        if let Some(l) = self.lists.get_mut(name) {
            l.touch(addr, now_ns);
        } else {
            let mut l = List::default();
            l.touch(addr, now_ns);
            self.lists.insert(name.to_string(), l);
        }
        true
    }

    /// `-m recent --name NAME --rcheck --seconds S --reap`.
    pub fn rcheck_reap(&mut self, name: &str, addr: Ipv4Addr, now_ns: u64, seconds: u32) -> bool {
        let Some(l) = self.lists.get_mut(name) else {
            return false;
        };
        let Some(&(stamp, _)) = l.entries.get(&addr) else {
            return false;
        };
        let oldest_ok = now_ns.saturating_sub(u64::from(seconds) * 1_000_000_000);
        let hit = stamp >= oldest_ok;
        if let Some((&seq, &head)) = l.lru.iter().next() {
            if l.entries[&head].0 < oldest_ok {
                l.lru.remove(&seq);
                l.entries.remove(&head);
            }
        }
        hit
    }

    /// Drops the lists no rule names any more (the kernel frees a list with its last rule).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.lists.retain(|k, _| keep(k));
    }

    pub fn len(&self, name: &str) -> usize {
        self.lists.get(name).map_or(0, |l| l.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.lists.values().all(|l| l.entries.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rcheck_window_lru_eviction_and_reap() {
        let mut r = RecentState::default();
        let a = Ipv4Addr::new(10, 0, 0, 1);
        assert!(!r.rcheck_reap("X", a, 0, 10), "unknown list");
        r.set("X", a, 5_000_000_000);
        assert!(r.rcheck_reap("X", a, 15_000_000_000, 10), "exactly at the edge");
        assert!(!r.rcheck_reap("X", a, 15_000_000_001, 10), "too old");
        assert_eq!(r.len("X"), 0, "reaped: it was the LRU head and stale");
        for i in 0..=IP_LIST_TOT as u32 {
            r.set("Y", Ipv4Addr::from(i), u64::from(i));
        }
        assert_eq!(r.len("Y"), IP_LIST_TOT);
        assert!(!r.rcheck_reap("Y", Ipv4Addr::from(0u32), 200, 1_000), "evicted");
    }
}
