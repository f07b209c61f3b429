//! The `ip kube-proxy` table as data: chains, rules, sets and verdict maps, in a form both
//! evaluators walk and the `nft -f` renderer prints. Rule text is produced here only, so the
//! dump, the trace and the evaluator can never disagree about what a rule says.

use crate::model::Protocol;
use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;
use std::fmt;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The table every object lives in (kube-proxy's `kubeProxyTable`, IPv4 family).
pub const TABLE: &str = "ip kube-proxy";

/// Which service port an element or chain was written for: ties a verdict back to
/// `Decision::{Reject, Drop, Dnat}`. `NO_PORT` for one written per Service (`cluster-ips`),
/// `NO_SERVICE` for one written for none (`nodeport-ips`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    pub service: u32,
    pub port: u32,
}

/// A set or map key. The concatenations are the ones kube-proxy declares:
/// `ipv4_addr . inet_proto . inet_service` and `inet_proto . inet_service`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Dest(Ipv4Addr, Protocol, u16),
    Port(Protocol, u16),
    Addr(Ipv4Addr),
}

impl Key {
    pub fn render(&self) -> String {
        match self {
            Key::Dest(a, p, port) => format!("{a} . {} . {port}", p.as_lower()),
            Key::Port(p, port) => format!("{} . {port}", p.as_lower()),
            Key::Addr(a) => a.to_string(),
        }
    }
}

/// A jump, goto or verdict-map target: a chain by name. The table binds it to the chain's
/// slot when the rule or element is added, as the kernel resolves chain references at load
/// time, so the fast evaluator follows it without a name lookup. Two references are equal when
/// they name the same chain (the slot only caches where that name lives).
#[derive(Clone, Debug)]
pub struct ChainRef {
    pub name: String,
    slot: u32,
}

impl ChainRef {
    const UNBOUND: u32 = u32::MAX;

    /// The slot `Tables` bound this reference to (None before it was added to a table).
    pub fn slot(&self) -> Option<u32> {
        (self.slot != ChainRef::UNBOUND).then_some(self.slot)
    }
}

impl From<&str> for ChainRef {
    fn from(name: &str) -> ChainRef {
        ChainRef::from(name.to_string())
    }
}

impl From<String> for ChainRef {
    fn from(name: String) -> ChainRef {
        ChainRef {
            name,
            slot: ChainRef::UNBOUND,
        }
    }
}

impl PartialEq for ChainRef {
    fn eq(&self, o: &ChainRef) -> bool {
        self.name == o.name
    }
}

impl Eq for ChainRef {}

impl fmt::Display for ChainRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What a verdict-map element does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElemVerdict {
    Goto(ChainRef),
    Drop,
}

impl ElemVerdict {
    fn render(&self) -> String {
        match self {
            ElemVerdict::Goto(c) => format!("goto {c}"),
            ElemVerdict::Drop => "drop".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// None for plain sets.
    pub value: Option<ElemVerdict>,
    pub comment: Option<String>,
    pub owner: Owner,
}

/// A named set or map with its declaration and elements (hashed, as the kernel finds them;
/// `Tables::render` sorts them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub is_map: bool,
    /// e.g. `ipv4_addr . inet_proto . inet_service : verdict`.
    pub type_decl: &'static str,
    pub comment: Option<&'static str>,
    /// Affinity sets: `flags dynamic,timeout ; timeout Ns`.
    pub timeout_s: Option<u32>,
    pub elements: FxHashMap<Key, Element>,
}

impl Container {
    pub fn render_decl(&self, name: &str) -> String {
        let kind = if self.is_map { "map" } else { "set" };
        let mut s = format!("add {kind} {TABLE} {name} {{ type {} ;", self.type_decl);
        if let Some(t) = self.timeout_s {
            let _ = write!(s, " flags dynamic,timeout ; timeout {t}s ;");
        }
        if let Some(c) = self.comment {
            let _ = write!(s, " comment \"{c}\" ;");
        }
        s.push_str(" }");
        s
    }
}

/// `add element` for one element, as knftables prints it (comment before the value).
pub fn render_element(container: &str, key: &Key, e: &Element) -> String {
    let mut s = format!("add element {TABLE} {container} {{ {}", key.render());
    if let Some(c) = &e.comment {
        let _ = write!(s, " comment \"{c}\"");
    }
    if let Some(v) = &e.value {
        let _ = write!(s, " : {}", v.render());
    }
    s.push_str(" }");
    s
}

/// The element as a trace step shows it (key and verdict, no table prefix).
pub fn element_text(key: &Key, e: &Element) -> String {
    match &e.value {
        Some(v) => format!("{} : {}", key.render(), v.render()),
        None => key.render(),
    }
}

/// A rule's matches, tested left to right; the first that fails ends the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    CtStateNew,
    DaddrEq(Ipv4Addr),
    SaddrEq(Ipv4Addr),
    SaddrInNet(Ipv4Net),
    SaddrNotInNet(Ipv4Net),
    /// `ip saddr != { a , b }`: an anonymous set, one lookup.
    SaddrNotInAnon(Vec<String>),
    DaddrInSet(String),
    SaddrInSet(String),
    FibSaddrLocal,
    L4Proto(Protocol),
    /// `mark and M == 0`.
    MarkClear(u32),
}

impl Match {
    fn render(&self, out: &mut String) {
        let _ = match self {
            Match::CtStateNew => write!(out, "ct state new"),
            Match::DaddrEq(a) => write!(out, "ip daddr {a}"),
            Match::SaddrEq(a) => write!(out, "ip saddr {a}"),
            Match::SaddrInNet(n) => write!(out, "ip saddr {n}"),
            Match::SaddrNotInNet(n) => write!(out, "ip saddr != {n}"),
            Match::SaddrNotInAnon(v) => write!(out, "ip saddr != {{ {} }}", v.join(" , ")),
            Match::DaddrInSet(s) => write!(out, "ip daddr @{s}"),
            Match::SaddrInSet(s) => write!(out, "ip saddr @{s}"),
            Match::FibSaddrLocal => write!(out, "fib saddr type local"),
            Match::L4Proto(p) => write!(out, "meta l4proto {}", p.as_lower()),
            Match::MarkClear(m) => write!(out, "mark and {m:#x} == 0"),
        };
    }
}

/// The statement a rule ends with once its matches hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Jump(ChainRef),
    Goto(ChainRef),
    Return,
    /// The only `drop` statement kube-proxy writes in a chain is the loadBalancerSourceRanges
    /// one (map elements drop for "no local endpoints").
    Drop,
    Reject,
    /// `ip daddr . meta l4proto . th dport vmap @map`.
    VmapDest(String),
    /// `meta l4proto . th dport vmap @map`.
    VmapPort(String),
    /// `numgen random mod N vmap { 0 : goto a , 1 : goto b }`.
    Numgen(Vec<ChainRef>),
    MarkOr(u32),
    MarkXor(u32),
    Masquerade,
    /// `update @set { ip saddr }`: refreshes the source's affinity; the rule goes on.
    UpdateAffinity(String),
    DnatTo {
        ip: Ipv4Addr,
        port: u16,
        owner: Owner,
        /// Index into the service port's endpoint list.
        index: u32,
    },
}

impl Action {
    fn render(&self, out: &mut String) {
        let _ = match self {
            Action::Jump(c) => write!(out, "jump {c}"),
            Action::Goto(c) => write!(out, "goto {c}"),
            Action::Return => write!(out, "return"),
            Action::Drop => write!(out, "drop"),
            Action::Reject => write!(out, "reject"),
            Action::VmapDest(m) => write!(out, "ip daddr . meta l4proto . th dport vmap @{m}"),
            Action::VmapPort(m) => write!(out, "meta l4proto . th dport vmap @{m}"),
            Action::Numgen(chains) => {
                let elems: Vec<String> = chains
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{i} : goto {c}"))
                    .collect();
                write!(
                    out,
                    "numgen random mod {} vmap {{ {} }}",
                    chains.len(),
                    elems.join(" , ")
                )
            }
            Action::MarkOr(m) => write!(out, "mark set mark or {m:#x}"),
            Action::MarkXor(m) => write!(out, "mark set mark xor {m:#x}"),
            Action::Masquerade => write!(out, "masquerade fully-random"),
            Action::UpdateAffinity(s) => write!(out, "update @{s} {{ ip saddr }}"),
            Action::DnatTo { ip, port, .. } => write!(out, "dnat to {ip}:{port}"),
        };
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub action: Action,
    pub comment: Option<&'static str>,
}

impl Rule {
    pub fn new(matches: Vec<Match>, action: Action) -> Rule {
        Rule {
            matches,
            action,
            comment: None,
        }
    }

    pub fn commented(mut self, c: &'static str) -> Rule {
        self.comment = Some(c);
        self
    }

    /// The rule body as `nft list` and kube-proxy's tests print it.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for m in &self.matches {
            m.render(&mut s);
            s.push(' ');
        }
        self.action.render(&mut s);
        if let Some(c) = self.comment {
            let _ = write!(s, " comment \"{c}\"");
        }
        s
    }
}

/// A base chain's hook: `type T hook H priority P`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    pub kind: &'static str,
    pub hook: &'static str,
    pub priority: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub hook: Option<Hook>,
    pub comment: Option<&'static str>,
    pub rules: Vec<Rule>,
}

impl Chain {
    pub fn regular(rules: Vec<Rule>) -> Chain {
        Chain {
            hook: None,
            comment: None,
            rules,
        }
    }

    pub fn render_decl(&self, name: &str) -> String {
        let mut s = format!("add chain {TABLE} {name}");
        match (&self.hook, self.comment) {
            (Some(h), _) => {
                let _ = write!(s, " {{ type {} hook {} priority {} ; }}", h.kind, h.hook, h.priority);
            }
            (None, Some(c)) => {
                let _ = write!(s, " {{ comment \"{c}\" ; }}");
            }
            (None, None) => {}
        }
        s
    }
}

pub fn render_rule(chain: &str, r: &Rule) -> String {
    format!("add rule {TABLE} {chain} {}", r.text())
}

/// The whole table. Chains live in slots, found by name through `slots` or by a bound
/// `ChainRef` directly; containers and elements are hash maps keyed by name and key. A lookup
/// costs the same at any table size, and nothing observable iterates them unsorted: the dump
/// sorts, and the sync counts only sum over them.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    /// Per slot, the chain's name and the chain while it exists. A removed chain leaves its
    /// slot empty; a name keeps its slot for good, so bound references never go stale.
    chains: Vec<(Arc<str>, Option<Chain>)>,
    slots: FxHashMap<Arc<str>, u32>,
    pub containers: FxHashMap<String, Container>,
}

impl Tables {
    /// The slot of `name`, allocated on first sight.
    fn slot(&mut self, name: &str) -> u32 {
        if let Some(&s) = self.slots.get(name) {
            return s;
        }
        let s = u32::try_from(self.chains.len()).expect("fewer than 2^32 chain names");
        let name: Arc<str> = name.into();
        self.chains.push((Arc::clone(&name), None));
        self.slots.insert(name, s);
        s
    }

    fn bind(&mut self, r: &mut ChainRef) {
        r.slot = self.slot(&r.name);
    }

    /// Adds (or replaces) chain `name`, binding the references its rules hold.
    pub fn insert_chain(&mut self, name: &str, mut chain: Chain) {
        for rule in &mut chain.rules {
            match &mut rule.action {
                Action::Jump(r) | Action::Goto(r) => self.bind(r),
                Action::Numgen(targets) => targets.iter_mut().for_each(|r| self.bind(r)),
                _ => {}
            }
        }
        let s = self.slot(name);
        self.chains[s as usize].1 = Some(chain);
    }

    pub fn remove_chain(&mut self, name: &str) {
        if let Some(&s) = self.slots.get(name) {
            self.chains[s as usize].1 = None;
        }
    }

    /// Adds (or replaces) an element of `container`, binding its verdict's chain.
    pub fn insert_element(&mut self, container: &str, key: Key, mut e: Element) {
        if let Some(ElemVerdict::Goto(r)) = &mut e.value {
            self.bind(r);
        }
        let c = self.containers.get_mut(container).expect("container exists");
        c.elements.insert(key, e);
    }

    /// Chain `name` by its name.
    pub fn chain(&self, name: &str) -> Option<(&str, &Chain)> {
        self.at(*self.slots.get(name)?)
    }

    /// The chain in `slot`, if it exists.
    pub fn at(&self, slot: u32) -> Option<(&str, &Chain)> {
        let (name, c) = self.chains.get(slot as usize)?;
        c.as_ref().map(|c| (&**name, c))
    }

    /// Every existing chain, in slot order.
    pub fn chains(&self) -> impl Iterator<Item = (&str, &Chain)> {
        self.chains.iter().filter_map(|(n, c)| c.as_ref().map(|c| (&**n, c)))
    }
}

/// Name/value pairs, sorted by name when `sorted`.
fn ordered<'a, K: Ord + ?Sized, V>(it: impl Iterator<Item = (&'a K, &'a V)>, sorted: bool) -> Vec<(&'a K, &'a V)> {
    let mut v: Vec<(&K, &V)> = it.collect();
    if sorted {
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    v
}

impl Tables {
    /// The `nft -f` script that creates the table from nothing. Objects come in an order a
    /// single transaction accepts: containers and chains before the rules and elements
    /// that name them; each kind by name (elements by key).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.each_line(true, |line| {
            out.push_str(line);
            out.push('\n');
        });
        out
    }

    /// (lines, bytes) of `render()`, without sorting or building it (what a full sync writes).
    pub fn text_size(&self) -> (u64, u64) {
        let (mut lines, mut bytes) = (0u64, 0u64);
        self.each_line(false, |line| {
            lines += 1 + line.matches('\n').count() as u64;
            bytes += line.len() as u64 + 1;
        });
        (lines, bytes)
    }

    /// Every line of the script (without its newline), in `render` order when `sorted`.
    fn each_line(&self, sorted: bool, mut emit: impl FnMut(&str)) {
        emit(&format!("add table {TABLE} {{ comment \"rules for kube-proxy\" ; }}"));
        let containers = ordered(self.containers.iter(), sorted);
        let chains = ordered(self.chains(), sorted);
        for (name, c) in &containers {
            emit(&c.render_decl(name));
        }
        for (name, c) in &chains {
            emit(&c.render_decl(name));
        }
        for (name, c) in &chains {
            for r in &c.rules {
                emit(&render_rule(name, r));
            }
        }
        for (name, c) in &containers {
            for (k, e) in ordered(c.elements.iter(), sorted) {
                emit(&render_element(name, k, e));
            }
        }
    }
}
