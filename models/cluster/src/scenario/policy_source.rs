//! The policies a scenario enforces: read from the Kubernetes manifests it names
//! (`network_policy.manifests`, relative to the scenario file) through cnsim-manifests, which
//! validates them as the API server does. Only the policy kinds are taken; the scenario's own
//! namespaces and workloads are the pods they apply to.

use super::diag::Finding;
use super::format::{NetworkPolicyConfig, Scenario};
use cnsim_manifests::{ImportOptions, Severity};
use cnsim_policy::PolicySet;
use std::path::{Path, PathBuf};

/// The policies of one variant, and what was worth a warning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScenarioPolicies {
    pub set: PolicySet,
    pub ip_block_matches_pods: bool,
}

impl ScenarioPolicies {
    pub fn is_empty(&self) -> bool {
        self.set.network_policies.is_empty() && self.set.cluster_policies.is_empty()
    }
}

/// Reads the manifests `cfg` names. Errors and warnings come back as findings on
/// `network_policy.manifests[i]`, their text naming the manifest file, line, object and field.
pub fn load(scenario_file: &str, s: &Scenario) -> (ScenarioPolicies, Vec<Finding>) {
    let cfg: &NetworkPolicyConfig = &s.network_policy;
    let mut findings = Vec::new();
    let mut out = ScenarioPolicies {
        set: PolicySet::default(),
        ip_block_matches_pods: cfg.ip_block_matches_pods,
    };
    let base = Path::new(scenario_file).parent().unwrap_or(Path::new(""));
    for (i, m) in cfg.manifests.iter().enumerate() {
        let field = format!("network_policy.manifests[{i}]");
        let path: PathBuf = base.join(m);
        // Only files and directories: a device or a FIFO would never end.
        match std::fs::metadata(&path) {
            Ok(md) if md.is_file() || md.is_dir() => {}
            Ok(_) => {
                findings.push(
                    Finding::error(&field, format!("{}: not a file or a directory", path.display()))
                        .valid("a YAML manifest file or a directory of them"),
                );
                continue;
            }
            Err(e) => {
                findings.push(
                    Finding::error(&field, format!("{}: {e}", path.display()))
                        .valid("a path relative to the scenario file, e.g. \"zero-trust/policies.yaml\""),
                );
                continue;
            }
        }
        let loaded = cnsim_manifests::load(std::slice::from_ref(&path), &ImportOptions::default());
        let manifests = match loaded {
            Ok(m) => m,
            Err(diags) => {
                for d in diags.errors {
                    findings.push(
                        Finding::error(&field, d.to_string())
                            .valid("manifests kubectl apply would accept (see the message for the object and field)"),
                    );
                }
                continue;
            }
        };
        for w in manifests.warnings.iter().filter(|w| w.severity == Severity::Warning) {
            // The scenario declares its own namespaces: the importer creating them is noise.
            if w.field.as_deref() == Some("metadata.namespace") && w.message.contains("not declared") {
                continue;
            }
            findings.push(Finding::warning(&field, w.to_string()));
        }
        let unused = manifests.cluster.pods.len();
        if unused > 0 {
            findings.push(Finding::warning(
                &field,
                format!(
                    "{}: {unused} pods from workload objects are not used: the scenario's own workloads are the pods policies apply to",
                    path.display()
                ),
            ));
        }
        let mut set = manifests.policies;
        out.set.network_policies.append(&mut set.network_policies);
        out.set.cluster_policies.append(&mut set.cluster_policies);
    }
    for p in &out.set.network_policies {
        if !s.namespaces.iter().any(|n| n.name == p.namespace) {
            findings.push(Finding::warning(
                "network_policy.manifests",
                format!(
                    "NetworkPolicy {}/{} is in namespace {}, which the scenario does not declare: it selects no pod",
                    p.namespace, p.name, p.namespace
                ),
            ));
        }
    }
    (out, findings)
}
