//! Writing a table: chains are created on first reference and declared as kube-proxy declares
//! them, and each rule's line is written straight into the table's text buffer while its
//! matches are collected (`RuleBuilder`), so a rule costs no allocation of its own. `finish`
//! lays the rules out chain after chain and hands out the shared buffers.

use super::arena::{self, ArenaStr, NameIndex};
use super::names::Probability;
use super::rule::*;
use crate::model::Protocol;
use ipnet::Ipv4Net;
use smallvec::SmallVec;
use std::fmt::{self, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;

#[derive(Clone, Copy, Debug)]
struct DraftChain {
    name: (u32, u32),
    builtin: bool,
    rules: u32,
}

#[derive(Clone, Copy, Debug)]
struct DraftRule {
    chain: u32,
    text: (u32, u32),
    matches: (u32, u32),
    target: Target,
}

/// A table being generated.
#[derive(Debug)]
pub struct TableBuilder {
    name: &'static str,
    names: String,
    chains: Vec<DraftChain>,
    ids: NameIndex,
    text: String,
    /// In the order written (kube-proxy's and the built-in jumps interleaved).
    rules: Vec<DraftRule>,
    matches: Vec<Match>,
    decl_order: Vec<(u32, Owner)>,
    /// (index in `rules`, owner).
    write_order: Vec<(u32, Owner)>,
}

impl TableBuilder {
    /// `like`: the previous generation of this table, whose sizes the new one most likely
    /// repeats (so the buffers are allocated once rather than grown by doubling).
    pub fn new(name: &'static str, builtins: &[&str], like: Option<&Table>) -> TableBuilder {
        let (chains, rules, matches, text, names, decls) = like.map_or((0, 0, 0, 0, 0, 0), |t| {
            (
                t.chains.len(),
                t.rules().len(),
                t.matches.len(),
                t.text_len,
                t.names_len,
                t.decl_order.len(),
            )
        });
        let mut t = TableBuilder {
            name,
            names: String::with_capacity(names),
            chains: Vec::with_capacity(chains),
            ids: NameIndex::with_capacity(chains),
            text: String::with_capacity(text),
            rules: Vec::with_capacity(rules),
            matches: Vec::with_capacity(matches),
            decl_order: Vec::with_capacity(decls),
            write_order: Vec::with_capacity(rules),
        };
        for b in builtins {
            let id = t.chain_id(b);
            t.chains[id as usize].builtin = true;
        }
        t
    }

    fn name_of(&self, id: u32) -> &str {
        arena::slice(&self.names, self.chains[id as usize].name)
    }

    pub fn find(&self, name: &str) -> Option<u32> {
        self.ids.get(name, |id| arena::slice(&self.names, self.chains[id as usize].name))
    }

    /// The chain's index, creating an (undeclared) chain on first reference.
    pub fn chain_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.find(name) {
            return id;
        }
        let id = u32::try_from(self.chains.len()).expect("fewer than 2^32 chains");
        let range = arena::append(&mut self.names, name);
        self.chains.push(DraftChain {
            name: range,
            builtin: false,
            rules: 0,
        });
        self.ids.insert(name, id);
        id
    }

    /// Declares a chain as kube-proxy does with a `:NAME - [0:0]` line.
    pub fn declare(&mut self, name: &str, owner: Owner) -> u32 {
        let id = self.chain_id(name);
        self.decl_order.push((id, owner));
        id
    }

    /// Starts a kube-proxy rule (part of the restore text) in chain `chain`.
    pub fn rule(&mut self, chain: u32, owner: Owner) -> RuleBuilder<'_> {
        RuleBuilder::new(self, chain, Some(owner))
    }

    /// Starts a rule that kube-proxy ensures outside the restore text (built-in chain jumps).
    pub fn builtin_rule(&mut self, chain: u32) -> RuleBuilder<'_> {
        assert!(self.chains[chain as usize].builtin, "{} is built in", self.name_of(chain));
        RuleBuilder::new(self, chain, None)
    }

    /// kube-proxy's rules written so far.
    pub fn written(&self) -> usize {
        self.write_order.len()
    }

    /// The finished table: rules grouped by chain (each chain's in the order appended), the
    /// text buffers shared by the rules and chains.
    pub fn finish(mut self) -> Table {
        self.text.shrink_to_fit();
        self.names.shrink_to_fit();
        let (text_len, names_len) = (self.text.len(), self.names.len());
        let text = Arc::new(self.text);
        let names = Arc::new(self.names);
        // Counting sort by chain, stable: a chain's rules keep their append order.
        let mut next = Vec::with_capacity(self.chains.len());
        let mut at = 0u32;
        for c in &self.chains {
            next.push(at);
            at += c.rules;
        }
        let starts = next.clone();
        let mut pos = Vec::with_capacity(self.rules.len());
        let mut order = vec![0u32; self.rules.len()];
        for (i, r) in self.rules.iter().enumerate() {
            let p = next[r.chain as usize];
            next[r.chain as usize] += 1;
            pos.push(p);
            order[p as usize] = i as u32;
        }
        let rules: Vec<Rule> = order
            .iter()
            .map(|&i| {
                let d = &self.rules[i as usize];
                Rule {
                    text: ArenaStr::new(&text, d.text),
                    matches: d.matches,
                    target: d.target,
                }
            })
            .collect();
        drop(order);
        let rules = Arc::new(rules);
        let chains = self
            .chains
            .iter()
            .zip(&starts)
            .map(|(c, &start)| Chain {
                name: ArenaStr::new(&names, c.name),
                builtin: c.builtin,
                rules: Rules::new(&rules, start, c.rules),
            })
            .collect();
        let write_order = self
            .write_order
            .iter()
            .map(|&(i, owner)| (pos[i as usize], owner))
            .collect();
        Table {
            name: self.name,
            chains,
            ids: self.ids,
            rules,
            matches: self.matches,
            decl_order: self.decl_order,
            write_order,
            text_len,
            names_len,
        }
    }
}

/// Builds one rule's text and matches together, in kube-proxy's argument order.
pub struct RuleBuilder<'t> {
    t: &'t mut TableBuilder,
    chain: u32,
    /// `None`: a built-in jump, not part of the restore text.
    owner: Option<Owner>,
    start: u32,
    ip: SmallVec<[Match; 4]>,
    ext: SmallVec<[Match; 4]>,
}

impl<'t> RuleBuilder<'t> {
    fn new(t: &'t mut TableBuilder, chain: u32, owner: Option<Owner>) -> RuleBuilder<'t> {
        let start = arena::offset(&t.text);
        t.text.push_str("-A ");
        t.text.push_str(arena::slice(&t.names, t.chains[chain as usize].name));
        RuleBuilder {
            t,
            chain,
            owner,
            start,
            ip: SmallVec::new(),
            ext: SmallVec::new(),
        }
    }

    fn put(&mut self, args: fmt::Arguments<'_>) {
        self.t.text.write_fmt(args).expect("writing to a String cannot fail");
    }

    /// ` -m comment --comment C`: `comment` is written as given (kube-proxy quotes the ones
    /// with spaces itself).
    pub fn comment(mut self, comment: impl fmt::Display) -> Self {
        self.put(format_args!(" -m comment --comment {comment}"));
        self
    }

    /// `comment` unless `skip` (large-cluster mode leaves per-endpoint comments out).
    pub fn comment_unless(self, skip: bool, comment: impl fmt::Display) -> Self {
        if skip {
            self
        } else {
            self.comment(comment)
        }
    }

    /// `-m tcp -p tcp`: the protocol match and the (option-less) protocol extension.
    pub fn proto(mut self, p: Protocol) -> Self {
        let l = p.as_lower();
        self.put(format_args!(" -m {l} -p {l}"));
        self.ip.push(Match::Proto(p));
        self
    }

    pub fn dst(mut self, ip: Ipv4Addr) -> Self {
        self.put(format_args!(" -d {ip}"));
        self.ip.push(Match::Dst {
            net: Ipv4Net::from(ip),
            negated: false,
        });
        self
    }

    pub fn dst_net(mut self, net: Ipv4Net, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!("{bang} -d {net}"));
        self.ip.push(Match::Dst { net, negated });
        self
    }

    pub fn dport(mut self, port: u16) -> Self {
        self.put(format_args!(" --dport {port}"));
        self.ext.push(Match::Dport(port));
        self
    }

    /// `-s ADDR` for a single address (written without a prefix length, as kube-proxy does).
    pub fn src_ip(mut self, ip: Ipv4Addr) -> Self {
        self.put(format_args!(" -s {ip}"));
        self.ip.push(Match::Src {
            net: Ipv4Net::from(ip),
            negated: false,
        });
        self
    }

    pub fn src_net(mut self, net: Ipv4Net, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!("{bang} -s {net}"));
        self.ip.push(Match::Src { net, negated });
        self
    }

    pub fn dst_type_local(mut self) -> Self {
        self.t.text.push_str(" -m addrtype --dst-type LOCAL");
        self.ext.push(Match::DstTypeLocal);
        self
    }

    pub fn src_type_local(mut self) -> Self {
        self.t.text.push_str(" -m addrtype --src-type LOCAL");
        self.ext.push(Match::SrcTypeLocal);
        self
    }

    pub fn mark(mut self, value: u32, mask: u32, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!(" -m mark{bang} --mark {value:#x}/{mask:#x}"));
        self.ext.push(Match::Mark { value, mask, negated });
        self
    }

    /// `states_text` is the comma list as written (e.g. `RELATED,ESTABLISHED`).
    pub fn ctstate(mut self, states: u8, states_text: &str, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!(" -m conntrack{bang} --ctstate {states_text}"));
        self.ext.push(Match::CtState { states, negated });
        self
    }

    pub fn statistic(mut self, p: &Probability) -> Self {
        self.put(format_args!(" -m statistic --mode random --probability {}", p.text));
        self.ext.push(Match::Statistic { probability: p.kernel });
        self
    }

    fn push_name(&mut self, chain: u32) {
        let t = &mut *self.t;
        t.text.push_str(arena::slice(&t.names, t.chains[chain as usize].name));
    }

    /// `-m recent --name <chain> --set`.
    pub fn recent_set(mut self, chain: u32) -> Self {
        self.t.text.push_str(" -m recent --name ");
        self.push_name(chain);
        self.t.text.push_str(" --set");
        self.ext.push(Match::RecentSet { chain });
        self
    }

    /// `-m recent --name <chain> --rcheck --seconds N --reap`.
    pub fn recent_check(mut self, chain: u32, seconds: u32) -> Self {
        self.t.text.push_str(" -m recent --name ");
        self.push_name(chain);
        self.put(format_args!(" --rcheck --seconds {seconds} --reap"));
        self.ext.push(Match::RecentCheck { chain, seconds });
        self
    }

    pub fn nfacct(mut self, name: &str) -> Self {
        self.put(format_args!(" -m nfacct --nfacct-name {name}"));
        self.ext.push(Match::Nfacct);
        self
    }

    fn finish(self, target: Target) {
        let t = self.t;
        let m0 = u32::try_from(t.matches.len()).expect("fewer than 2^32 matches");
        t.matches.extend(self.ip);
        t.matches.extend(self.ext);
        let end = arena::offset(&t.text);
        let i = u32::try_from(t.rules.len()).expect("fewer than 2^32 rules");
        t.rules.push(DraftRule {
            chain: self.chain,
            text: (self.start, end - self.start),
            matches: (m0, t.matches.len() as u32 - m0),
            target,
        });
        t.chains[self.chain as usize].rules += 1;
        if let Some(owner) = self.owner {
            t.write_order.push((i, owner));
        }
    }

    pub fn jump(mut self, chain: u32) {
        self.t.text.push_str(" -j ");
        self.push_name(chain);
        self.finish(Target::Jump(chain))
    }

    /// A rule with no `-j` (kube-proxy's comment-only last rule of KUBE-FW-*).
    pub fn no_target(self) {
        self.finish(Target::None)
    }

    pub fn ret(self) {
        self.t.text.push_str(" -j RETURN");
        self.finish(Target::Return)
    }

    pub fn accept(self) {
        self.t.text.push_str(" -j ACCEPT");
        self.finish(Target::Accept)
    }

    pub fn drop(self, cause: Cause) {
        self.t.text.push_str(" -j DROP");
        self.finish(Target::Drop(cause))
    }

    pub fn reject(self, cause: Cause) {
        self.t.text.push_str(" -j REJECT");
        self.finish(Target::Reject(cause))
    }

    /// `ids`: (service, service port, endpoint index in the port's API list).
    pub fn dnat(mut self, ip: Ipv4Addr, port: u16, ids: (u32, u32, u32)) {
        self.put(format_args!(" -j DNAT --to-destination {ip}:{port}"));
        self.finish(Target::Dnat {
            ip,
            port,
            service: ids.0,
            svc_port: ids.1,
            endpoint: ids.2,
        })
    }

    pub fn mark_or(mut self, mark: u32) {
        self.put(format_args!(" -j MARK --or-mark {mark:#x}"));
        self.finish(Target::MarkOr(mark))
    }

    pub fn mark_xor(mut self, mark: u32) {
        self.put(format_args!(" -j MARK --xor-mark {mark:#x}"));
        self.finish(Target::MarkXor(mark))
    }

    pub fn masquerade(self, random_fully: bool) {
        self.t.text.push_str(" -j MASQUERADE");
        if random_fully {
            self.t.text.push_str(" --random-fully");
        }
        self.finish(Target::Masquerade)
    }
}
