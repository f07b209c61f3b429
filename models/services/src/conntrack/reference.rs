//! A deliberately simple conntrack table: one `Vec` of entries, linear search, expiry by a full
//! scan. Property tests hold `ConntrackTable` equal to it; it shares only the per-entry rules
//! (`apply_tcp`, `apply_other`, `initial_expiry`, `bucket_of`) so the indexes, expiry order and
//! early drop are what the comparison checks.

use super::*;

#[derive(Clone, Debug)]
pub struct ReferenceTable {
    cfg: ConntrackConfig,
    /// In insertion order.
    entries: Vec<Entry>,
    next_id: u64,
    now_ns: u64,
    stats: CtStats,
}

impl ReferenceTable {
    pub fn new(cfg: ConntrackConfig) -> ReferenceTable {
        ReferenceTable {
            cfg,
            entries: Vec::new(),
            next_id: 1,
            now_ns: 0,
            stats: CtStats::default(),
        }
    }

    pub fn stats(&self) -> &CtStats {
        &self.stats
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: EntryId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn entries(&self) -> Vec<&Entry> {
        self.entries.iter().collect()
    }

    pub fn advance(&mut self, now_ns: u64) {
        assert!(now_ns >= self.now_ns, "time went backwards");
        self.now_ns = now_ns;
        let before = self.entries.len();
        self.entries.retain(|e| e.expires_ns > now_ns);
        self.stats.expired += (before - self.entries.len()) as u64;
    }

    pub fn lookup(&mut self, tuple: &Packet, now_ns: u64) -> Option<(EntryId, Direction)> {
        self.advance(now_ns);
        self.stats.lookups += 1;
        self.stats.hash_probes += u64::from(HASH_PROBES_PER_LOOKUP);
        let hit = self.entries.iter().find_map(|e| {
            if e.orig == *tuple {
                Some((e.id, Direction::Original))
            } else if e.reply == *tuple {
                Some((e.id, Direction::Reply))
            } else {
                None
            }
        });
        if hit.is_some() {
            self.stats.found += 1;
        }
        hit
    }

    pub fn insert(&mut self, orig: Packet, reply: Packet, state: CtState, now_ns: u64) -> Result<EntryId, InsertError> {
        self.advance(now_ns);
        let taken = |t: &Packet| self.entries.iter().any(|e| e.orig == *t || e.reply == *t);
        if taken(&orig) || taken(&reply) || orig == reply {
            self.stats.insert_failed += 1;
            return Err(InsertError::Clash);
        }
        if self.entries.len() >= self.cfg.max as usize && !self.early_drop(&orig) {
            self.stats.drops += 1;
            return Err(InsertError::TableFull);
        }
        let id = EntryId(self.next_id);
        self.next_id += 1;
        self.entries.push(Entry {
            id,
            orig,
            reply,
            state,
            seen_reply: false,
            assured: false,
            created_ns: now_ns,
            expires_ns: initial_expiry(state, now_ns, &self.cfg.timeouts),
        });
        self.stats.inserted += 1;
        self.stats.max_len = self.stats.max_len.max(self.entries.len() as u64);
        Ok(id)
    }

    pub fn update_tcp(&mut self, id: EntryId, flags: TcpFlags, dir: Direction, now_ns: u64) -> TcpOutcome {
        self.advance(now_ns);
        let t = self.cfg.timeouts;
        let i = self.position(id);
        let outcome = apply_tcp(&mut self.entries[i], flags, dir, now_ns, &t);
        if matches!(outcome, TcpOutcome::Killed | TcpOutcome::Reopened) {
            self.entries.remove(i);
            self.stats.deleted += 1;
        }
        outcome
    }

    pub fn update(&mut self, id: EntryId, dir: Direction, now_ns: u64) {
        self.advance(now_ns);
        let t = self.cfg.timeouts;
        let i = self.position(id);
        apply_other(&mut self.entries[i], dir, now_ns, &t);
    }

    pub fn remove(&mut self, id: EntryId) {
        if let Some(i) = self.entries.iter().position(|e| e.id == id) {
            self.entries.remove(i);
            self.stats.deleted += 1;
        }
    }

    fn position(&self, id: EntryId) -> usize {
        self.entries
            .iter()
            .position(|e| e.id == id)
            .unwrap_or_else(|| panic!("update on a dead entry {id:?}"))
    }

    /// Walks the same 8 buckets by scanning every entry for a tuple that hashes there.
    fn early_drop(&mut self, new: &Packet) -> bool {
        let n = self.cfg.buckets;
        let start = bucket_of(new, n);
        for i in 0..EVICTION_RANGE.min(n) {
            let b = (start + i) % n;
            let before = self.entries.len();
            self.entries
                .retain(|e| e.assured || (bucket_of(&e.orig, n) != b && bucket_of(&e.reply, n) != b));
            let dropped = before - self.entries.len();
            if dropped > 0 {
                self.stats.early_drops += dropped as u64;
                return true;
            }
        }
        false
    }
}
