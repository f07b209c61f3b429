//! `cnsim trace`: print one packet's path, as a table or JSON.

use crate::datapath::pick_variant;
use crate::format::nanos;
use crate::{load, out, Outcome, OutputFormat};
use cnsim_cluster::trace::TraceReport;
use std::fmt::Write;
use std::path::Path;

pub fn trace(
    path: &Path,
    from: &str,
    to: &str,
    variant: Option<&str>,
    at: Option<sim_core::SimTime>,
    format: OutputFormat,
) -> Outcome {
    let Some(loaded) = load::load(path, None) else {
        return Outcome::BadInput;
    };
    let Some(spec) = pick_variant(&loaded, variant) else {
        return Outcome::BadInput;
    };
    let report = match cnsim_cluster::trace::trace_at(spec, from, to, at) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("error: {}: {message}", loaded.file);
            return Outcome::BadInput;
        }
    };
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(&report).expect("a trace serializes") + "\n",
        OutputFormat::Table => render(&report),
    };
    // A trace is an answer either way: delivered, dropped or rejected all exit 0.
    out::print(&text)
}

fn render(r: &TraceReport) -> String {
    let mut out = String::new();
    let at = r.at_ns.map_or(String::new(), |ns| format!(", at {}", nanos(ns)));
    let _ = writeln!(out, "trace {} -> {} (variant {}{at})\n", r.from, r.to, r.variant);
    let node_w = r.hops.iter().map(|h| h.node.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(out, " #  {:<18} {:<node_w$} {:>9}  detail", "hop", "node", "latency");
    for (i, h) in r.hops.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>2}  {:<18} {:<node_w$} {:>9}  {}",
            i + 1,
            h.hop,
            h.node,
            nanos(h.latency_ns),
            h.detail
        );
        for m in &h.matched {
            let rule = if m.rule > 0 {
                format!(" #{}", m.rule)
            } else {
                String::new()
            };
            let _ = writeln!(out, "{:>4}{} {}{rule}: {}", "", m.table, m.chain, m.text);
        }
    }
    let _ = write!(out, "\nverdict: {}", r.verdict);
    if let Some(b) = &r.backend {
        let _ = write!(out, ", backend {b}");
    }
    if let Some(reason) = &r.reason {
        let _ = write!(out, ", reason: {reason}");
    }
    let _ = writeln!(out, "; {} end to end", nanos(r.latency_ns));
    out
}
