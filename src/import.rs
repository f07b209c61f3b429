//! `cnsim import --manifests PATH... -o SCENARIO`: real Kubernetes YAML → a scenario that
//! reproduces it. Namespaces (with their labels), one workload per controller (Deployment,
//! StatefulSet, DaemonSet, ReplicaSet, Job, or a bare Pod) with its replicas, labels and
//! container ports, the Services, and `network_policy.manifests` pointing back at the files, so
//! the policies stay the user's own YAML. The manifests say nothing of the VPC, the nodes or the
//! traffic: the scenario gets a small default VPC and node group, marked as such, and an empty
//! traffic list to fill in. The text written is checked by loading it before it is written.
//! What a manifest becomes is `manifest_source::convert`'s, the same as for a scenario's
//! top-level `manifests`; this file only writes it out.

use crate::{out, Outcome};
use cnsim_cluster::scenario::manifest_source::{self, ImportedWorkload};
use cnsim_cluster::scenario::{Labels, ServiceDef, TargetPort};
use cnsim_manifests::{ImportOptions, Manifests};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Pods per node the default node group is sized for (kubelet's default max pods is 110;
/// leave room).
const PODS_PER_DEFAULT_NODE: usize = 100;

fn labels(l: &Labels) -> String {
    let items: Vec<String> = l.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
    format!("{{{}}}", items.join(", "))
}

/// `name: "x", ` when there is a name.
fn name_field(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!("name: {n:?}, ")).unwrap_or_default()
}

fn service(s: &ServiceDef) -> String {
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|p| {
            let target = match &p.target_port {
                Some(TargetPort::Number(n)) => format!(", target_port: {n}"),
                Some(TargetPort::Name(name)) => format!(", target_port: {name:?}"),
                None => String::new(),
            };
            let node_port = p.node_port.map(|n| format!(", node_port: {n}")).unwrap_or_default();
            format!(
                "({}port: {}{target}, protocol: {:?}{node_port})",
                name_field(&p.name),
                p.port,
                p.protocol
            )
        })
        .collect();
    format!(
        "        (namespace: {:?}, name: {:?}, kind: {:?}, selector: {}, headless: {},\n         ports: [{}]),\n",
        s.namespace,
        s.name,
        s.kind,
        labels(&s.selector),
        s.headless,
        ports.join(", ")
    )
}

/// `to` as seen from directory `from` (both made absolute).
fn relative(to: &Path, from: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let rel = pathdiff::diff_paths(abs(to), abs(from)).unwrap_or_else(|| abs(to));
    rel.to_string_lossy().replace('\\', "/")
}

/// The scenario text for `m`, read from `paths`, to be written at `out`.
pub fn scenario_text(m: &Manifests, paths: &[PathBuf], out: &Path, name: &str) -> String {
    let from = manifest_source::convert(m);
    let pods: usize = from.workloads.iter().map(|w| w.workload.replicas as usize).sum();
    let nodes = pods.div_ceil(PODS_PER_DEFAULT_NODE).max(2);
    let out_dir = out.parent().unwrap_or(Path::new("."));
    let mut s = String::new();
    let sources: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(s, "// Imported by `cnsim import` from {}.", sources.join(", "));
    let _ = writeln!(
        s,
        "// From the manifests: namespaces, workloads (one per controller; pods are named NAME-0, NAME-1, ...),\n// Services, and the NetworkPolicies (read from the files themselves, see network_policy).\n// NOT in the manifests, so defaults: the VPC, the node group and the traffic. Replace them."
    );
    let _ = writeln!(
        s,
        "Scenario(\n    version: 1,\n    name: {name:?},\n    seed: 1,\n    duration: \"10s\","
    );
    s.push_str(
        "    // Default VPC: replace with yours (eksctl's vpc.cidr and subnets).\n    vpc: Vpc(\n        cidr: \"10.0.0.0/16\",\n        azs: [\"us-east-1a\", \"us-east-1b\"],\n        subnets: [\n            (name: \"private-a\", az: \"us-east-1a\", cidr: \"10.0.16.0/20\"),\n            (name: \"private-b\", az: \"us-east-1b\", cidr: \"10.0.32.0/20\"),\n        ],\n    ),\n",
    );
    let _ = writeln!(
        s,
        "    // Default node group, sized for {pods} pods at {PODS_PER_DEFAULT_NODE} per node: replace with yours.\n    node_groups: [(name: \"workers\", instance_type: \"m5.xlarge\", count: {nodes})],"
    );
    s.push_str("    namespaces: [\n");
    for ns in &from.namespaces {
        let _ = writeln!(s, "        (name: {:?}, labels: {}),", ns.name, labels(&ns.labels));
    }
    s.push_str("    ],\n    workloads: [\n");
    for ImportedWorkload { owner, workload: w } in &from.workloads {
        let ports: Vec<String> = w
            .ports
            .iter()
            .map(|p| format!("({}port: {}, protocol: {:?})", name_field(&p.name), p.port, p.protocol))
            .collect();
        let _ = writeln!(
            s,
            "        // {owner}\n        (namespace: {:?}, name: {:?}, replicas: {}, labels: {},\n         ports: [{}]),",
            w.namespace,
            w.name,
            w.replicas,
            labels(&w.labels),
            ports.join(", ")
        );
    }
    s.push_str("    ],\n    services: [\n");
    for svc in &from.services {
        s.push_str(&service(svc));
    }
    for skipped in &from.skipped {
        let _ = writeln!(s, "        // Not imported: {skipped}.");
    }
    s.push_str("    ],\n");
    let manifests: Vec<String> = paths.iter().map(|p| format!("{:?}", relative(p, out_dir))).collect();
    let _ = writeln!(
        s,
        "    // The policies are the manifests' own, enforced on the packet path.\n    network_policy: (manifests: [{}]),",
        manifests.join(", ")
    );
    s.push_str("    // Add flows, e.g. (name: \"web-to-api\", from: \"NS/WORKLOAD\", to: \"NS/svc/NAME:PORT\", rate: \"100pps\").\n    traffic: [],\n)\n");
    s
}

pub fn import(paths: &[PathBuf], out_path: &Path) -> Outcome {
    let m = match cnsim_manifests::load(paths, &ImportOptions::default()) {
        Ok(m) => m,
        Err(d) => {
            eprint!("{d}");
            return Outcome::BadInput;
        }
    };
    for w in &m.warnings {
        eprintln!("{w}");
    }
    let name = out_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let text = scenario_text(&m, paths, out_path, &name);
    let dir = match out_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The manifests are referenced relative to the scenario's directory, which must exist for
    // the check below to find them.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: {}: cannot create: {e}", dir.display());
        return Outcome::BadInput;
    }
    // What is written must load: check it as `cnsim run` will read it.
    if let Err(d) = cnsim_cluster::scenario::load_str(&out_path.display().to_string(), &name, &text, &[]) {
        eprintln!("error: the imported scenario does not validate (a cnsim bug, or input it cannot express):");
        eprint!("{d}");
        return Outcome::BadInput;
    }
    let file = out_path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file}.tmp-{}", std::process::id()));
    let written = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, out_path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("error: {}: cannot write: {e}", out_path.display());
        return Outcome::BadInput;
    }
    let from = manifest_source::convert(&m);
    let pods: u32 = from.workloads.iter().map(|w| w.workload.replicas).sum();
    let _ = out::print_stdout(&format!(
        "wrote {}: {} namespaces, {} workloads ({pods} pods), {} Services, {} NetworkPolicies, {} cluster policies\n",
        out_path.display(),
        m.cluster.namespaces.len(),
        from.workloads.len(),
        from.services.len(),
        m.policies.network_policies.len(),
        m.policies.cluster_policies.len()
    ));
    Outcome::Ok
}
