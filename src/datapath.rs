//! `cnsim datapath dump`: a node's service datapath in its tool's save format.

use crate::{load, out, DumpMode, Outcome};
use cnsim_cluster::scenario::services::ProxyMode;
use cnsim_cluster::scenario::LoadedScenario;
use cnsim_cluster::scenario::VariantSpec;
use std::path::Path;

/// The variant named, or the first; None (after saying what exists) if there is no such one.
pub fn pick_variant<'a>(loaded: &'a LoadedScenario, name: Option<&str>) -> Option<&'a VariantSpec> {
    match name {
        None => loaded.variants.first(),
        Some(n) => {
            let found = loaded.variants.iter().find(|v| v.name == n);
            if found.is_none() {
                let names: Vec<&str> = loaded.variants.iter().map(|v| v.name.as_str()).collect();
                eprintln!(
                    "error: {}: no variant {n:?}\n    valid: {}",
                    loaded.file,
                    names.join(", ")
                );
            }
            found
        }
    }
}

pub fn dump(path: &Path, node: &str, mode: DumpMode, variant: Option<&str>) -> Outcome {
    let Some(loaded) = load::load(path, None) else {
        return Outcome::BadInput;
    };
    let Some(spec) = pick_variant(&loaded, variant) else {
        return Outcome::BadInput;
    };
    let mode = match mode {
        DumpMode::Iptables => ProxyMode::Iptables,
        DumpMode::Nftables => ProxyMode::Nftables,
        DumpMode::Ipvs => ProxyMode::Ipvs,
        DumpMode::Ebpf => ProxyMode::Ebpf,
    };
    match cnsim_cluster::dump::dump(spec, node, mode) {
        Ok(text) => out::print(&text),
        Err(message) => {
            eprintln!("error: {}: --node: {message}", loaded.file);
            Outcome::BadInput
        }
    }
}
