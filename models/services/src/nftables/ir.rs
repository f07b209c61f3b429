//! The `ip kube-proxy` table as data: chains, rules, sets and verdict maps, in a form both
//! evaluators walk and the `nft -f` renderer prints. Rule text is produced here only, so the
//! dump, the trace and the evaluator can never disagree about what a rule says.

use crate::model::Protocol;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

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

/// What a verdict-map element does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElemVerdict {
    Goto(String),
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

/// A named set or map with its declaration and elements (ordered, so dumps are stable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub is_map: bool,
    /// e.g. `ipv4_addr . inet_proto . inet_service : verdict`.
    pub type_decl: &'static str,
    pub comment: Option<&'static str>,
    /// Affinity sets: `flags dynamic,timeout ; timeout Ns`.
    pub timeout_s: Option<u32>,
    pub elements: BTreeMap<Key, Element>,
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
    Jump(String),
    Goto(String),
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
    Numgen(Vec<String>),
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

/// The whole table. Ordered maps keep every dump and iteration deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub chains: BTreeMap<String, Chain>,
    pub containers: BTreeMap<String, Container>,
}

impl Tables {
    /// The `nft -f` script that creates the table from nothing. Objects come in an order a
    /// single transaction accepts: containers and chains before the rules and elements
    /// that name them.
    pub fn render(&self) -> String {
        let mut out = format!("add table {TABLE} {{ comment \"rules for kube-proxy\" ; }}\n");
        for (name, c) in &self.containers {
            out.push_str(&c.render_decl(name));
            out.push('\n');
        }
        for (name, c) in &self.chains {
            out.push_str(&c.render_decl(name));
            out.push('\n');
        }
        for (name, c) in &self.chains {
            for r in &c.rules {
                out.push_str(&render_rule(name, r));
                out.push('\n');
            }
        }
        for (name, c) in &self.containers {
            for (k, e) in &c.elements {
                out.push_str(&render_element(name, k, e));
                out.push('\n');
            }
        }
        out
    }
}
