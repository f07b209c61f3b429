//! Shared text for a generated table. A 30,000-Service node holds about a million rules and a
//! third of a million chains; one heap string per rule line and two per chain name made the
//! ruleset cost a gigabyte and made dropping it slower than generating it. Instead every line
//! of a table is written into one buffer and every chain name into another, and rules and
//! chains hold `ArenaStr`s: a shared handle on the buffer and a range in it, which derefs to
//! `str` like the `String` it replaces.
//!
//! Chain names are looked up by a 64-bit hash of the name (no string per map entry); the name
//! itself is compared on every hit, and a name whose hash another name already took is kept
//! apart, so a collision costs a slower lookup, never a wrong one.

use rustc_hash::{FxBuildHasher, FxHashMap};
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::Arc;

/// A piece of a table's shared text (a rule's line or a chain's name).
#[derive(Clone, Default)]
pub struct ArenaStr {
    buf: Arc<String>,
    start: u32,
    len: u32,
}

impl ArenaStr {
    /// `range` must lie in `buf` on character boundaries (all iptables text is ASCII).
    pub(super) fn new(buf: &Arc<String>, (start, len): (u32, u32)) -> ArenaStr {
        debug_assert!(buf.is_char_boundary(start as usize) && buf.is_char_boundary((start + len) as usize));
        ArenaStr {
            buf: Arc::clone(buf),
            start,
            len,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.buf[self.start as usize..(self.start + self.len) as usize]
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

/// Appends `s` to `buf` and returns its range there.
pub(super) fn append(buf: &mut String, s: &str) -> (u32, u32) {
    let start = offset(buf);
    buf.push_str(s);
    (start, offset(buf) - start)
}

/// The current end of `buf` as a range bound.
pub(super) fn offset(buf: &str) -> u32 {
    u32::try_from(buf.len()).expect("a table's text stays under 4 GiB")
}

/// Resolves a range of `buf` (while the buffer is still being written).
pub(super) fn slice(buf: &str, (start, len): (u32, u32)) -> &str {
    &buf[start as usize..(start + len) as usize]
}

/// Chain name → chain id, by hash of the name.
#[derive(Clone, Debug, Default)]
pub(super) struct NameIndex {
    by_hash: FxHashMap<u64, u32>,
    /// Names whose hash an earlier, different name holds in `by_hash`.
    collided: FxHashMap<Box<str>, u32>,
}

impl NameIndex {
    pub fn with_capacity(n: usize) -> NameIndex {
        NameIndex {
            by_hash: FxHashMap::with_capacity_and_hasher(n, FxBuildHasher),
            collided: FxHashMap::default(),
        }
    }

    fn hash(name: &str) -> u64 {
        FxBuildHasher.hash_one(name)
    }

    /// `name_of` gives the name of an id already inserted.
    pub fn get<'a>(&self, name: &str, name_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        let &id = self.by_hash.get(&Self::hash(name))?;
        if name_of(id) == name {
            Some(id)
        } else {
            self.collided.get(name).copied()
        }
    }

    /// Inserts a name that `get` does not find.
    pub fn insert(&mut self, name: &str, id: u32) {
        match self.by_hash.entry(Self::hash(name)) {
            Entry::Vacant(e) => {
                e.insert(id);
            }
            Entry::Occupied(_) => {
                self.collided.insert(name.into(), id);
            }
        }
    }
}
