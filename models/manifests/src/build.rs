//! Typed objects to `Manifests`: namespaces (declared, or created with a warning when only
//! referenced), nodes (declared, or inferred from pods), pods (written and expanded), their
//! addresses, Services with ClusterIPs, EndpointSlices and policies. Duplicates are errors.

use crate::addresses::Sequential;
use crate::diag::{Diagnostic, Diagnostics, FieldPath, ObjectCtx, Origin, Severity};
use crate::netpol::labels;
use crate::objects::{Kind, Object};
use crate::workloads::{count, expand_template, pod_from_spec, PodDraft};
use crate::{ImportOptions, Manifests};
use cnsim_policy::{Cluster, Labels, Namespace, Node, PolicySet};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The label kubelet puts on every node.
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Namespaces every cluster has: created silently when referenced.
const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A DaemonSet waiting for the node list, and where its pods go in the pod order.
struct PendingDaemonSet<'a> {
    object: &'a Object,
    position: usize,
}

pub(crate) fn build(all: &[Object], opts: &ImportOptions, diags: &mut Diagnostics) -> Manifests {
    // A duplicate is reported once, here, and takes no further part.
    let mut seen: BTreeMap<(String, String, String), Origin> = BTreeMap::new();
    let mut objects: Vec<&Object> = Vec::with_capacity(all.len());
    for o in all {
        let key = (o.kind_name.to_string(), o.namespace.clone(), o.name.clone());
        if let Some(first) = seen.get(&key) {
            let first = format!("{}:{}", first.file, first.line);
            ObjectCtx::new(&o.origin, o.display(), diags).error(
                &FieldPath::root("metadata").child("name"),
                format!("duplicate {} (first defined at {first})", o.display()),
                "unique names per kind and namespace",
            );
        } else {
            seen.insert(key, o.origin.clone());
            objects.push(o);
        }
    }

    // Namespaces and nodes as declared.
    let mut namespaces: Vec<Namespace> = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    for o in objects.iter().copied() {
        let mut ctx = ObjectCtx::new(&o.origin, o.display(), diags);
        match &o.kind {
            Kind::Namespace(ns) => {
                let l = labels(
                    &mut ctx,
                    &FieldPath::root("metadata").child("labels"),
                    ns.metadata.labels.as_ref(),
                );
                namespaces.push(Namespace::new(&o.name, l));
            }
            Kind::Node(n) => {
                let mut l = labels(
                    &mut ctx,
                    &FieldPath::root("metadata").child("labels"),
                    n.metadata.labels.as_ref(),
                );
                l.entry(HOSTNAME_LABEL.to_string()).or_insert_with(|| o.name.clone());
                let mut ips = Vec::new();
                let addrs = n.status.as_ref().and_then(|s| s.addresses.as_ref());
                for (i, a) in addrs.into_iter().flatten().enumerate() {
                    if !matches!(a.type_.as_str(), "InternalIP" | "ExternalIP") {
                        continue;
                    }
                    match a.address.parse::<IpAddr>() {
                        Ok(ip) if !ips.contains(&ip) => ips.push(ip),
                        Ok(_) => {}
                        Err(_) => ctx.error(
                            &FieldPath::root("status").child("addresses").index(i).child("address"),
                            format!("{:?} is not an IP address", a.address),
                            "an IPv4 or IPv6 address",
                        ),
                    }
                }
                nodes.push(Node {
                    name: o.name.clone(),
                    labels: l,
                    ips,
                });
            }
            _ => {}
        }
    }
    let declared_nodes = !nodes.is_empty();

    // Pods, written and expanded; DaemonSets wait for the node list.
    let mut drafts: Vec<PodDraft> = Vec::new();
    let mut daemonsets: Vec<PendingDaemonSet> = Vec::new();
    let mut over_budget = false;
    for o in objects.iter().copied() {
        let mut ctx = ObjectCtx::new(&o.origin, o.display(), diags);
        let replicas_path = FieldPath::root("spec").child("replicas");
        let (n, path) = match &o.kind {
            Kind::Pod(_) => (1, FieldPath::root("metadata").child("name")),
            Kind::Deployment(d) => (
                count(&mut ctx, &replicas_path, d.spec.replicas, 1),
                replicas_path.clone(),
            ),
            Kind::ReplicaSet(r) => (
                count(&mut ctx, &replicas_path, r.spec.replicas, 1),
                replicas_path.clone(),
            ),
            Kind::StatefulSet(s) => (
                count(&mut ctx, &replicas_path, s.spec.replicas, 1),
                replicas_path.clone(),
            ),
            Kind::Job(j) => {
                let spec = j.spec.as_ref();
                let par = count(
                    &mut ctx,
                    &FieldPath::root("spec").child("parallelism"),
                    spec.and_then(|s| s.parallelism),
                    1,
                );
                let comp = count(
                    &mut ctx,
                    &FieldPath::root("spec").child("completions"),
                    spec.and_then(|s| s.completions),
                    u32::MAX,
                );
                (par.min(comp), FieldPath::root("spec").child("parallelism"))
            }
            Kind::DaemonSet(_) => {
                daemonsets.push(PendingDaemonSet {
                    object: o,
                    position: drafts.len(),
                });
                continue;
            }
            _ => continue,
        };
        if drafts.len() + n as usize > opts.max_pods {
            if !over_budget {
                ctx.error(
                    &path,
                    format!("{n} more pods would pass the limit of {} pods", opts.max_pods),
                    "at most ImportOptions::max_pods pods in total",
                );
            }
            over_budget = true;
            continue;
        }
        let (ns, name) = (o.namespace.as_str(), o.name.as_str());
        match &o.kind {
            Kind::Pod(p) => {
                let l = labels(
                    &mut ctx,
                    &FieldPath::root("metadata").child("labels"),
                    p.metadata.labels.as_ref(),
                );
                let pod = pod_from_spec(
                    &mut ctx,
                    &FieldPath::root("spec"),
                    ns,
                    name,
                    l,
                    p.spec.as_ref(),
                    p.status.as_ref(),
                );
                drafts.push(PodDraft {
                    pod,
                    owner: o.display(),
                    origin: o.origin.clone(),
                });
            }
            Kind::Deployment(d) => {
                let s = &d.spec;
                expand_template(
                    &mut ctx,
                    ns,
                    name,
                    Some(&s.selector),
                    &s.template,
                    (0..n).map(|i| i.to_string()),
                    &mut drafts,
                );
            }
            Kind::ReplicaSet(r) => {
                let s = &r.spec;
                expand_template(
                    &mut ctx,
                    ns,
                    name,
                    Some(&s.selector),
                    s.template.as_ref().unwrap_or(&Default::default()),
                    (0..n).map(|i| i.to_string()),
                    &mut drafts,
                );
            }
            Kind::StatefulSet(s) => {
                let s = &s.spec;
                let start = s.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0).max(0) as u64;
                expand_template(
                    &mut ctx,
                    ns,
                    name,
                    Some(&s.selector),
                    &s.template,
                    (0..u64::from(n)).map(|i| (start + i).to_string()),
                    &mut drafts,
                );
            }
            Kind::Job(j) => {
                if let Some(s) = &j.spec {
                    expand_template(
                        &mut ctx,
                        ns,
                        name,
                        s.selector.as_ref(),
                        &s.template,
                        (0..n).map(|i| i.to_string()),
                        &mut drafts,
                    );
                }
            }
            _ => {}
        }
    }

    // Nodes the pods name but no Node object declares.
    let mut node_index: BTreeMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
    let mut inferred: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for d in &drafts {
        if !d.pod.node_name.is_empty() && !node_index.contains_key(&d.pod.node_name) {
            let ips = inferred.entry(d.pod.node_name.clone()).or_default();
            for ip in &d.pod.host_ips {
                if !ips.contains(ip) {
                    ips.push(*ip);
                }
            }
        }
    }
    if nodes.is_empty() && inferred.is_empty() && !daemonsets.is_empty() {
        let ds = daemonsets[0].object;
        ObjectCtx::new(&ds.origin, ds.display(), diags).warn(
            &FieldPath::default(),
            "no nodes are known (no Node objects, no pod names a node): DaemonSet pods go on one node named \"node-0\"",
        );
        inferred.insert("node-0".into(), Vec::new());
    }
    for (name, ips) in inferred {
        node_index.insert(name.clone(), nodes.len());
        let labels: Labels = [(HOSTNAME_LABEL.to_string(), name.clone())].into();
        nodes.push(Node { name, labels, ips });
    }

    // DaemonSet pods, spliced in at each DaemonSet's place (last first, so positions hold).
    for pending in daemonsets.iter().rev() {
        let o = pending.object;
        let Kind::DaemonSet(ds) = &o.kind else { continue };
        let spec = &ds.spec;
        let mut ctx = ObjectCtx::new(&o.origin, o.display(), diags);
        let node_selector = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.clone())
            .unwrap_or_default();
        // nodeSelector is only meaningful against declared Node labels.
        let on: Vec<&Node> = nodes
            .iter()
            .filter(|n| !declared_nodes || node_selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
            .collect();
        if drafts.len() + on.len() > opts.max_pods {
            ctx.error(
                &FieldPath::root("spec"),
                format!("{} more pods would pass the limit of {} pods", on.len(), opts.max_pods),
                "at most ImportOptions::max_pods pods in total",
            );
            continue;
        }
        let mut these = Vec::new();
        expand_template(
            &mut ctx,
            &o.namespace,
            &o.name,
            Some(&spec.selector),
            &spec.template,
            on.iter().map(|n| n.name.clone()),
            &mut these,
        );
        for (d, n) in these.iter_mut().zip(&on) {
            d.pod.node_name = n.name.clone();
        }
        drafts.splice(pending.position..pending.position, these);
    }

    // Addresses: declared first (all taken), then nodes, then pods, each range ascending.
    let mut taken: BTreeSet<IpAddr> = BTreeSet::new();
    for n in &nodes {
        taken.extend(n.ips.iter().copied());
    }
    for d in &drafts {
        taken.extend(d.pod.ips.iter().copied());
        taken.extend(d.pod.host_ips.iter().copied());
    }
    let mut node_range = Sequential::new(opts.node_cidr, false);
    for n in nodes.iter_mut().filter(|n| n.ips.is_empty()) {
        match node_range.next(&mut taken) {
            Some(ip) => n.ips.push(ip),
            None => exhausted(diags, "node", opts.node_cidr, "ImportOptions::node_cidr"),
        }
    }
    let mut pod_range = Sequential::new(opts.pod_cidr, false);
    let mut pods = Vec::with_capacity(drafts.len());
    let mut pod_owners = Vec::with_capacity(drafts.len());
    let mut pod_names: BTreeMap<(String, String), String> = BTreeMap::new();
    for d in drafts {
        let mut pod = d.pod;
        let key = (pod.namespace.clone(), pod.name.clone());
        if let Some(first) = pod_names.get(&key) {
            ObjectCtx::new(&d.origin, d.owner.clone(), diags).error(
                &FieldPath::root("metadata").child("name"),
                format!("pod {}/{} also comes from {first}", pod.namespace, pod.name),
                "unique pod names per namespace",
            );
            continue;
        }
        pod_names.insert(key, d.owner.clone());
        if let Some(&i) = node_index.get(&pod.node_name) {
            if !nodes[i].ips.is_empty() {
                pod.host_ips = nodes[i].ips.clone();
            }
        }
        if pod.host_network {
            if pod.ips.is_empty() {
                pod.ips = pod.host_ips.clone();
            }
            if pod.ips.is_empty() {
                ObjectCtx::new(&d.origin, d.owner.clone(), diags).warn(
                    &FieldPath::root("spec").child("hostNetwork"),
                    format!("pod {} is on no known node, so it has no address", pod.name),
                );
            }
        } else if pod.ips.is_empty() {
            match pod_range.next(&mut taken) {
                Some(ip) => pod.ips.push(ip),
                None => exhausted(diags, "pod", opts.pod_cidr, "ImportOptions::pod_cidr"),
            }
        }
        pods.push(pod);
        pod_owners.push(d.owner);
    }

    // Services, slices, policies.
    let mut services = Vec::new();
    let mut endpoint_slices = Vec::new();
    let mut policies = PolicySet::default();
    for o in objects.iter().copied() {
        let mut ctx = ObjectCtx::new(&o.origin, o.display(), diags);
        match &o.kind {
            Kind::Service(s) => {
                let info = crate::services::service(&mut ctx, &o.namespace, &o.name, s);
                if !ctx.failed() {
                    services.push(info);
                }
            }
            Kind::EndpointSlice(s) => {
                let info = crate::services::endpoint_slice(&mut ctx, &o.namespace, &o.name, s);
                if !ctx.failed() {
                    endpoint_slices.push(info);
                }
            }
            Kind::NetworkPolicy(np) => {
                let p = crate::netpol::convert(&mut ctx, &o.namespace, &o.name, np);
                if !ctx.failed() {
                    policies.network_policies.push(p);
                }
            }
            Kind::Tier(spec) => {
                let p = crate::tiers::convert(&mut ctx, &o.name, spec);
                if let (false, Some(p)) = (ctx.failed(), p) {
                    policies.cluster_policies.push(p);
                }
            }
            _ => {}
        }
    }
    let mut service_taken: BTreeSet<IpAddr> = services.iter().flat_map(|s| s.cluster_ips.iter().copied()).collect();
    let mut service_range = Sequential::new(opts.service_cidr, true);
    for s in services.iter_mut() {
        if s.cluster_ips.is_empty() && !s.headless && s.service_type != "ExternalName" {
            match service_range.next(&mut service_taken) {
                Some(ip) => s.cluster_ips.push(ip),
                None => exhausted(diags, "ClusterIP", opts.service_cidr, "ImportOptions::service_cidr"),
            }
        }
    }

    // Namespaces referenced but not declared: created as the API server would not, so say so.
    let declared: BTreeSet<String> = namespaces.iter().map(|n| n.name.clone()).collect();
    for builtin in BUILTIN_NAMESPACES {
        if !declared.contains(*builtin) && objects.iter().any(|o| o.namespace == *builtin) {
            namespaces.push(Namespace::new(builtin, Labels::new()));
        }
    }
    let declared: BTreeSet<String> = namespaces.iter().map(|n| n.name.clone()).collect();
    let mut created: BTreeSet<String> = BTreeSet::new();
    for o in objects.iter().filter(|o| !o.namespace.is_empty()) {
        if !declared.contains(&o.namespace) && created.insert(o.namespace.clone()) {
            ObjectCtx::new(&o.origin, o.display(), diags).warn(
                &FieldPath::root("metadata").child("namespace"),
                format!(
                    "namespace {:?} is not declared; created with no labels but {}",
                    o.namespace,
                    cnsim_policy::NAMESPACE_NAME_LABEL
                ),
            );
            namespaces.push(Namespace::new(&o.namespace, Labels::new()));
        }
    }

    Manifests {
        cluster: Cluster {
            namespaces,
            nodes,
            pods,
        },
        pod_owners,
        policies,
        services,
        endpoint_slices,
        warnings: Vec::new(),
    }
}

fn exhausted(diags: &mut Diagnostics, what: &str, cidr: ipnet::IpNet, option: &str) {
    let message = format!("no free {what} address left in {cidr}");
    if diags.errors.iter().any(|d| d.message == message) {
        return;
    }
    diags.push(Diagnostic {
        severity: Severity::Error,
        file: "(import)".into(),
        line: 0,
        column: None,
        object: None,
        field: None,
        message,
        valid: Some(format!("a larger {option}")),
    });
}
