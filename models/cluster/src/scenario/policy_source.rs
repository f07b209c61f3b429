//! The policies a scenario enforces: read from the Kubernetes manifests it names
//! (`network_policy.manifests`, relative to the scenario file) through cnsim-manifests, which
//! validates them as the API server does. Only the policy kinds are taken; the scenario's own
//! namespaces and workloads are the pods they apply to.

use super::diag::Finding;
use super::format::{NetworkPolicyConfig, Scenario};
use super::manifest_source;
use cnsim_policy::PolicySet;

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
    for (i, m) in cfg.manifests.iter().enumerate() {
        let field = format!("network_policy.manifests[{i}]");
        let path = manifest_source::resolve(scenario_file, m);
        let manifests = match manifest_source::read(&field, &path) {
            Ok(m) => m,
            Err(mut f) => {
                findings.append(&mut f);
                continue;
            }
        };
        findings.extend(manifest_source::warnings(&field, &manifests));
        let unused = manifests.cluster.pods.len();
        if unused > 0 {
            findings.push(Finding::warning(
                &field,
                format!(
                    "{}: {unused} pods from workload objects are not used: the scenario's own workloads are the pods policies apply to (list the file under the top-level `manifests` to run its workloads and Services too)",
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
