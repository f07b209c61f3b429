//! Services and EndpointSlices: validated and converted to small owned types, and a Service's
//! endpoints resolved as kube-proxy would see them: from its EndpointSlices when there are any,
//! else from the pods its selector picks (what the EndpointSlice controller would write).

use crate::diag::{FieldPath, ObjectCtx};
use crate::names;
use crate::netpol::{labels, port_number, protocol_or_tcp};
use crate::Manifests;
use cnsim_policy::{IntOrString, Labels, PodId, Protocol};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use serde::Serialize;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServicePort {
    /// Empty when the Service has a single unnamed port.
    pub name: String,
    pub port: u16,
    /// A number, or a container port name resolved per pod.
    pub target_port: IntOrString,
    pub protocol: Protocol,
    pub node_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub service_type: String,
    /// Empty for headless (`clusterIP: None`) and ExternalName Services; assigned from
    /// `ImportOptions::service_cidr` when the manifest gives none.
    pub cluster_ips: Vec<IpAddr>,
    pub headless: bool,
    pub ports: Vec<ServicePort>,
    /// None: the Service has no selector (its endpoints come from EndpointSlices only).
    pub selector: Option<Labels>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SliceEndpoint {
    pub addresses: Vec<IpAddr>,
    /// `conditions.ready`; absent means ready, as the API asks consumers to read it.
    pub ready: bool,
    pub node_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlicePort {
    pub name: String,
    pub port: Option<u16>,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointSliceInfo {
    pub namespace: String,
    pub name: String,
    /// The `kubernetes.io/service-name` label.
    pub service_name: String,
    pub endpoints: Vec<SliceEndpoint>,
    pub ports: Vec<SlicePort>,
}

/// One backend of one Service port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResolvedEndpoint {
    /// The Service port's name.
    pub port_name: String,
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub ready: bool,
    /// The pod behind the address, when it is a pod of the cluster.
    pub pod: Option<PodId>,
}

pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Validates and converts a Service (without assigning a ClusterIP).
pub(crate) fn service(ctx: &mut ObjectCtx, namespace: &str, name: &str, svc: &core::Service) -> ServiceInfo {
    let sp = FieldPath::root("spec");
    let default = core::ServiceSpec::default();
    let spec = svc.spec.as_ref().unwrap_or(&default);
    let service_type = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    if !matches!(
        service_type.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        ctx.error(
            &sp.child("type"),
            format!("unsupported type {service_type:?}"),
            "ClusterIP, NodePort, LoadBalancer or ExternalName",
        );
    }
    let written: Vec<(FieldPath, &str)> = match (&spec.cluster_ips, &spec.cluster_ip) {
        (Some(list), _) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, s)| (sp.child("clusterIPs").index(i), s.as_str()))
            .collect(),
        (_, Some(s)) if !s.is_empty() => vec![(sp.child("clusterIP"), s.as_str())],
        _ => Vec::new(),
    };
    let headless = written.first().is_some_and(|(_, s)| *s == "None");
    let mut cluster_ips = Vec::new();
    if !headless {
        for (p, s) in &written {
            match s.parse::<IpAddr>() {
                Ok(ip) => cluster_ips.push(ip),
                Err(_) => ctx.error(
                    p,
                    format!("{s:?} is not an IP address"),
                    "an IP address inside the service CIDR, or None for a headless Service",
                ),
            }
        }
    }
    let ports_list = spec.ports.as_deref().unwrap_or_default();
    let mut ports = Vec::new();
    for (i, p) in ports_list.iter().enumerate() {
        let pp = sp.child("ports").index(i);
        let name = p.name.clone().unwrap_or_default();
        if name.is_empty() && ports_list.len() > 1 {
            ctx.error(
                &pp.child("name"),
                "required when the Service has more than one port",
                "a DNS-1123 label unique among the ports",
            );
        } else if !name.is_empty() {
            if let Err(valid) = names::dns1123_label(&name) {
                ctx.error(&pp.child("name"), format!("invalid port name {name:?}"), valid);
            }
        }
        let number = port_number(ctx, &pp.child("port"), i64::from(p.port));
        let proto = protocol_or_tcp(ctx, &pp.child("protocol"), p.protocol.as_deref());
        let target_port = match &p.target_port {
            None => IntOrString::Int(p.port),
            Some(K8sIntOrString::Int(n)) => {
                port_number(ctx, &pp.child("targetPort"), i64::from(*n));
                IntOrString::Int(*n)
            }
            Some(K8sIntOrString::String(s)) => {
                if let Err(valid) = names::port_name(s) {
                    ctx.error(&pp.child("targetPort"), format!("invalid port name {s:?}"), valid);
                }
                IntOrString::String(s.clone())
            }
        };
        let node_port = p
            .node_port
            .and_then(|n| port_number(ctx, &pp.child("nodePort"), i64::from(n)));
        if let (Some(port), Some(protocol)) = (number, proto) {
            ports.push(ServicePort {
                name,
                port,
                target_port,
                protocol,
                node_port,
            });
        }
    }
    let selector = spec
        .selector
        .as_ref()
        .map(|s| labels(ctx, &sp.child("selector"), Some(s)));
    let no_ip = headless || service_type == "ExternalName";
    ServiceInfo {
        namespace: namespace.to_string(),
        name: name.to_string(),
        service_type,
        cluster_ips: if no_ip { Vec::new() } else { cluster_ips },
        headless,
        ports,
        selector,
    }
}

pub(crate) fn endpoint_slice(
    ctx: &mut ObjectCtx,
    namespace: &str,
    name: &str,
    s: &discovery::EndpointSlice,
) -> EndpointSliceInfo {
    let service_name = s
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .cloned()
        .unwrap_or_default();
    if service_name.is_empty() {
        ctx.warn(
            &FieldPath::root("metadata").child("labels"),
            format!("no {SERVICE_NAME_LABEL} label: the slice belongs to no Service"),
        );
    }
    let fqdn = s.address_type == "FQDN";
    if fqdn {
        ctx.warn(
            &FieldPath::root("addressType"),
            "FQDN endpoints are not modelled; the slice's addresses are skipped",
        );
    } else if !matches!(s.address_type.as_str(), "IPv4" | "IPv6") {
        ctx.error(
            &FieldPath::root("addressType"),
            format!("unsupported address type {:?}", s.address_type),
            "IPv4, IPv6 or FQDN",
        );
    }
    let mut endpoints = Vec::new();
    for (i, e) in s.endpoints.iter().flatten().enumerate() {
        let ep = FieldPath::root("endpoints").index(i);
        let mut addresses = Vec::new();
        for (j, a) in e.addresses.iter().enumerate() {
            if fqdn {
                continue;
            }
            match a.parse::<IpAddr>() {
                Ok(ip) if ip.is_ipv6() == (s.address_type == "IPv6") => addresses.push(ip),
                _ => ctx.error(
                    &ep.child("addresses").index(j),
                    format!("{a:?} is not an {} address", s.address_type),
                    format!("an {} address", s.address_type),
                ),
            }
        }
        endpoints.push(SliceEndpoint {
            addresses,
            ready: e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
            node_name: e.node_name.clone().unwrap_or_default(),
        });
    }
    let mut ports = Vec::new();
    for (i, p) in s.ports.iter().flatten().enumerate() {
        let pp = FieldPath::root("ports").index(i);
        let port = p.port.and_then(|n| port_number(ctx, &pp.child("port"), i64::from(n)));
        let proto = protocol_or_tcp(ctx, &pp.child("protocol"), p.protocol.as_deref());
        if let Some(protocol) = proto {
            ports.push(SlicePort {
                name: p.name.clone().unwrap_or_default(),
                port,
                protocol,
            });
        }
    }
    EndpointSliceInfo {
        namespace: namespace.to_string(),
        name: name.to_string(),
        service_name,
        endpoints,
        ports,
    }
}

/// The endpoints of `svc`, per Service port in port order: from the EndpointSlices labelled
/// with the Service's name when there are any (in slice name order), else from the pods its
/// selector picks in the cluster's pod order. A named targetPort is looked up on each pod's
/// container ports by name and protocol; a pod without it is not an endpoint of that port, as
/// in the EndpointSlice controller. A Service without a selector and without slices has none.
pub fn resolve_endpoints(m: &Manifests, svc: &ServiceInfo) -> Vec<ResolvedEndpoint> {
    let mut slices: Vec<&EndpointSliceInfo> = m
        .endpoint_slices
        .iter()
        .filter(|s| s.namespace == svc.namespace && s.service_name == svc.name)
        .collect();
    slices.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    if !slices.is_empty() {
        for sp in &svc.ports {
            for s in &slices {
                let Some(port) = s
                    .ports
                    .iter()
                    .find(|p| p.name == sp.name && p.protocol == sp.protocol)
                    .and_then(|p| p.port)
                else {
                    continue;
                };
                for e in &s.endpoints {
                    for ip in &e.addresses {
                        out.push(ResolvedEndpoint {
                            port_name: sp.name.clone(),
                            ip: *ip,
                            port,
                            protocol: sp.protocol,
                            ready: e.ready,
                            pod: m.cluster.pod_by_ip(*ip),
                        });
                    }
                }
            }
        }
        return out;
    }
    let Some(selector) = &svc.selector else { return out };
    // The endpoints controller ignores a Service with an empty selector.
    if selector.is_empty() {
        return out;
    }
    for sp in &svc.ports {
        for (i, pod) in m.cluster.pods.iter().enumerate() {
            let selected = pod.namespace == svc.namespace && selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v));
            if !selected {
                continue;
            }
            let port = match &sp.target_port {
                IntOrString::Int(n) => u16::try_from(*n).ok(),
                IntOrString::String(name) => pod
                    .container_ports
                    .iter()
                    .find(|c| &c.name == name && c.protocol == sp.protocol)
                    .map(|c| c.container_port),
            };
            let Some(port) = port else { continue };
            for ip in &pod.ips {
                out.push(ResolvedEndpoint {
                    port_name: sp.name.clone(),
                    ip: *ip,
                    port,
                    protocol: sp.protocol,
                    ready: true,
                    pod: Some(PodId(i as u32)),
                });
            }
        }
    }
    out
}
