//! Kubernetes manifests as scenario objects: namespaces, one workload per controller, and the
//! Services with a selector. Used twice: by the scenario's top-level `manifests` (merged into
//! the scenario when it loads) and by `cnsim import` (written out as RON text), so a manifest
//! means the same thing either way.
//!
//! What the manifests say and cnsim does not take: pod addresses, node names and Service
//! ClusterIPs. A run places pods on the scenario's nodes and addresses them through its IPAM
//! (that is what the simulation is about); Services get addresses from `network.service_cidr`.
//! hostNetwork pods are node addresses, not workloads; Services without a selector (endpoints
//! written by hand) have nothing cnsim can follow. Both are listed as skipped.

use super::diag::Finding;
use super::format::{ContainerPort, Namespace, Protocol, Scenario, Workload};
use super::services::{ServiceDef, ServiceKind, ServicePortDef, TargetPort};
use cnsim_manifests::{ImportOptions, Manifests, ServiceInfo, Severity};
use cnsim_policy::{IntOrString, PolicySet, NAMESPACE_NAME_LABEL};
use std::path::{Path, PathBuf};

/// A workload and the controller it came from (`Deployment shop/web`, `Pod shop/x`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedWorkload {
    pub owner: String,
    pub workload: Workload,
}

/// The scenario objects a set of manifests holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FromManifests {
    /// Without the `kubernetes.io/metadata.name` label: cnsim adds it, as the API server does.
    pub namespaces: Vec<Namespace>,
    pub workloads: Vec<ImportedWorkload>,
    pub services: Vec<ServiceDef>,
    /// Objects not taken, each with why.
    pub skipped: Vec<String>,
}

fn protocol(p: cnsim_policy::Protocol) -> Protocol {
    match p {
        cnsim_policy::Protocol::Udp => Protocol::UDP,
        cnsim_policy::Protocol::Sctp => Protocol::SCTP,
        _ => Protocol::TCP,
    }
}

fn non_empty(name: &str) -> Option<String> {
    (!name.is_empty()).then(|| name.to_string())
}

/// The scenario objects of `m`, in manifest order.
pub fn convert(m: &Manifests) -> FromManifests {
    let mut out = FromManifests::default();
    for ns in &m.cluster.namespaces {
        let mut labels = ns.labels.clone();
        labels.remove(NAMESPACE_NAME_LABEL);
        out.namespaces.push(Namespace {
            name: ns.name.clone(),
            labels,
        });
    }
    for (pod, owner) in m.cluster.pods.iter().zip(&m.pod_owners) {
        if pod.host_network {
            out.skipped
                .push(format!("{owner}: a hostNetwork pod uses its node's address"));
            continue;
        }
        if let Some(w) = out.workloads.iter_mut().find(|w| w.owner == *owner) {
            w.workload.replicas += 1;
            continue;
        }
        // "Kind ns/name": the controller's name; a bare Pod keeps its own.
        let name = owner.rsplit('/').next().unwrap_or(&pod.name).to_string();
        out.workloads.push(ImportedWorkload {
            owner: owner.clone(),
            workload: Workload {
                namespace: pod.namespace.clone(),
                name,
                replicas: 1,
                labels: pod.labels.clone(),
                ports: pod
                    .container_ports
                    .iter()
                    .map(|p| ContainerPort {
                        name: non_empty(&p.name),
                        port: p.container_port,
                        protocol: protocol(p.protocol),
                    })
                    .collect(),
                node_selector: Default::default(),
            },
        });
    }
    for s in &m.services {
        match service(s) {
            Some(def) => out.services.push(def),
            None => out.skipped.push(format!(
                "Service {}/{}: no selector (its endpoints are written by hand)",
                s.namespace, s.name
            )),
        }
    }
    out
}

fn service(s: &ServiceInfo) -> Option<ServiceDef> {
    let selector = s.selector.clone()?;
    let kind = match s.service_type.as_str() {
        "NodePort" => ServiceKind::NodePort,
        "LoadBalancer" => ServiceKind::LoadBalancer,
        _ => ServiceKind::ClusterIP,
    };
    let ports = s
        .ports
        .iter()
        .map(|p| ServicePortDef {
            name: non_empty(&p.name),
            port: p.port,
            target_port: Some(match &p.target_port {
                IntOrString::Int(n) => TargetPort::Number(*n as u16),
                IntOrString::String(name) => TargetPort::Name(name.clone()),
            }),
            protocol: protocol(p.protocol),
            node_port: p.node_port,
        })
        .collect();
    Some(ServiceDef {
        selector,
        headless: s.headless,
        ..ServiceDef::with_ports(&s.namespace, &s.name, kind, ports)
    })
}

/// Reads the manifests at `path` (a file or a directory) for the scenario field `field`.
/// Errors come back as findings naming the manifest file, line, object and field.
pub fn read(field: &str, path: &Path) -> Result<Manifests, Vec<Finding>> {
    // Only files and directories: a device or a FIFO would never end.
    match std::fs::metadata(path) {
        Ok(md) if md.is_file() || md.is_dir() => {}
        Ok(_) => {
            return Err(vec![Finding::error(
                field,
                format!("{}: not a file or a directory", path.display()),
            )
            .valid("a YAML manifest file or a directory of them")])
        }
        Err(e) => {
            return Err(vec![Finding::error(field, format!("{}: {e}", path.display())).valid(
                "a path relative to the scenario file, e.g. \"zero-trust/policies.yaml\"",
            )])
        }
    }
    cnsim_manifests::load(&[path.to_path_buf()], &ImportOptions::default()).map_err(|diags| {
        diags
            .errors
            .into_iter()
            .map(|d| {
                Finding::error(field, d.to_string())
                    .valid("manifests kubectl apply would accept (see the message for the object and field)")
            })
            .collect()
    })
}

/// The importer's warnings worth showing on `field`. The importer creating a namespace an
/// object names is noise when the scenario declares its own namespaces.
pub fn warnings(field: &str, m: &Manifests) -> Vec<Finding> {
    m.warnings
        .iter()
        .filter(|w| w.severity == Severity::Warning)
        .filter(|w| !(w.field.as_deref() == Some("metadata.namespace") && w.message.contains("not declared")))
        .map(|w| Finding::warning(field, w.to_string()))
        .collect()
}

/// `path` as written in the scenario, relative to the scenario file's directory.
pub fn resolve(scenario_file: &str, path: &str) -> PathBuf {
    Path::new(scenario_file).parent().unwrap_or(Path::new("")).join(path)
}

/// Which indices of the merged lists came from which `manifests[i]`, so that a finding about
/// a merged object names the manifest entry it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// (list name, first merged index, manifests entry), ascending per list.
    ranges: Vec<(&'static str, usize, usize)>,
    ends: Vec<(&'static str, usize)>,
}

impl Merged {
    /// Rewrites `workloads[7].ports` to `manifests[0]` when workload 7 came from manifests[0].
    pub fn remap(&self, field: &str) -> String {
        for &(list, end) in &self.ends {
            let Some(i) = index_after(field, list) else { continue };
            if i >= end {
                continue;
            }
            if let Some(&(_, _, m)) = self.ranges.iter().rev().find(|(l, start, _)| *l == list && *start <= i) {
                return format!("manifests[{m}]");
            }
        }
        field.to_string()
    }
}

fn index_after(field: &str, list: &str) -> Option<usize> {
    let rest = field.strip_prefix(list)?.strip_prefix('[')?;
    rest[..rest.find(']')?].parse().ok()
}

/// Reads the scenario's top-level `manifests` and appends their objects after the scenario's
/// own; their policies are returned, to be enforced with `network_policy`'s. A namespace the
/// scenario declares itself is kept as the scenario says (with a warning if the labels differ).
pub fn merge(scenario_file: &str, s: &mut Scenario) -> (PolicySet, Merged, Vec<Finding>) {
    let mut policies = PolicySet::default();
    let mut merged = Merged::default();
    let mut findings = Vec::new();
    for (i, m) in s.manifests.clone().iter().enumerate() {
        let field = format!("manifests[{i}]");
        let path = resolve(scenario_file, m);
        let manifests = match read(&field, &path) {
            Ok(m) => m,
            Err(mut f) => {
                findings.append(&mut f);
                continue;
            }
        };
        findings.extend(warnings(&field, &manifests));
        let from = convert(&manifests);
        for skipped in &from.skipped {
            findings.push(Finding::warning(
                &field,
                format!("{}: not taken: {skipped}", path.display()),
            ));
        }
        merged.ranges.push(("namespaces", s.namespaces.len(), i));
        for ns in from.namespaces {
            match s.namespaces.iter().find(|n| n.name == ns.name) {
                Some(own) if own.labels != ns.labels && !ns.labels.is_empty() => findings.push(Finding::warning(
                    &field,
                    format!(
                        "{}: Namespace {} has labels {:?} there and {:?} in the scenario: the scenario's are used",
                        path.display(),
                        ns.name,
                        ns.labels,
                        own.labels
                    ),
                )),
                Some(_) => {}
                None => s.namespaces.push(ns),
            }
        }
        merged.ranges.push(("workloads", s.workloads.len(), i));
        s.workloads.extend(from.workloads.into_iter().map(|w| w.workload));
        merged.ranges.push(("services", s.services.len(), i));
        s.services.extend(from.services);
        let mut set = manifests.policies;
        policies.network_policies.append(&mut set.network_policies);
        policies.cluster_policies.append(&mut set.cluster_policies);
    }
    merged.ends = vec![
        ("namespaces", s.namespaces.len()),
        ("workloads", s.workloads.len()),
        ("services", s.services.len()),
    ];
    (policies, merged, findings)
}
