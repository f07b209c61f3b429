//! Rendering a ruleset as text: the `iptables-restore` input kube-proxy writes on a full or
//! partial sync (its exact line order, `--noflush` semantics: chains declared with
//! `:NAME - [0:0]` are flushed and refilled, stale ones deleted with `-X`), and a complete,
//! self-contained dump of the node's kube-proxy state (built-in chains with their jumps
//! included) that loads into an empty network namespace.

use super::generate::Ruleset;
use super::names::KUBE_PROXY_CANARY;
use super::rule::{Owner, Table};
use std::fmt::Write;

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
/// returns the rules written. This is what the text is; `restore_size` counts the same lines
/// from sums kept while generating, without visiting them (tests hold the two equal).
pub fn restore_lines(rs: &Ruleset, scope: Scope<'_>, stale: &[String], mut emit: impl FnMut(&[&str])) -> u64 {
    let mut rules = 0u64;
    emit(&["*filter"]);
    for &(id, _) in &rs.filter.decl_order {
        emit(&[":", rs.filter.chains[id as usize].name.as_str(), " - [0:0]"]);
    }
    for &(pos, _) in &rs.filter.write_order {
        emit(&[rs.filter.rule(pos).text.as_str()]);
        rules += 1;
    }
    emit(&["COMMIT"]);
    emit(&["*nat"]);
    for &(id, owner) in &rs.nat.decl_order {
        if scope.includes(owner) {
            emit(&[":", rs.nat.chains[id as usize].name.as_str(), " - [0:0]"]);
        }
    }
    for name in stale {
        emit(&[":", name, " - [0:0]"]);
    }
    for (k, &(pos, owner)) in rs.nat.write_order.iter().enumerate() {
        if k == rs.nat_delete_at {
            for name in stale {
                emit(&["-X ", name]);
            }
        }
        if scope.includes(owner) {
            emit(&[rs.nat.rule(pos).text.as_str()]);
            rules += 1;
        }
    }
    emit(&["COMMIT"]);
    rules
}

/// The restore text of a sync, and its rule count.
pub fn restore_text(rs: &Ruleset, scope: Scope<'_>, stale: &[String]) -> (String, u64) {
    let (_, bytes) = restore_size(rs, scope, stale);
    let mut s = String::with_capacity(bytes as usize);
    let n = restore_lines(rs, scope, stale, |parts| {
        for p in parts {
            s.push_str(p);
        }
        s.push('\n');
    });
    (s, n)
}

/// The rules and bytes of a sync's restore text, without writing it: the sums the tables
/// kept per owner while they were written, plus the fixed lines and the stale chains.
pub fn restore_size(rs: &Ruleset, scope: Scope<'_>, stale: &[String]) -> (u64, u64) {
    let filter = rs.filter.written_total();
    let nat = match scope {
        Scope::Full => rs.nat.written_total(),
        Scope::Changed(changed) => {
            let mut w = rs.nat.written(None);
            for &s in changed {
                let o = rs.nat.written(Some(s));
                w.rules += o.rules;
                w.bytes += o.bytes;
            }
            w
        }
    };
    let fixed = ["*filter", "COMMIT", "*nat", "COMMIT"]
        .iter()
        .map(|l| l.len() as u64 + 1)
        .sum::<u64>();
    // Each stale chain is declared (`:NAME - [0:0]`) and deleted (`-X NAME`).
    let stale_bytes: u64 = stale
        .iter()
        .map(|n| (":".len() + n.len() + " - [0:0]\n".len() + "-X ".len() + n.len() + 1) as u64)
        .sum();
    (filter.rules + nat.rules, fixed + filter.bytes + nat.bytes + stale_bytes)
}

fn dump_table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "*{}", t.name);
    for c in t.chains.iter().filter(|c| c.builtin) {
        let _ = writeln!(out, ":{} ACCEPT [0:0]", c.name);
    }
    let _ = writeln!(out, ":{KUBE_PROXY_CANARY} - [0:0]");
    for c in t.chains.iter().filter(|c| !c.builtin) {
        let _ = writeln!(out, ":{} - [0:0]", c.name);
    }
    for c in t.chains.iter().filter(|c| c.builtin) {
        for r in c.rules.iter() {
            out.push_str(&r.text);
            out.push('\n');
        }
    }
    for &(pos, _) in &t.write_order {
        out.push_str(&t.rule(pos).text);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
}

/// The node's whole kube-proxy state as one `iptables-restore` file: the canary chain in
/// mangle, then filter and nat with the built-in chains (policy ACCEPT) and the jump rules
/// kube-proxy ensures in them ahead of its own rules.
pub fn dump(rs: &Ruleset) -> String {
    // Every rule line and chain declaration, with room for the fixed lines.
    let size = |t: &Table| t.text_bytes() + t.rules().len() + t.chains.len() * 12 + 64;
    let mut out = String::with_capacity(size(&rs.filter) + size(&rs.nat) + 64);
    let _ = write!(out, "*mangle\n:{KUBE_PROXY_CANARY} - [0:0]\nCOMMIT\n");
    dump_table(&mut out, &rs.filter);
    dump_table(&mut out, &rs.nat);
    out
}
