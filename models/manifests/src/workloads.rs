//! Pods: written as Pods, or expanded from the pod templates of Deployments, ReplicaSets,
//! StatefulSets, DaemonSets and Jobs, deterministically.
//!
//! Naming (real controllers add random suffixes; cnsim needs stable names):
//! - Deployment and ReplicaSet: `NAME-0` .. `NAME-(replicas-1)`, replicas defaulting to 1.
//! - StatefulSet: `NAME-<ordinal>` as Kubernetes names them, from `spec.ordinals.start`
//!   (default 0).
//! - DaemonSet: one pod per known node, `NAME-<node>`; `nodeSelector` is honoured against the
//!   labels of Node objects (affinity and taints are not evaluated).
//! - Job: `NAME-0` .. for min(parallelism, completions) pods, parallelism defaulting to 1:
//!   the pods that run at once.

use crate::diag::{FieldPath, ObjectCtx};
use crate::names;
use crate::netpol::{labels, port_number, protocol_or_tcp, selector};
use cnsim_policy::{ContainerPort, Labels, Pod};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;
use std::net::IpAddr;

/// A pod before addresses and nodes are settled (`build` does that for all pods at once).
#[derive(Clone, Debug)]
pub(crate) struct PodDraft {
    pub pod: Pod,
    /// The object it came from, for messages (`Deployment shop/web`).
    pub owner: String,
    pub origin: crate::diag::Origin,
}

/// Labels, container ports, hostNetwork and nodeName from a pod spec, plus addresses from a
/// status when there is one.
pub(crate) fn pod_from_spec(
    ctx: &mut ObjectCtx,
    path: &FieldPath,
    namespace: &str,
    name: &str,
    labels: Labels,
    spec: Option<&core::PodSpec>,
    status: Option<&core::PodStatus>,
) -> Pod {
    let mut pod = Pod {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels,
        ..Pod::default()
    };
    if let Some(spec) = spec {
        pod.host_network = spec.host_network.unwrap_or(false);
        pod.node_name = spec.node_name.clone().unwrap_or_default();
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, c)| c.restart_policy.as_deref() == Some("Always"))
            .map(|(i, c)| (path.child("initContainers").index(i), c));
        let containers = spec
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| (path.child("containers").index(i), c));
        for (cp, c) in containers.chain(sidecars) {
            for (j, port) in c.ports.iter().flatten().enumerate() {
                let pp = cp.child("ports").index(j);
                let number = port_number(ctx, &pp.child("containerPort"), i64::from(port.container_port));
                let proto = protocol_or_tcp(ctx, &pp.child("protocol"), port.protocol.as_deref());
                let name = port.name.clone().unwrap_or_default();
                if !name.is_empty() {
                    if let Err(valid) = names::port_name(&name) {
                        ctx.error(&pp.child("name"), format!("invalid port name {name:?}"), valid);
                    }
                }
                if let (Some(container_port), Some(protocol)) = (number, proto) {
                    pod.container_ports.push(ContainerPort {
                        name,
                        container_port,
                        protocol,
                    });
                }
            }
        }
    }
    if let Some(st) = status {
        let sp = FieldPath::root("status");
        pod.ips = addresses(
            ctx,
            &sp,
            "podIP",
            st.pod_ip.as_deref(),
            "podIPs",
            st.pod_ips.iter().flatten().map(|p| p.ip.as_str()),
        );
        pod.host_ips = addresses(
            ctx,
            &sp,
            "hostIP",
            st.host_ip.as_deref(),
            "hostIPs",
            st.host_ips.iter().flatten().map(|p| p.ip.as_str()),
        );
    }
    pod
}

/// `status.podIP` + `status.podIPs` (or the host pair): the list when given, else the single
/// field; each must parse.
fn addresses<'a>(
    ctx: &mut ObjectCtx,
    sp: &FieldPath,
    single_field: &str,
    single: Option<&str>,
    list_field: &str,
    list: impl Iterator<Item = &'a str>,
) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for (i, s) in list.enumerate() {
        match s.parse::<IpAddr>() {
            Ok(ip) if !out.contains(&ip) => out.push(ip),
            Ok(_) => {}
            Err(_) => ctx.error(
                &sp.child(list_field).index(i).child("ip"),
                format!("{s:?} is not an IP address"),
                "an IPv4 or IPv6 address",
            ),
        }
    }
    if out.is_empty() {
        if let Some(s) = single.filter(|s| !s.is_empty()) {
            match s.parse::<IpAddr>() {
                Ok(ip) => out.push(ip),
                Err(_) => ctx.error(
                    &sp.child(single_field),
                    format!("{s:?} is not an IP address"),
                    "an IPv4 or IPv6 address",
                ),
            }
        }
    }
    out
}

/// The pods of a template-based workload, named `prefix-<n>` for n in `ordinals`. The
/// workload's selector must select the template's labels, as the API server requires.
#[allow(clippy::too_many_arguments)]
pub(crate) fn expand_template(
    ctx: &mut ObjectCtx,
    namespace: &str,
    name: &str,
    selector_field: Option<&K8sSelector>,
    template: &core::PodTemplateSpec,
    suffixes: impl Iterator<Item = String>,
    out: &mut Vec<PodDraft>,
) {
    let tp = FieldPath::root("spec").child("template");
    let template_labels = labels(
        ctx,
        &tp.child("metadata").child("labels"),
        template.metadata.as_ref().and_then(|m| m.labels.as_ref()),
    );
    if let Some(sel) = selector_field {
        let s = selector(ctx, &FieldPath::root("spec").child("selector"), sel);
        if s.is_empty() {
            ctx.error(
                &FieldPath::root("spec").child("selector"),
                "empty selector",
                "a selector that matches spec.template.metadata.labels",
            );
        } else if !cnsim_policy::selector::matches(&s, &template_labels) {
            ctx.error(
                &tp.child("metadata").child("labels"),
                "`selector` does not match template `labels`",
                "template labels that the selector selects",
            );
        }
    }
    let spec = template.spec.as_ref();
    let base = pod_from_spec(ctx, &tp.child("spec"), namespace, "", template_labels, spec, None);
    if ctx.failed() {
        return;
    }
    for suffix in suffixes {
        let mut pod = base.clone();
        pod.name = format!("{name}-{suffix}");
        out.push(PodDraft {
            pod,
            owner: ctx.object.clone(),
            origin: ctx.origin.clone(),
        });
    }
}

/// A replica count: absent means `default`; negative is an error.
pub(crate) fn count(ctx: &mut ObjectCtx, path: &FieldPath, value: Option<i32>, default: u32) -> u32 {
    match value {
        None => default,
        Some(n) if n >= 0 => n as u32,
        Some(n) => {
            ctx.error(path, format!("{n} is negative"), "0 or more");
            0
        }
    }
}
