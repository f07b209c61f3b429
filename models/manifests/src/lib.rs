//! Real Kubernetes manifests into cnsim's types.
//!
//! `load(paths, opts)` reads files and directories (recursively; `*.yaml`, `*.yml`, `*.json`,
//! in path order), splits YAML streams into documents, expands `List` objects, and turns the
//! kinds cnsim models into a `cnsim_policy::Cluster`, a `cnsim_policy::PolicySet`, Services
//! and EndpointSlices (`Manifests`). It owns no policy semantics: those are cnsim-policy's.
//!
//! # What it owns
//! - `source`: paths to documents to raw objects, each with its `Origin` (file, first line of
//!   its document, index), parsed by serde-saphyr within a budget (`YamlLimits`).
//! - `objects`: dispatch on apiVersion + kind; k8s-openapi types (`tiers` for the
//!   network-policy-api CRDs); unknown kinds are warnings.
//! - `netpol`, `tiers`, `services`, `workloads`: validation as the API server does it, and
//!   conversion. Every problem is a `Diagnostic` naming file, line, object and field, and all
//!   of them are collected.
//! - `build`: namespaces, nodes, pod addresses, ClusterIPs (`addresses`), duplicates.
//!
//! # Choices where manifests say less than a running cluster
//! - Workload pods are named deterministically (see `workloads`).
//! - Missing addresses are assigned in ascending order, skipping addresses the manifests use:
//!   pod IPs cluster-wide from `ImportOptions::pod_cidr` (default 10.244.0.0/16) in pod order
//!   (file order, then document order, then replica order; DaemonSet pods at the DaemonSet's
//!   place); node IPs from `node_cidr` (default 172.18.0.0/16, kind's node network) in node
//!   order (Node objects, then nodes only named by pods, by name); ClusterIPs from
//!   `service_cidr` (default 10.96.0.0/12) in Service order, skipping its first address (the
//!   `kubernetes` Service's). hostNetwork pods get their node's addresses.
//! - Pods with no `spec.nodeName` stay unscheduled (no node, no host IPs): placement is not
//!   the importer's job, and "own node" exceptions would otherwise depend on a guess.
//! - Namespaced objects without a namespace are in `default`. Namespaces referenced but not
//!   declared are created (with only the `kubernetes.io/metadata.name` label) and warned of.
//! - Duplicate objects (same kind, namespace and name) are errors: `kubectl apply` would keep
//!   the last silently, which is rarely what a set of files means.
//! - Unknown fields of k8s-openapi kinds are ignored (as kubectl's non-strict validation
//!   would); unknown fields of the CRDs are errors (their structural schemas reject them).

mod addresses;
mod build;
pub mod diag;
pub mod names;
mod netpol;
mod objects;
pub mod services;
pub mod source;
mod tiers;
mod workloads;

pub use diag::{Diagnostic, Diagnostics, FieldPath, Origin, Severity};
pub use objects::{DEFAULT_NAMESPACE, IMPORTED_KINDS};
pub use services::{
    resolve_endpoints, EndpointSliceInfo, ResolvedEndpoint, ServiceInfo, ServicePort, SliceEndpoint, SlicePort,
};
pub use source::YamlLimits;

use ipnet::IpNet;
use std::path::PathBuf;

/// How to fill in what the manifests leave out, and how much to accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Pod addresses not given in `status.podIPs`.
    pub pod_cidr: IpNet,
    /// ClusterIPs not given in `spec.clusterIP(s)`.
    pub service_cidr: IpNet,
    /// Addresses of nodes without `status.addresses`.
    pub node_cidr: IpNet,
    /// Pods after expansion, in total: a Deployment with `replicas: 1000000000` is refused, not
    /// allocated.
    pub max_pods: usize,
    pub limits: YamlLimits,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            pod_cidr: "10.244.0.0/16".parse().expect("constant CIDR"),
            service_cidr: "10.96.0.0/12".parse().expect("constant CIDR"),
            node_cidr: "172.18.0.0/16".parse().expect("constant CIDR"),
            max_pods: 200_000,
            limits: YamlLimits::default(),
        }
    }
}

/// Everything imported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifests {
    pub cluster: cnsim_policy::Cluster,
    /// The object each pod of `cluster.pods` came from (`Deployment shop/web`, `Pod shop/x`),
    /// in the same order: how `cnsim import` turns pods back into workloads.
    pub pod_owners: Vec<String>,
    pub policies: cnsim_policy::PolicySet,
    pub services: Vec<ServiceInfo>,
    pub endpoint_slices: Vec<EndpointSliceInfo>,
    /// Legal but worth knowing: skipped kinds, unmodelled fields, created namespaces.
    pub warnings: Vec<Diagnostic>,
}

impl Manifests {
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceInfo> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    /// `resolve_endpoints` for one Service.
    pub fn endpoints(&self, svc: &ServiceInfo) -> Vec<ResolvedEndpoint> {
        resolve_endpoints(self, svc)
    }
}

/// Loads files and directories. Errors (with any warnings) when anything is invalid.
pub fn load(paths: &[PathBuf], opts: &ImportOptions) -> Result<Manifests, Diagnostics> {
    let mut diags = Diagnostics::default();
    let files = source::collect_files(paths, &mut diags);
    let mut reader = source::Reader::new(opts.limits, &mut diags);
    for f in &files {
        reader.read_file(f);
    }
    let raw = std::mem::take(&mut reader.objects);
    finish(raw, opts, diags)
}

/// Loads one YAML (or, if `file_name` ends in `.json`, JSON) text: for tests and fuzzing.
pub fn load_str(file_name: &str, text: &str, opts: &ImportOptions) -> Result<Manifests, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut reader = source::Reader::new(opts.limits, &mut diags);
    reader.read_text(file_name, text, file_name.ends_with(".json"));
    let raw = std::mem::take(&mut reader.objects);
    finish(raw, opts, diags)
}

fn finish(raw: Vec<source::RawObject>, opts: &ImportOptions, mut diags: Diagnostics) -> Result<Manifests, Diagnostics> {
    let objects: Vec<_> = raw
        .into_iter()
        .filter_map(|r| objects::type_object(r, &mut diags))
        .collect();
    let mut m = build::build(&objects, opts, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    m.warnings = diags.warnings;
    Ok(m)
}
