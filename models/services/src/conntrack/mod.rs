//! Connection tracking: the netfilter conntrack table in front of every service datapath. The
//! first packet of a connection goes through the datapath's rules and creates an entry; later
//! packets in either direction find the entry (the reply by its own, translated tuple) and
//! skip the rules. This module owns the table: entries, TCP/UDP state and timeouts, expiry,
//! the size limit (`nf_conntrack_max`) with early drop, and the counters.
//!
//! Faithful to Linux where it matters to a simulation:
//! - Timeouts per protocol state (`tcp::Timeouts`), with kube-proxy's overrides.
//! - An entry is gone once `now >= expires` (the kernel's `nf_ct_is_expired`); expiry is exact
//!   at every call (an ordered `(expires, id)` set), where the kernel's GC worker reclaims
//!   lazily. So `len()` is the number of live entries, not of not-yet-collected ones.
//! - Table full (`count >= nf_conntrack_max` when a new entry is allocated): `early_drop` scans
//!   up to `NF_CT_EVICTION_RANGE` (8) hash buckets starting at the new tuple's bucket and
//!   deletes every non-ASSURED entry of the first bucket that has one; if none is found the
//!   packet is dropped. Buckets are `nf_conntrack_buckets` = max/4 (kube-proxy writes hashsize
//!   = max/4), and an entry sits in the bucket of each of its two tuples, as the kernel's
//!   `tuplehash[2]` does. The kernel hashes with siphash and a per-boot random key; cnsim uses
//!   a fixed mix so runs repeat.
//!
//! Not modelled: TCP window tracking (retransmission and unacknowledged-data timeout caps),
//! the SCTP state machine (generic timeout), helpers/expectations, zones, the GC worker's own
//! early drop, and NAT port clash resolution (a clash is reported as `InsertError::Clash`).
//!
//! Work: every `lookup` is one hash probe (`HASH_PROBES_PER_LOOKUP`) for the cost model.

pub mod reference;
pub mod tcp;

pub use tcp::{TcpFlags, TcpOutcome, TcpState, Timeouts};

use crate::model::{Packet, Protocol};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::BTreeSet;

/// A lookup costs one hash-table probe (the bucket walk is short: kube-proxy sizes buckets to
/// hold about four entries).
pub const HASH_PROBES_PER_LOOKUP: u32 = 1;
/// `NF_CT_EVICTION_RANGE` in nf_conntrack_core.c: buckets early_drop looks at.
pub const EVICTION_RANGE: u32 = 8;

/// Which tuple of an entry a packet matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Original,
    Reply,
}

/// An entry's identity: allocated in insertion order, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64);

/// The protocol state of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtState {
    Tcp(TcpState),
    Udp,
    /// SCTP and anything else: refreshed with the generic timeout on every packet.
    Other,
}

impl CtState {
    /// The state a first packet creates: TCP from its flags (None when conntrack would refuse
    /// to track it), others by protocol.
    pub fn first_packet(proto: Protocol, flags: TcpFlags) -> Option<CtState> {
        match proto {
            Protocol::Tcp => TcpState::initial(flags).map(CtState::Tcp),
            Protocol::Udp => Some(CtState::Udp),
            Protocol::Sctp => Some(CtState::Other),
        }
    }
}

/// One tracked connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    /// The tuple of the first packet, before any translation.
    pub orig: Packet,
    /// The tuple reply packets carry (after DNAT/SNAT of the original).
    pub reply: Packet,
    pub state: CtState,
    /// IPS_SEEN_REPLY.
    pub seen_reply: bool,
    /// IPS_ASSURED: exempt from early drop.
    pub assured: bool,
    pub created_ns: u64,
    pub expires_ns: u64,
}

/// The table's counters (`conntrack -S` and friends).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtStats {
    pub lookups: u64,
    pub hash_probes: u64,
    pub found: u64,
    pub inserted: u64,
    /// New connections whose packet was dropped because the table was full.
    pub drops: u64,
    /// Entries deleted by early drop to make room.
    pub early_drops: u64,
    /// Inserts refused because a tuple was already tracked.
    pub insert_failed: u64,
    pub expired: u64,
    /// Entries deleted by RST-before-reply, reopen, or `remove`.
    pub deleted: u64,
    /// The largest number of live entries seen.
    pub max_len: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// `nf_conntrack: table full, dropping packet`.
    TableFull,
    /// One of the two tuples is already tracked (`insert_failed`).
    Clash,
}

/// The table's size and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConntrackConfig {
    /// `nf_conntrack_max`.
    pub max: u32,
    /// `nf_conntrack_buckets`.
    pub buckets: u32,
    pub timeouts: Timeouts,
}

impl ConntrackConfig {
    /// kube-proxy's defaults (`conntrack.maxPerCore` 32768, `conntrack.min` 131072): max =
    /// maxPerCore × cores if that exceeds min, else min (`getConntrackMax` in
    /// cmd/kube-proxy); hashsize raised to max/4 (`realConntracker.SetMax`).
    pub fn kube_proxy(cores: u32) -> ConntrackConfig {
        assert!(cores > 0, "a node has at least one core");
        let max = (32_768u32.saturating_mul(cores)).max(131_072);
        ConntrackConfig::with_max(max, Timeouts::kube_proxy())
    }

    /// A table of `max` entries with `max/4` buckets (at least one).
    pub fn with_max(max: u32, timeouts: Timeouts) -> ConntrackConfig {
        assert!(
            max > 0,
            "nf_conntrack_max 0 means unlimited, which cnsim does not model"
        );
        ConntrackConfig {
            max,
            buckets: (max / 4).max(1),
            timeouts,
        }
    }
}

/// The tuple with source and destination swapped: what the other direction carries when no
/// translation happened.
pub fn invert(t: &Packet) -> Packet {
    Packet {
        src: t.dst,
        dst: t.src,
        sport: t.dport,
        dport: t.sport,
        proto: t.proto,
    }
}

/// The bucket of a tuple: a fixed 64-bit mix of its fields scaled to `buckets` the way the
/// kernel's `reciprocal_scale` maps a 32-bit hash onto the table.
pub fn bucket_of(t: &Packet, buckets: u32) -> u32 {
    let proto = match t.proto {
        Protocol::Tcp => 6u64,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    };
    let mut x = (u64::from(u32::from(t.src)) << 32) | u64::from(u32::from(t.dst));
    x ^= ((u64::from(t.sport) << 16) | u64::from(t.dport) | (proto << 32)).rotate_left(23);
    // SplitMix64 finalizer: every input bit reaches every output bit.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    ((u64::from(x as u32) * u64::from(buckets)) >> 32) as u32
}

/// The timer an entry gets when created in `state`.
pub(crate) fn initial_expiry(state: CtState, now_ns: u64, t: &Timeouts) -> u64 {
    let timeout = match state {
        // A connection picked up mid-stream has no reply yet: newer kernels cap ESTABLISHED at
        // the unacknowledged timeout until one is seen.
        CtState::Tcp(TcpState::Established) => t.established.min(t.unacknowledged),
        CtState::Tcp(s) => t.tcp(s),
        CtState::Udp => t.udp,
        CtState::Other => t.generic,
    };
    now_ns.saturating_add(timeout)
}

/// What a TCP segment does to an entry (`tcp_packet`); shared by the table and its reference.
/// Returns the outcome; `Killed` and `Reopened` mean the caller deletes the entry.
pub(crate) fn apply_tcp(e: &mut Entry, flags: TcpFlags, dir: Direction, now_ns: u64, t: &Timeouts) -> TcpOutcome {
    let CtState::Tcp(old) = e.state else {
        panic!("update_tcp on a non-TCP entry {:?}", e.id);
    };
    let outcome = match tcp::next(Some(old), flags, dir) {
        tcp::Next::Invalid => TcpOutcome::Invalid,
        tcp::Next::Ignore => TcpOutcome::Ignored,
        tcp::Next::To(TcpState::SynSent) if matches!(old, TcpState::TimeWait | TcpState::Close) => {
            return TcpOutcome::Reopened;
        }
        tcp::Next::To(new) => {
            if !e.seen_reply && flags.rst {
                return TcpOutcome::Killed;
            }
            if !e.seen_reply && flags.row_is_syn() && old == TcpState::SynSent {
                // A retransmitted SYN does not renew the timer, so a reused port cannot keep a
                // dead entry alive.
                TcpOutcome::Ignored
            } else {
                let mut timeout = t.tcp(new);
                if !e.seen_reply && new == TcpState::Established {
                    timeout = timeout.min(t.unacknowledged);
                }
                if e.seen_reply
                    && !e.assured
                    && matches!(old, TcpState::SynRecv | TcpState::Established)
                    && new == TcpState::Established
                {
                    e.assured = true;
                }
                e.state = CtState::Tcp(new);
                e.expires_ns = now_ns.saturating_add(timeout);
                TcpOutcome::Updated { from: old, to: new }
            }
        }
    };
    if dir == Direction::Reply {
        e.seen_reply = true;
    }
    outcome
}

impl TcpFlags {
    fn row_is_syn(self) -> bool {
        self.syn && !self.ack && !self.rst
    }
}

/// What a non-TCP packet does to an entry (`nf_conntrack_udp_packet`, generic for others).
pub(crate) fn apply_other(e: &mut Entry, dir: Direction, now_ns: u64, t: &Timeouts) {
    match e.state {
        CtState::Tcp(_) => panic!("update on a TCP entry {:?}: use update_tcp", e.id),
        CtState::Udp => {
            // Newer kernels (since 5.19): a replied flow becomes a stream, with the long timeout
            // and ASSURED, only once it is still active 2 s after its first packet.
            let timeout = if e.seen_reply && now_ns > e.created_ns.saturating_add(2_000_000_000) {
                e.assured = true;
                t.udp_stream
            } else {
                t.udp
            };
            e.expires_ns = now_ns.saturating_add(timeout);
        }
        CtState::Other => e.expires_ns = now_ns.saturating_add(t.generic),
    }
    if dir == Direction::Reply {
        e.seen_reply = true;
    }
}

/// The conntrack table: hash indexes for lookups, an ordered set for expiry.
#[derive(Clone, Debug)]
pub struct ConntrackTable {
    cfg: ConntrackConfig,
    entries: FxHashMap<EntryId, Entry>,
    by_tuple: FxHashMap<Packet, (EntryId, Direction)>,
    /// (expires_ns, id): the next entry to expire is the first.
    expiry: BTreeSet<(u64, EntryId)>,
    /// Bucket → entries with a tuple in it (an entry may be listed twice).
    buckets: FxHashMap<u32, SmallVec<[EntryId; 4]>>,
    next_id: u64,
    now_ns: u64,
    stats: CtStats,
}

impl ConntrackTable {
    pub fn new(cfg: ConntrackConfig) -> ConntrackTable {
        assert!(cfg.max > 0 && cfg.buckets > 0, "empty conntrack table");
        ConntrackTable {
            cfg,
            entries: FxHashMap::default(),
            by_tuple: FxHashMap::default(),
            expiry: BTreeSet::new(),
            buckets: FxHashMap::default(),
            next_id: 1,
            now_ns: 0,
            stats: CtStats::default(),
        }
    }

    pub fn config(&self) -> &ConntrackConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &CtStats {
        &self.stats
    }

    /// Live entries as of the last call's time; `len_at` first expires up to `now_ns`.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries still live at `now_ns` (not before the table's own time), without expiring
    /// anything: observing the table must not change it.
    pub fn live_at(&self, now_ns: u64) -> usize {
        let expired = self.expiry.range(..=(now_ns, EntryId(u64::MAX))).count();
        self.entries.len() - expired
    }

    pub fn len_at(&mut self, now_ns: u64) -> usize {
        self.advance(now_ns);
        self.entries.len()
    }

    pub fn get(&self, id: EntryId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Live entries in id (insertion) order, for dumps and traces.
    pub fn entries(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries.values().collect();
        v.sort_by_key(|e| e.id);
        v
    }

    /// Moves time to `now_ns` and deletes every entry whose timer ran out.
    pub fn advance(&mut self, now_ns: u64) {
        assert!(
            now_ns >= self.now_ns,
            "conntrack time went backwards: {} < {}",
            now_ns,
            self.now_ns
        );
        self.now_ns = now_ns;
        while let Some(&(exp, id)) = self.expiry.first() {
            if exp > now_ns {
                break;
            }
            self.delete(id);
            self.stats.expired += 1;
        }
    }

    /// Finds the entry a packet belongs to, by its own tuple (original or reply).
    pub fn lookup(&mut self, tuple: &Packet, now_ns: u64) -> Option<(EntryId, Direction)> {
        self.advance(now_ns);
        self.stats.lookups += 1;
        self.stats.hash_probes += u64::from(HASH_PROBES_PER_LOOKUP);
        let hit = self.by_tuple.get(tuple).copied();
        if hit.is_some() {
            self.stats.found += 1;
        }
        hit
    }

    /// Tracks a new connection: `orig` as the first packet carried it, `reply` as replies
    /// will (after the datapath's translation). Early-drops to make room when full.
    pub fn insert(&mut self, orig: Packet, reply: Packet, state: CtState, now_ns: u64) -> Result<EntryId, InsertError> {
        self.advance(now_ns);
        assert_eq!(orig.proto, reply.proto, "a connection keeps its protocol");
        if self.by_tuple.contains_key(&orig) || self.by_tuple.contains_key(&reply) || orig == reply {
            self.stats.insert_failed += 1;
            return Err(InsertError::Clash);
        }
        if self.entries.len() >= self.cfg.max as usize && !self.early_drop(&orig) {
            self.stats.drops += 1;
            return Err(InsertError::TableFull);
        }
        let id = EntryId(self.next_id);
        self.next_id += 1;
        let expires_ns = initial_expiry(state, now_ns, &self.cfg.timeouts);
        let e = Entry {
            id,
            orig,
            reply,
            state,
            seen_reply: false,
            assured: false,
            created_ns: now_ns,
            expires_ns,
        };
        self.by_tuple.insert(orig, (id, Direction::Original));
        self.by_tuple.insert(reply, (id, Direction::Reply));
        self.expiry.insert((expires_ns, id));
        for t in [&orig, &reply] {
            let b = bucket_of(t, self.cfg.buckets);
            self.buckets.entry(b).or_default().push(id);
        }
        self.entries.insert(id, e);
        self.stats.inserted += 1;
        self.stats.max_len = self.stats.max_len.max(self.entries.len() as u64);
        assert!(self.entries.len() <= self.cfg.max as usize, "table over its limit");
        Ok(id)
    }

    /// Feeds a TCP segment of a tracked connection through the state machine.
    pub fn update_tcp(&mut self, id: EntryId, flags: TcpFlags, dir: Direction, now_ns: u64) -> TcpOutcome {
        self.advance(now_ns);
        let t = self.cfg.timeouts;
        let e = self
            .entries
            .get_mut(&id)
            .unwrap_or_else(|| panic!("update_tcp on a dead entry {id:?}"));
        let before = e.expires_ns;
        let outcome = apply_tcp(e, flags, dir, now_ns, &t);
        let after = e.expires_ns;
        match outcome {
            TcpOutcome::Killed | TcpOutcome::Reopened => self.remove(id),
            _ => self.retime(id, before, after),
        }
        outcome
    }

    /// Feeds a UDP or SCTP packet of a tracked connection (refreshes its timer).
    pub fn update(&mut self, id: EntryId, dir: Direction, now_ns: u64) {
        self.advance(now_ns);
        let t = self.cfg.timeouts;
        let e = self
            .entries
            .get_mut(&id)
            .unwrap_or_else(|| panic!("update on a dead entry {id:?}"));
        let before = e.expires_ns;
        apply_other(e, dir, now_ns, &t);
        let after = e.expires_ns;
        self.retime(id, before, after);
    }

    /// Deletes an entry (`conntrack -D`); false if it was not live.
    pub fn remove(&mut self, id: EntryId) {
        if self.entries.contains_key(&id) {
            self.delete(id);
            self.stats.deleted += 1;
        }
    }

    fn retime(&mut self, id: EntryId, before: u64, after: u64) {
        if before != after {
            let had = self.expiry.remove(&(before, id));
            assert!(had, "expiry set out of step for {id:?}");
            self.expiry.insert((after, id));
        }
    }

    fn delete(&mut self, id: EntryId) {
        let e = self.entries.remove(&id).expect("deleting a live entry");
        self.by_tuple.remove(&e.orig);
        self.by_tuple.remove(&e.reply);
        let had = self.expiry.remove(&(e.expires_ns, id));
        assert!(had, "expiry set out of step for {id:?}");
        for t in [&e.orig, &e.reply] {
            let b = bucket_of(t, self.cfg.buckets);
            if let Some(v) = self.buckets.get_mut(&b) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.buckets.remove(&b);
                }
            }
        }
    }

    /// The kernel's early_drop: the first of up to 8 buckets from the new tuple's bucket that
    /// holds a non-ASSURED entry loses all of them.
    fn early_drop(&mut self, new: &Packet) -> bool {
        let start = bucket_of(new, self.cfg.buckets);
        for i in 0..EVICTION_RANGE.min(self.cfg.buckets) {
            let b = (start + i) % self.cfg.buckets;
            let mut victims: SmallVec<[EntryId; 4]> = self
                .buckets
                .get(&b)
                .map(|v| v.iter().copied().filter(|id| !self.entries[id].assured).collect())
                .unwrap_or_default();
            victims.sort();
            victims.dedup();
            if !victims.is_empty() {
                for id in &victims {
                    self.delete(*id);
                }
                self.stats.early_drops += victims.len() as u64;
                return true;
            }
        }
        false
    }
}
