//! Writing a table: chains are created on first reference and declared as kube-proxy declares
//! them, and each rule's line is written straight into the table's text buffer while its
//! matches are collected (`line::RuleBuilder`), so a rule costs no allocation of its own.
//! `finish` makes each chain's rules contiguous and shares the buffers. A finished table can
//! be taken apart (`Table::recycle`) for the next one to be written into the same memory.

use super::arena::{self, Arena, ArenaStr, NameIndex};
use super::rule::*;
use std::sync::Arc;

mod line;

pub use line::RuleBuilder;

/// A finished table's buffers, emptied, for the next generation of the same table to write
/// into: their pages are mapped already (a fresh 100 MB buffer costs more in page faults than
/// writing it), and the old table is gone before the new one is built, so a node never holds
/// two.
#[derive(Debug, Default)]
pub struct Recycled {
    chains: Vec<Chain>,
    ids: NameIndex,
    rules: Vec<Rule>,
    matches: Vec<Match>,
    decl_order: Vec<(u32, Owner)>,
    write_order: Vec<(u32, Owner)>,
    written: Vec<Written>,
    text: String,
    names_len: usize,
}

impl Table {
    /// Takes the table apart for reuse, keeping the names of the declared chains that `keep`
    /// selects (they stay readable; the names buffer is the one part not reused).
    pub fn recycle(self, keep: impl Fn(&str) -> bool) -> (Vec<ArenaStr>, Recycled) {
        let kept = self
            .decl_order
            .iter()
            .map(|&(id, _)| &self.chains[id as usize].name)
            .filter(|n| keep(n))
            .cloned()
            .collect();
        let Table {
            mut chains,
            mut ids,
            rules,
            mut matches,
            mut decl_order,
            mut write_order,
            text,
            names,
            mut written,
            ..
        } = self;
        // Chains and rules hold the handles; with them gone the buffers are ours again
        // (unless a clone of the table still shares them: then the next one starts afresh).
        chains.clear();
        let mut rules = Arc::try_unwrap(rules).unwrap_or_default();
        rules.clear();
        ids.clear();
        matches.clear();
        decl_order.clear();
        write_order.clear();
        written.clear();
        let recycled = Recycled {
            chains,
            ids,
            rules,
            matches,
            decl_order,
            write_order,
            written,
            text: arena::reclaim(text).unwrap_or_default(),
            names_len: names.len(),
        };
        (kept, recycled)
    }
}

/// A table being generated.
#[derive(Debug)]
pub struct TableBuilder {
    name: &'static str,
    names: Arena,
    text: Arena,
    /// Chains with their rule counts so far (placed in `finish`).
    chains: Vec<Chain>,
    ids: NameIndex,
    /// `new_chain` trusts its names to be unique (else it looks them up like `chain_id`).
    trust_unique: bool,
    /// In the order written (kube-proxy's and the built-in jumps interleaved).
    rules: Vec<Rule>,
    /// The chain of each rule of `rules`.
    rule_chain: Vec<u32>,
    /// Per chain: its rules are not (yet known to be) contiguous in `rules`.
    split: Vec<bool>,
    matches: Vec<Match>,
    decl_order: Vec<(u32, Owner)>,
    /// (index in `rules`, owner).
    write_order: Vec<(u32, Owner)>,
    written: Vec<Written>,
}

impl TableBuilder {
    /// A table written into `reuse`'s buffers. With `trust_unique`, `new_chain` creates its
    /// chains without looking their names up, and `finish` fails if that made two chains of
    /// one name.
    pub fn new(name: &'static str, builtins: &[&str], reuse: Recycled, trust_unique: bool) -> TableBuilder {
        let Recycled {
            chains,
            ids,
            rules,
            matches,
            decl_order,
            write_order,
            written,
            text,
            names_len,
        } = reuse;
        let mut t = TableBuilder {
            name,
            names: Arena::new(String::with_capacity(names_len)),
            text: Arena::new(text),
            rule_chain: Vec::with_capacity(rules.capacity()),
            split: Vec::with_capacity(chains.capacity()),
            chains,
            ids,
            trust_unique,
            rules,
            matches,
            decl_order,
            write_order,
            written,
        };
        for b in builtins {
            let id = t.chain_id(b);
            t.chains[id as usize].builtin = true;
        }
        t
    }

    /// The chain's index, creating an (undeclared) chain on first reference.
    pub fn chain_id(&mut self, name: &str) -> u32 {
        let new_id = u32::try_from(self.chains.len()).expect("fewer than 2^32 chains");
        let (names, chains) = (&self.names, &self.chains);
        let id = self
            .ids
            .get_or_insert(name, new_id, |id| names.get(&chains[id as usize].name));
        if id == new_id {
            self.push_chain(name);
        }
        id
    }

    /// A chain whose name no other chain has: a per-service chain, hashed from its Service
    /// port's unique name (`finish` checks).
    pub fn new_chain(&mut self, name: &str) -> u32 {
        if self.trust_unique {
            self.push_chain(name)
        } else {
            self.chain_id(name)
        }
    }

    fn push_chain(&mut self, name: &str) -> u32 {
        let id = u32::try_from(self.chains.len()).expect("fewer than 2^32 chains");
        self.split.push(false);
        let name = self.names.push(name);
        self.chains.push(Chain {
            name,
            builtin: false,
            rules: Rules {
                all: None,
                start: 0,
                len: 0,
            },
        });
        id
    }

    fn written_mut(&mut self, owner: Owner) -> &mut Written {
        let i = owner.map_or(0, |s| s as usize + 1);
        if self.written.len() <= i {
            self.written.resize(i + 1, Written::default());
        }
        &mut self.written[i]
    }

    /// Declares a chain as kube-proxy does with a `:NAME - [0:0]` line.
    pub fn declare(&mut self, name: &str, owner: Owner) -> u32 {
        let id = self.chain_id(name);
        self.declare_id(id, owner);
        id
    }

    /// `declare` for a chain already referenced.
    pub fn declare_id(&mut self, id: u32, owner: Owner) {
        self.decl_order.push((id, owner));
        let len = self.chains[id as usize].name.range().1;
        self.written_mut(owner).bytes += u64::from(len) + ":".len() as u64 + " - [0:0]\n".len() as u64;
    }

    /// Starts a kube-proxy rule (part of the restore text) in chain `chain`.
    pub fn rule(&mut self, chain: u32, owner: Owner) -> RuleBuilder<'_> {
        RuleBuilder::new(self, chain, Some(owner))
    }

    /// Starts a rule that kube-proxy ensures outside the restore text (built-in chain jumps).
    pub fn builtin_rule(&mut self, chain: u32) -> RuleBuilder<'_> {
        let c = &self.chains[chain as usize];
        assert!(c.builtin, "{} is not a built-in chain", self.names.get(&c.name));
        RuleBuilder::new(self, chain, None)
    }

    /// kube-proxy's rules written so far.
    pub fn rules_written(&self) -> usize {
        self.write_order.len()
    }

    /// The finished table: each chain's rules made contiguous, in the order appended.
    ///
    /// Most chains (the per-service and per-endpoint ones) are written in one go, so their
    /// rules are contiguous already: they stay in written order, and only the chains written
    /// piecemeal (KUBE-SERVICES and the like, a few percent of the rules) are gathered at the
    /// end. That is one sequential pass; sorting every rule by chain moved each of a million
    /// rules to a random place.
    ///
    /// `None` if `new_chain` was trusted with a name another chain has: the caller writes the
    /// table again, looking every name up.
    pub fn finish(mut self) -> Option<Table> {
        let (names, chains) = (&self.names, &self.chains);
        let unique = self
            .ids
            .finish(chains.len() as u32, |id| names.get(&chains[id as usize].name));
        if !unique {
            assert!(self.trust_unique, "chains looked up by name are unique");
            return None;
        }
        let n = self.rules.len();
        let split_rules: usize = (0..self.chains.len())
            .filter(|&c| self.split[c])
            .map(|c| self.chains[c].rules.len as usize)
            .sum();
        // Split chains get their ranges at the tail, in chain order.
        let mut at = (n - split_rules) as u32;
        for (c, chain) in self.chains.iter_mut().enumerate() {
            if self.split[c] {
                chain.rules.start = at;
                at += chain.rules.len;
            }
        }
        // Rules placed so far per chain; `pos` turns from each rule's chain into its final
        // position. Contiguous chains close up in place (`k` trails `i`), split chains' rules
        // are copied out to `tail`.
        let mut placed = vec![0u32; self.chains.len()];
        let mut pos = self.rule_chain;
        let mut tail: Vec<(u32, Rule)> = Vec::with_capacity(split_rules);
        let mut k = 0usize;
        for (i, p) in pos.iter_mut().enumerate() {
            let c = *p as usize;
            if self.split[c] {
                *p = self.chains[c].rules.start + placed[c];
                tail.push((*p, self.rules[i].clone()));
            } else {
                if placed[c] == 0 {
                    self.chains[c].rules.start = k as u32;
                }
                self.rules.swap(k, i);
                *p = k as u32;
                k += 1;
            }
            placed[c] += 1;
        }
        self.rules.truncate(k);
        tail.sort_unstable_by_key(|&(p, _)| p);
        self.rules.extend(tail.into_iter().map(|(_, r)| r));
        for w in &mut self.write_order {
            w.0 = pos[w.0 as usize];
        }
        // Now the buffers are shared and the handles attached, each in one tight pass.
        let text = self.text.finish();
        for r in &mut self.rules {
            r.text.attach(&text);
        }
        let rules = Arc::new(self.rules);
        let names = self.names.finish();
        for c in &mut self.chains {
            c.name.attach(&names);
            c.rules.all = Some(Arc::clone(&rules));
        }
        Some(Table {
            name: self.name,
            chains: self.chains,
            ids: self.ids,
            rules,
            matches: self.matches,
            decl_order: self.decl_order,
            write_order: self.write_order,
            text,
            names,
            written: self.written,
        })
    }
}
