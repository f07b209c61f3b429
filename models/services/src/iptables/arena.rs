//! Shared text for a generated table, and the chain-name index. A 30,000-Service node holds
//! about a million rules and a third of a million chains; one heap string per rule line and
//! two per chain name made the ruleset cost a gigabyte and made dropping it slower than
//! generating it. Instead every line of a table is written into one buffer and every chain
//! name into another, and rules and chains hold `ArenaStr`s: a shared handle on the buffer
//! and a range in it, which derefs to `str` like the `String` it replaces.
//!
//! Chain names are indexed by a 64-bit hash of the name (no string per entry); the name itself
//! is compared on every hit, and names whose hashes coincide are told apart by that
//! comparison, so a collision costs a slower lookup, never a wrong one.

use rustc_hash::{FxBuildHasher, FxHashMap};
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::Arc;

/// A piece of a table's shared text (a rule's line or a chain's name).
///
/// While the table is being written a handle holds only its range: the buffer is shared when
/// the table is finished, and the handles are attached to it then, in one pass. (Taking a
/// reference count per rule as it is written made every rule wait for its own line's bytes
/// to reach memory.)
#[derive(Clone)]
pub struct ArenaStr {
    buf: Option<Arc<String>>,
    start: u32,
    len: u32,
}

impl ArenaStr {
    pub fn as_str(&self) -> &str {
        let buf = self
            .buf
            .as_deref()
            .expect("a table's text is read once the table is finished");
        &buf[self.start as usize..(self.start + self.len) as usize]
    }

    /// Where the piece is in its buffer.
    pub(super) fn range(&self) -> (u32, u32) {
        (self.start, self.len)
    }

    /// Shares the finished buffer the range is in.
    pub(super) fn attach(&mut self, buf: &Arc<String>) {
        debug_assert!(
            buf.is_char_boundary(self.start as usize) && buf.is_char_boundary((self.start + self.len) as usize)
        );
        self.buf = Some(Arc::clone(buf));
    }
}

impl Default for ArenaStr {
    fn default() -> ArenaStr {
        ArenaStr {
            buf: Some(Arc::default()),
            start: 0,
            len: 0,
        }
    }
}

impl Deref for ArenaStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ArenaStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ArenaStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ArenaStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for ArenaStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ArenaStr {}

impl PartialEq<str> for ArenaStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ArenaStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A buffer being written; its handles are attached to it when it is finished.
#[derive(Debug)]
pub(super) struct Arena {
    pub buf: String,
}

impl Arena {
    /// Writes into `buf` (emptied first; its capacity is kept).
    pub fn new(mut buf: String) -> Arena {
        buf.clear();
        Arena { buf }
    }

    /// The current end of the buffer, as a range bound.
    pub fn offset(&self) -> u32 {
        u32::try_from(self.buf.len()).expect("a table's text stays under 4 GiB")
    }

    /// A handle on the text written since `start`.
    pub fn since(&self, start: u32) -> ArenaStr {
        ArenaStr {
            buf: None,
            start,
            len: self.offset() - start,
        }
    }

    /// Appends `s` and returns a handle on it.
    pub fn push(&mut self, s: &str) -> ArenaStr {
        let start = self.offset();
        self.buf.push_str(s);
        self.since(start)
    }

    /// The text of a handle from this arena, before it is finished.
    pub fn get(&self, s: &ArenaStr) -> &str {
        &self.buf[s.start as usize..(s.start + s.len) as usize]
    }

    /// The finished buffer, to attach the handles to.
    pub fn finish(mut self) -> Arc<String> {
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 8 {
            self.buf.shrink_to_fit();
        }
        Arc::new(self.buf)
    }
}

/// Takes the text back from a finished arena once no handle is left, to write the next one
/// into; `None` while something still holds a piece of it.
pub(super) fn reclaim(buf: Arc<String>) -> Option<String> {
    Arc::try_unwrap(buf).ok()
}

/// Chain name → chain id.
///
/// Names looked up while a table is written (the fixed chains, a few dozen) are kept in a
/// hash map as they come. The per-service chains, a third of a million in a large cluster,
/// are created without a lookup (their names are unique by construction, which `finish`
/// checks) and found afterwards in a vector of every chain sorted by name hash: inserting
/// them one by one into a map was two cache misses each.
#[derive(Clone, Debug, Default)]
pub(super) struct NameIndex {
    by_hash: FxHashMap<u64, u32>,
    /// Names whose hash an earlier, different name holds in `by_hash`.
    collided: FxHashMap<Box<str>, u32>,
    /// Every chain as (hash of its name, id), in order; built by `finish`.
    sorted: Vec<(u64, u32)>,
}

impl NameIndex {
    /// Empties the index, keeping its capacity for the next table.
    pub fn clear(&mut self) {
        self.by_hash.clear();
        self.collided.clear();
        self.sorted.clear();
    }

    fn hash(name: &str) -> u64 {
        FxBuildHasher.hash_one(name)
    }

    /// `name_of` gives the name of a chain id.
    pub fn get<'a>(&self, name: &str, name_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        let h = Self::hash(name);
        if let Some(&id) = self.by_hash.get(&h) {
            if name_of(id) == name {
                return Some(id);
            }
        }
        if let Some(&id) = self.collided.get(name) {
            return Some(id);
        }
        let from = self.sorted.partition_point(|&(x, _)| x < h);
        self.sorted[from..]
            .iter()
            .take_while(|&&(x, _)| x == h)
            .map(|&(_, id)| id)
            .find(|&id| name_of(id) == name)
    }

    /// The id of a name looked up while writing, inserting it as `new_id` if it has none (one
    /// probe either way).
    pub fn get_or_insert<'a>(&mut self, name: &str, new_id: u32, name_of: impl Fn(u32) -> &'a str) -> u32 {
        match self.by_hash.entry(Self::hash(name)) {
            Entry::Vacant(e) => *e.insert(new_id),
            Entry::Occupied(e) if name_of(*e.get()) == name => *e.get(),
            Entry::Occupied(_) => match self.collided.get(name) {
                Some(&id) => id,
                None => {
                    self.collided.insert(name.into(), new_id);
                    new_id
                }
            },
        }
    }

    /// Indexes chains `0..n` by name; false if two of them have the same name.
    pub fn finish<'a>(&mut self, n: u32, name_of: impl Fn(u32) -> &'a str) -> bool {
        self.sorted.clear();
        self.sorted.extend((0..n).map(|id| (Self::hash(name_of(id)), id)));
        self.sorted.sort_unstable();
        !self
            .sorted
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && name_of(w[0].1) == name_of(w[1].1))
    }
}
