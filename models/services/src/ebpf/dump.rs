//! `cilium-dbg bpf lb list` output: one row per service-map entry, the frontend key in the
//! first column only on its first row, the master entry as `0.0.0.0:0 (REVNAT) (0) [FLAGS]`
//! and slots as `IP:PORT/PROTO (REVNAT) (SLOT)`, laid out by Go's tabwriter (minimum cell
//! width 5, padding 3, every cell tab-terminated so the last column is padded too).
//!
//! Cilium prints from a Go map, so its row order varies run to run; cnsim sorts frontends by
//! their printed key and rows by slot, which is one of the orders Cilium can print.

use super::maps::{LbKey, Program};
use std::collections::BTreeMap;

const TITLES: (&str, &str) = ("SERVICE ADDRESS", "BACKEND ADDRESS (REVNAT_ID) (SLOT)");

/// The listing for a programmed node.
pub fn lb_list(p: &Program) -> String {
    let backends: BTreeMap<u32, _> = p.backends.iter().map(|(i, b)| (*i, b)).collect();
    let mut groups: BTreeMap<String, Vec<(u16, String)>> = BTreeMap::new();
    for (k, v) in &p.services {
        let entry = if k.slot == 0 {
            format!("0.0.0.0:0 ({}) (0) [{}]", v.rev_nat, v.flags.describe())
        } else {
            match backends.get(&v.backend_id) {
                Some(b) => format!("{}:{}/{} ({}) ({})", b.ip, b.port, b.proto.as_k8s(), v.rev_nat, k.slot),
                None => format!("backend {} not found", v.backend_id),
            }
        };
        groups
            .entry(LbKey::frontend_string(k))
            .or_default()
            .push((k.slot, entry));
    }
    let mut rows: Vec<(String, String)> = vec![(TITLES.0.into(), TITLES.1.into())];
    for (key, mut entries) in groups {
        entries.sort();
        for (i, (_, e)) in entries.into_iter().enumerate() {
            rows.push((if i == 0 { key.clone() } else { String::new() }, e));
        }
    }
    tabwrite(&rows)
}

/// Go's `tabwriter.NewWriter(w, 5, 0, 3, ' ', 0)` for two tab-terminated cells per line.
fn tabwrite(rows: &[(String, String)]) -> String {
    let width = |f: &dyn Fn(&(String, String)) -> usize| (rows.iter().map(f).max().unwrap_or(0) + 3).max(5);
    let w0 = width(&|r| r.0.chars().count());
    let w1 = width(&|r| r.1.chars().count());
    let mut out = String::new();
    for (a, b) in rows {
        out.push_str(&format!("{a:<w0$}{b:<w1$}\n"));
    }
    out
}
