//! Any text given as Kubernetes manifests either imports or is refused with located
//! diagnostics: the document splitter, serde-saphyr within its budget, the kinds, validation
//! and expansion never panic, and the budget keeps memory bounded (run with -rss_limit_mb).
//! What imports is consistent: unique pod names, pods with addresses on known nodes, Services'
//! endpoints resolvable, and both policy engines agreeing on it.
#![no_main]

use cnsim_manifests::{load_str, ImportOptions, YamlLimits};
use cnsim_policy::{Compiled, Connection, Endpoint, EvalOptions, PodId, PolicyEngine, Protocol, Reference};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Small budgets, so that an input cannot buy much memory or time however it is written.
    let opts = ImportOptions {
        max_pods: 2_000,
        limits: YamlLimits {
            max_depth: 48,
            max_nodes_per_document: 20_000,
            max_scalar_bytes_per_document: 1 << 20,
            max_aliases_per_document: 200,
            max_total_nodes: 200_000,
        },
        ..ImportOptions::default()
    };
    match load_str("fuzz.yaml", text, &opts) {
        Ok(m) => {
            assert!(m.cluster.pods.len() <= opts.max_pods);
            let names: BTreeSet<_> = m.cluster.pods.iter().map(|p| (&p.namespace, &p.name)).collect();
            assert_eq!(names.len(), m.cluster.pods.len(), "pod names are unique");
            for p in &m.cluster.pods {
                assert!(p.node_name.is_empty() || m.cluster.nodes.iter().any(|n| n.name == p.node_name));
                assert!(p.host_network || !p.ips.is_empty(), "every pod network pod has an address");
                assert!(m.cluster.namespaces.iter().any(|n| n.name == p.namespace), "every namespace exists");
            }
            for s in &m.services {
                let _ = m.endpoints(s);
            }
            for w in &m.warnings {
                assert!(!w.message.is_empty());
            }
            // Both engines on what was imported, on a bounded number of pairs.
            let n = m.cluster.pods.len().min(12) as u32;
            if n > 0 {
                let reference = Reference::new(&m.cluster, &m.policies, EvalOptions::default());
                let compiled = Compiled::build(&m.cluster, &m.policies, EvalOptions::default());
                for a in 0..n {
                    for b in 0..n {
                        for (protocol, port) in [(Protocol::Tcp, 80), (Protocol::Udp, 53)] {
                            let c = Connection { src: Endpoint::Pod(PodId(a)), dst: Endpoint::Pod(PodId(b)), protocol, port };
                            assert_eq!(reference.evaluate(&c), compiled.evaluate(&c), "{c:?}");
                        }
                    }
                }
            }
        }
        Err(diags) => {
            assert!(diags.has_errors());
            for d in &diags.errors {
                assert!(!d.message.is_empty());
                assert!(!d.to_string().is_empty());
            }
        }
    }
});
