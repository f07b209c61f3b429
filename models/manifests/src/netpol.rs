//! networking.k8s.io/v1 NetworkPolicy: validated as the API server's `ValidateNetworkPolicy`
//! does (and apimachinery's `ValidateLabelSelector`), then converted to cnsim-policy's type.
//! Label selectors and ports are shared with the cluster tiers (`tiers`).

use crate::diag::{FieldPath, ObjectCtx};
use crate::names;
use cnsim_policy::{
    IntOrString, IpBlock, LabelSelector, LabelSelectorRequirement, Labels, NetworkPolicy, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicyRule, PolicyType, Protocol, SelectorOperator,
};
use ipnet::IpNet;
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use std::collections::BTreeMap;

pub(crate) const PROTOCOLS: &str = "TCP, UDP or SCTP";

/// A label map (matchLabels, metadata.labels): keys and values checked.
pub(crate) fn labels(ctx: &mut ObjectCtx, path: &FieldPath, map: Option<&BTreeMap<String, String>>) -> Labels {
    let mut out = Labels::new();
    for (k, v) in map.into_iter().flatten() {
        if let Err(valid) = names::label_key(k) {
            ctx.error(&path.key(k), format!("invalid label key {k:?}"), valid);
        }
        if let Err(valid) = names::label_value(v) {
            ctx.error(&path.key(k), format!("invalid label value {v:?}"), valid);
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// metav1.LabelSelector, checked as `ValidateLabelSelector` does.
pub(crate) fn selector(ctx: &mut ObjectCtx, path: &FieldPath, s: &meta::LabelSelector) -> LabelSelector {
    let match_labels = labels(ctx, &path.child("matchLabels"), s.match_labels.as_ref());
    let mut match_expressions = Vec::new();
    for (i, r) in s.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        if let Some(req) = requirement(ctx, &p, &r.key, &r.operator, r.values.as_deref().unwrap_or(&[])) {
            match_expressions.push(req);
        }
    }
    LabelSelector {
        match_labels,
        match_expressions,
    }
}

/// One matchExpressions entry: a valid key, a known operator, values only and always with
/// In/NotIn, each value a valid label value.
pub(crate) fn requirement(
    ctx: &mut ObjectCtx,
    p: &FieldPath,
    key: &str,
    operator: &str,
    values: &[String],
) -> Option<LabelSelectorRequirement> {
    if let Err(valid) = names::label_key(key) {
        ctx.error(&p.child("key"), format!("invalid label key {key:?}"), valid);
    }
    let op = match operator {
        "In" => Some(SelectorOperator::In),
        "NotIn" => Some(SelectorOperator::NotIn),
        "Exists" => Some(SelectorOperator::Exists),
        "DoesNotExist" => Some(SelectorOperator::DoesNotExist),
        other => {
            ctx.error(
                &p.child("operator"),
                format!("{other:?} is not a valid selector operator"),
                "In, NotIn, Exists or DoesNotExist",
            );
            None
        }
    };
    match op {
        Some(SelectorOperator::In | SelectorOperator::NotIn) if values.is_empty() => ctx.error(
            &p.child("values"),
            format!("must be specified when `operator` is {operator}"),
            "at least one value",
        ),
        Some(SelectorOperator::Exists | SelectorOperator::DoesNotExist) if !values.is_empty() => ctx.error(
            &p.child("values"),
            format!("may not be specified when `operator` is {operator}"),
            "no values",
        ),
        _ => {}
    }
    for (j, v) in values.iter().enumerate() {
        if let Err(valid) = names::label_value(v) {
            ctx.error(&p.child("values").index(j), format!("invalid label value {v:?}"), valid);
        }
    }
    Some(LabelSelectorRequirement {
        key: key.to_string(),
        operator: op?,
        values: values.to_vec(),
    })
}

pub(crate) fn protocol(ctx: &mut ObjectCtx, p: &FieldPath, s: &str) -> Option<Protocol> {
    match s {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        other => {
            ctx.error(p, format!("unsupported protocol {other:?}"), PROTOCOLS);
            None
        }
    }
}

/// A protocol field that defaults to TCP when absent (container, Service, EndpointSlice and
/// v1alpha1 tier ports).
pub(crate) fn protocol_or_tcp(ctx: &mut ObjectCtx, p: &FieldPath, s: Option<&str>) -> Option<Protocol> {
    match s {
        None => Some(Protocol::Tcp),
        Some(s) => protocol(ctx, p, s),
    }
}

/// A port number in 1..=65535.
pub(crate) fn port_number(ctx: &mut ObjectCtx, p: &FieldPath, n: i64) -> Option<u16> {
    match u16::try_from(n) {
        Ok(v) if v > 0 => Some(v),
        _ => {
            ctx.error(p, format!("port {n} is out of range"), "1 to 65535");
            None
        }
    }
}

/// A CIDR as `ValidateCIDR` accepts it (host bits may be set; the block is its network).
pub(crate) fn cidr(ctx: &mut ObjectCtx, p: &FieldPath, s: &str) -> Option<IpNet> {
    match s.parse::<IpNet>() {
        Ok(n) => Some(n),
        Err(_) => {
            ctx.error(
                p,
                format!("{s:?} is not a valid CIDR"),
                "an address and prefix length, e.g. 10.0.0.0/8 or fd00::/8",
            );
            None
        }
    }
}

fn port(ctx: &mut ObjectCtx, p: &FieldPath, port: &net::NetworkPolicyPort) -> NetworkPolicyPort {
    let protocol = port
        .protocol
        .as_deref()
        .and_then(|s| protocol(ctx, &p.child("protocol"), s));
    let value = match &port.port {
        None => {
            if let Some(end) = port.end_port {
                ctx.error(
                    &p.child("endPort"),
                    format!("{end}: may not be specified when `port` is not specified"),
                    "endPort only together with a numeric port",
                );
            }
            None
        }
        Some(K8sIntOrString::Int(n)) => {
            let start = port_number(ctx, &p.child("port"), i64::from(*n));
            if let Some(end) = port.end_port {
                if end < *n {
                    ctx.error(
                        &p.child("endPort"),
                        format!("{end} is below port {n}"),
                        "endPort >= port",
                    );
                }
                port_number(ctx, &p.child("endPort"), i64::from(end));
            }
            start.map(|_| IntOrString::Int(*n))
        }
        Some(K8sIntOrString::String(name)) => {
            if let Some(end) = port.end_port {
                ctx.error(
                    &p.child("endPort"),
                    format!("{end}: may not be specified when `port` is a name ({name:?})"),
                    "endPort only together with a numeric port",
                );
            }
            if let Err(valid) = names::port_name(name) {
                ctx.error(&p.child("port"), format!("invalid port name {name:?}"), valid);
            }
            Some(IntOrString::String(name.clone()))
        }
    };
    NetworkPolicyPort {
        protocol,
        port: value,
        end_port: port.end_port,
    }
}

fn ip_block(ctx: &mut ObjectCtx, p: &FieldPath, b: &net::IPBlock) -> Option<IpBlock> {
    if b.cidr.is_empty() {
        ctx.error(&p.child("cidr"), "required", "a CIDR such as 10.0.0.0/8");
        return None;
    }
    let block = cidr(ctx, &p.child("cidr"), &b.cidr)?;
    let mut except = Vec::new();
    for (i, e) in b.except.iter().flatten().enumerate() {
        let ep = p.child("except").index(i);
        let Some(net) = cidr(ctx, &ep, e) else { continue };
        // As ValidateIPBlock: the except's network address inside cidr, with a longer prefix.
        if !block.contains(&net.network()) || net.prefix_len() <= block.prefix_len() {
            ctx.error(
                &ep,
                format!("{e} is not a strict subset of cidr {}", b.cidr),
                format!("a CIDR strictly inside {}", block.trunc()),
            );
        }
        except.push(net);
    }
    Some(IpBlock { cidr: block, except })
}

fn peer(ctx: &mut ObjectCtx, p: &FieldPath, peer: &net::NetworkPolicyPeer) -> NetworkPolicyPeer {
    let pod_selector = peer
        .pod_selector
        .as_ref()
        .map(|s| selector(ctx, &p.child("podSelector"), s));
    let namespace_selector = peer
        .namespace_selector
        .as_ref()
        .map(|s| selector(ctx, &p.child("namespaceSelector"), s));
    let ip_block = peer
        .ip_block
        .as_ref()
        .and_then(|b| ip_block(ctx, &p.child("ipBlock"), b));
    let selectors = pod_selector.is_some() || namespace_selector.is_some();
    if peer.ip_block.is_some() && selectors {
        ctx.error(
            p,
            "may not specify both ipBlock and another peer",
            "ipBlock alone, or podSelector and/or namespaceSelector",
        );
    } else if peer.ip_block.is_none() && !selectors {
        ctx.error(
            p,
            "must specify a peer",
            "one of podSelector, namespaceSelector (or both), or ipBlock",
        );
    }
    NetworkPolicyPeer {
        pod_selector,
        namespace_selector,
        ip_block,
    }
}

fn rule(
    ctx: &mut ObjectCtx,
    p: &FieldPath,
    peers_field: &str,
    peers: Option<&[net::NetworkPolicyPeer]>,
    ports: Option<&[net::NetworkPolicyPort]>,
) -> NetworkPolicyRule {
    NetworkPolicyRule {
        peers: peers
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, x)| peer(ctx, &p.child(peers_field).index(i), x))
            .collect(),
        ports: ports
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, x)| port(ctx, &p.child("ports").index(i), x))
            .collect(),
    }
}

/// Validates and converts one NetworkPolicy. The caller checks `ctx.failed()`.
pub(crate) fn convert(ctx: &mut ObjectCtx, namespace: &str, name: &str, np: &net::NetworkPolicy) -> NetworkPolicy {
    let spec_path = FieldPath::root("spec");
    let default_spec = net::NetworkPolicySpec::default();
    let spec = np.spec.as_ref().unwrap_or(&default_spec);
    let pod_selector = match &spec.pod_selector {
        Some(s) => selector(ctx, &spec_path.child("podSelector"), s),
        None => LabelSelector::everything(),
    };
    let ingress = spec
        .ingress
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            rule(
                ctx,
                &spec_path.child("ingress").index(i),
                "from",
                r.from.as_deref(),
                r.ports.as_deref(),
            )
        })
        .collect();
    let egress = spec
        .egress
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            rule(
                ctx,
                &spec_path.child("egress").index(i),
                "to",
                r.to.as_deref(),
                r.ports.as_deref(),
            )
        })
        .collect();
    let policy_types = spec.policy_types.as_ref().map(|types| {
        if types.len() > 2 {
            ctx.error(
                &spec_path.child("policyTypes"),
                "may not specify more than two policyTypes",
                "Ingress and/or Egress",
            );
        }
        types
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match t.as_str() {
                "Ingress" => Some(PolicyType::Ingress),
                "Egress" => Some(PolicyType::Egress),
                other => {
                    ctx.error(
                        &spec_path.child("policyTypes").index(i),
                        format!("unsupported value {other:?}"),
                        "Ingress or Egress",
                    );
                    None
                }
            })
            .collect()
    });
    NetworkPolicy {
        namespace: namespace.to_string(),
        name: name.to_string(),
        pod_selector,
        policy_types,
        ingress,
        egress,
    }
}
