//! Rendering a ruleset as text: the `iptables-restore` input kube-proxy writes on a full or
//! partial sync (its exact line order, `--noflush` semantics: chains declared with
//! `:NAME - [0:0]` are flushed and refilled, stale ones deleted with `-X`), and a complete,
//! self-contained dump of the node's kube-proxy state (built-in chains with their jumps
//! included) that loads into an empty network namespace.

use super::generate::Ruleset;
use super::names::KUBE_PROXY_CANARY;
use super::rule::{Owner, Table};

/// Which per-service lines a sync writes.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    Full,
    /// Only these services' own chains (sorted service indexes).
    Changed(&'a [u32]),
}

impl Scope<'_> {
    fn includes(&self, owner: Owner) -> bool {
        match (self, owner) {
            (_, None) | (Scope::Full, _) => true,
            (Scope::Changed(c), Some(s)) => c.binary_search(&s).is_ok(),
        }
    }
}

/// Emits the restore text line by line, each line as pieces to concatenate (no newline);
/// returns the rules written. Pieces, so that measuring a sync allocates nothing.
pub fn restore_lines(rs: &Ruleset, scope: Scope<'_>, stale: &[String], mut emit: impl FnMut(&[&str])) -> u64 {
    let mut rules = 0u64;
    emit(&["*filter"]);
    for &(id, _) in &rs.filter.decl_order {
        emit(&[":", &rs.filter.chains[id as usize].name, " - [0:0]"]);
    }
    for &(c, i, _) in &rs.filter.write_order {
        emit(&[&rs.filter.chains[c as usize].rules[i as usize].text]);
        rules += 1;
    }
    emit(&["COMMIT"]);
    emit(&["*nat"]);
    for &(id, owner) in &rs.nat.decl_order {
        if scope.includes(owner) {
            emit(&[":", &rs.nat.chains[id as usize].name, " - [0:0]"]);
        }
    }
    for name in stale {
        emit(&[":", name, " - [0:0]"]);
    }
    for (k, &(c, i, owner)) in rs.nat.write_order.iter().enumerate() {
        if k == rs.nat_delete_at {
            for name in stale {
                emit(&["-X ", name]);
            }
        }
        if scope.includes(owner) {
            emit(&[&rs.nat.chains[c as usize].rules[i as usize].text]);
            rules += 1;
        }
    }
    emit(&["COMMIT"]);
    rules
}

/// The restore text of a sync, and its rule count.
pub fn restore_text(rs: &Ruleset, scope: Scope<'_>, stale: &[String]) -> (String, u64) {
    let mut s = String::new();
    let n = restore_lines(rs, scope, stale, |parts| {
        for p in parts {
            s.push_str(p);
        }
        s.push('\n');
    });
    (s, n)
}

fn dump_table(out: &mut String, t: &Table) {
    out.push_str(&format!("*{}\n", t.name));
    for c in t.chains.iter().filter(|c| c.builtin) {
        out.push_str(&format!(":{} ACCEPT [0:0]\n", c.name));
    }
    out.push_str(&format!(":{KUBE_PROXY_CANARY} - [0:0]\n"));
    for c in t.chains.iter().filter(|c| !c.builtin) {
        out.push_str(&format!(":{} - [0:0]\n", c.name));
    }
    for c in t.chains.iter().filter(|c| c.builtin) {
        for r in &c.rules {
            out.push_str(&r.text);
            out.push('\n');
        }
    }
    for &(c, i, _) in &t.write_order {
        out.push_str(&t.chains[c as usize].rules[i as usize].text);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
}

/// The node's whole kube-proxy state as one `iptables-restore` file: the canary chain in
/// mangle, then filter and nat with the built-in chains (policy ACCEPT) and the jump rules
/// kube-proxy ensures in them ahead of its own rules.
pub fn dump(rs: &Ruleset) -> String {
    let mut out = String::new();
    out.push_str(&format!("*mangle\n:{KUBE_PROXY_CANARY} - [0:0]\nCOMMIT\n"));
    dump_table(&mut out, &rs.filter);
    dump_table(&mut out, &rs.nat);
    out
}
