//! The network-policy-api CRDs, in small serde types of their own (k8s-openapi has none), and
//! their conversion to cnsim-policy's `ClusterNetworkPolicy`.
//!
//! Shapes read from kubernetes-sigs/network-policy-api:
//! - ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha2 (`apis/v1alpha2/
//!   clusternetworkpolicy_types.go`, the revision with `protocols`: `tcp`/`udp`/`sctp` each
//!   with `destinationPort: {number | range: {start, end}}`, and `destinationNamedPort`). An
//!   earlier draft of v1alpha2 spelled this `match`; it is rejected with a pointer to
//!   `protocols`. v1beta1 has the same shape and is accepted too.
//! - AdminNetworkPolicy and BaselineAdminNetworkPolicy, policy.networking.k8s.io/v1alpha1
//!   (`apis/v1alpha1/*_types.go`, the v0.1 shape): `subject: {namespaces | pods}`, peers
//!   `namespaces`/`pods` (and egress `nodes`/`networks`/`domainNames`), `ports:
//!   [{portNumber | namedPort | portRange}]`; converted with cnsim-policy's `From` impls.
//!
//! Unknown fields are errors (the CRDs' structural schemas and `kubectl apply`'s strict field
//! validation reject them). Fields that exist but cnsim does not model (`domainNames`, the
//! older `sameLabels`/`notSameLabels`) are warnings, and the peer holding them is dropped.

use crate::diag::{FieldPath, ObjectCtx};
use crate::netpol::{cidr, port_number, protocol_or_tcp, requirement};
use cnsim_policy::{
    AdminAction, AdminNetworkPolicy, AdminRule, BaselineAction, BaselineAdminNetworkPolicy, ClusterAction,
    ClusterNetworkPolicy, ClusterPeer, ClusterPolicyKind, ClusterPort, ClusterRule, ClusterSubject, LabelSelector,
    Protocol, Tier,
};

mod types;
use types::*;
pub(crate) use types::{AnpSpec, CnpSpec};

/// The three kinds, with their spec as written.
#[derive(Clone, Debug)]
pub(crate) enum TierSpec {
    Cnp(CnpSpec),
    Anp(AnpSpec),
    Banp(AnpSpec),
}

fn selector(ctx: &mut ObjectCtx, p: &FieldPath, s: &Selector) -> Option<LabelSelector> {
    let match_labels = crate::netpol::labels(ctx, &p.child("matchLabels"), s.match_labels.as_ref());
    let mut match_expressions = Vec::new();
    for (i, r) in s.match_expressions.iter().flatten().enumerate() {
        let rp = p.child("matchExpressions").index(i);
        if let Some(req) = requirement(ctx, &rp, &r.key, &r.operator, r.values.as_deref().unwrap_or(&[])) {
            match_expressions.push(req);
        }
    }
    let mut modelled = true;
    for (field, v) in [("sameLabels", &s.same_labels), ("notSameLabels", &s.not_same_labels)] {
        if v.is_some() {
            ctx.warn(
                &p.child(field),
                format!("{field} is not modelled by cnsim; this selector's peer is dropped (it matches nothing)"),
            );
            modelled = false;
        }
    }
    modelled.then_some(LabelSelector {
        match_labels,
        match_expressions,
    })
}

fn namespaced_pod(ctx: &mut ObjectCtx, p: &FieldPath, np: &NamespacedPod) -> Option<(LabelSelector, LabelSelector)> {
    let ns = selector(ctx, &p.child("namespaceSelector"), &np.namespace_selector);
    let pod = selector(ctx, &p.child("podSelector"), &np.pod_selector);
    Some((ns?, pod?))
}

fn subject(ctx: &mut ObjectCtx, p: &FieldPath, s: &Subject) -> Option<ClusterSubject> {
    match (&s.namespaces, &s.pods) {
        (Some(ns), None) => selector(ctx, &p.child("namespaces"), ns).map(ClusterSubject::Namespaces),
        (None, Some(pods)) => {
            namespaced_pod(ctx, &p.child("pods"), pods).map(|(namespace_selector, pod_selector)| ClusterSubject::Pods {
                namespace_selector,
                pod_selector,
            })
        }
        _ => {
            ctx.error(
                p,
                "exactly one of namespaces or pods must be set",
                "namespaces: {selector} or pods: {namespaceSelector, podSelector}",
            );
            None
        }
    }
}

/// One peer: exactly one field set; egress-only fields refused on ingress. `None` when the
/// peer is dropped (unmodelled) or invalid.
fn peer(ctx: &mut ObjectCtx, p: &FieldPath, x: &Peer, egress: bool) -> Option<ClusterPeer> {
    let set = [
        x.namespaces.is_some(),
        x.pods.is_some(),
        x.nodes.is_some(),
        x.networks.is_some(),
        x.domain_names.is_some(),
    ];
    let valid = if egress {
        "exactly one of namespaces, pods, nodes, networks, domainNames"
    } else {
        "exactly one of namespaces, pods"
    };
    if set.iter().filter(|b| **b).count() != 1 {
        ctx.error(p, "a peer must set exactly one field", valid);
        return None;
    }
    if !egress && (x.nodes.is_some() || x.networks.is_some() || x.domain_names.is_some()) {
        ctx.error(p, "nodes, networks and domainNames are egress peers only", valid);
        return None;
    }
    if let Some(s) = &x.namespaces {
        return selector(ctx, &p.child("namespaces"), s).map(ClusterPeer::Namespaces);
    }
    if let Some(np) = &x.pods {
        return namespaced_pod(ctx, &p.child("pods"), np).map(|(namespace_selector, pod_selector)| ClusterPeer::Pods {
            namespace_selector,
            pod_selector,
        });
    }
    if let Some(s) = &x.nodes {
        return selector(ctx, &p.child("nodes"), s).map(ClusterPeer::Nodes);
    }
    if let Some(nets) = &x.networks {
        let parsed: Vec<_> = nets
            .iter()
            .enumerate()
            .filter_map(|(i, n)| cidr(ctx, &p.child("networks").index(i), n).map(|n| n.trunc()))
            .collect();
        if nets.is_empty() {
            ctx.error(&p.child("networks"), "must hold at least one CIDR", "1 to 25 CIDRs");
        }
        return Some(ClusterPeer::Networks(parsed));
    }
    ctx.warn(
        &p.child("domainNames"),
        "domainNames are not modelled by cnsim (no DNS); this peer is dropped (it matches nothing)",
    );
    None
}

fn range(ctx: &mut ObjectCtx, p: &FieldPath, protocol: Protocol, r: &PortRange) -> Option<ClusterPort> {
    let start = port_number(ctx, &p.child("start"), r.start);
    let end = port_number(ctx, &p.child("end"), r.end);
    let (start, end) = (start?, end?);
    if start >= end {
        ctx.error(p, format!("start {start} is not below end {end}"), "start < end");
        return None;
    }
    Some(ClusterPort::Range { protocol, start, end })
}

fn cnp_protocol(ctx: &mut ObjectCtx, p: &FieldPath, x: &CnpProtocol) -> Option<ClusterPort> {
    let set = [
        x.tcp.is_some(),
        x.udp.is_some(),
        x.sctp.is_some(),
        x.destination_named_port.is_some(),
    ];
    if set.iter().filter(|b| **b).count() != 1 {
        ctx.error(
            p,
            "exactly one field must be set",
            "one of tcp, udp, sctp, destinationNamedPort",
        );
        return None;
    }
    if let Some(name) = &x.destination_named_port {
        if let Err(valid) = crate::names::port_name(name) {
            ctx.error(
                &p.child("destinationNamedPort"),
                format!("invalid port name {name:?}"),
                valid,
            );
        }
        return Some(ClusterPort::Named(name.clone()));
    }
    let (field, proto, pp) = match (&x.tcp, &x.udp, &x.sctp) {
        (Some(t), _, _) => ("tcp", Protocol::Tcp, t),
        (_, Some(u), _) => ("udp", Protocol::Udp, u),
        (_, _, Some(s)) => ("sctp", Protocol::Sctp, s),
        _ => return None,
    };
    let p = p.child(field).child("destinationPort");
    let Some(port) = &pp.destination_port else {
        ctx.error(&p, "required", "destinationPort: {number: N} or {range: {start, end}}");
        return None;
    };
    match (port.number, &port.range) {
        (Some(n), None) => {
            port_number(ctx, &p.child("number"), n).map(|port| ClusterPort::Number { protocol: proto, port })
        }
        (None, Some(r)) => {
            if r.protocol.is_some() {
                ctx.error(&p.child("range").child("protocol"), "unknown field", "start and end");
            }
            range(ctx, &p.child("range"), proto, r)
        }
        _ => {
            ctx.error(
                &p,
                "exactly one of number or range must be set",
                "number: N or range: {start, end}",
            );
            None
        }
    }
}

fn anp_port(ctx: &mut ObjectCtx, p: &FieldPath, x: &AnpPort) -> Option<ClusterPort> {
    match (&x.port_number, &x.named_port, &x.port_range) {
        (Some(n), None, None) => {
            let proto = protocol_or_tcp(ctx, &p.child("portNumber").child("protocol"), n.protocol.as_deref())?;
            port_number(ctx, &p.child("portNumber").child("port"), n.port)
                .map(|port| ClusterPort::Number { protocol: proto, port })
        }
        (None, Some(name), None) => {
            if let Err(valid) = crate::names::port_name(name) {
                ctx.error(&p.child("namedPort"), format!("invalid port name {name:?}"), valid);
            }
            Some(ClusterPort::Named(name.clone()))
        }
        (None, None, Some(r)) => {
            let proto = protocol_or_tcp(ctx, &p.child("portRange").child("protocol"), r.protocol.as_deref())?;
            range(ctx, &p.child("portRange"), proto, r)
        }
        _ => {
            ctx.error(
                p,
                "exactly one field must be set",
                "one of portNumber, namedPort, portRange",
            );
            None
        }
    }
}

/// Peers of one rule. A rule whose peers are all dropped keeps an empty list: it matches
/// nothing, which is what the API's "fail closed" asks for an Accept rule.
fn peers(
    ctx: &mut ObjectCtx,
    p: &FieldPath,
    rule_from: Option<&Vec<Peer>>,
    rule_to: Option<&Vec<Peer>>,
    egress: bool,
) -> Vec<ClusterPeer> {
    let (field, list, other) = if egress {
        ("to", rule_to, rule_from)
    } else {
        ("from", rule_from, rule_to)
    };
    if other.is_some() {
        let wrong = if egress { "from" } else { "to" };
        ctx.error(
            &p.child(wrong),
            format!("unknown field in an {} rule", if egress { "egress" } else { "ingress" }),
            field,
        );
    }
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        ctx.error(&p.child(field), "required: at least one peer", "1 to 25 peers");
        return Vec::new();
    };
    list.iter()
        .enumerate()
        .filter_map(|(i, x)| peer(ctx, &p.child(field).index(i), x, egress))
        .collect()
}

fn no_named_ports_for_addresses(
    ctx: &mut ObjectCtx,
    p: &FieldPath,
    peers: &[ClusterPeer],
    ports: &[ClusterPort],
    field: &str,
) {
    let address_peer = peers
        .iter()
        .any(|x| matches!(x, ClusterPeer::Nodes(_) | ClusterPeer::Networks(_)));
    if address_peer && ports.iter().any(|x| matches!(x, ClusterPort::Named(_))) {
        ctx.error(
            &p.child(field),
            "named ports cannot be used with nodes or networks peers (they have no named ports)",
            "numbers or ranges",
        );
    }
}

fn priority(ctx: &mut ObjectCtx, p: &FieldPath, n: i64) -> i32 {
    if !(0..=1000).contains(&n) {
        ctx.error(p, format!("{n} is out of range"), "0 to 1000");
    }
    n.clamp(0, 1000) as i32
}

/// A rule's name, action, `from` and `to`.
type RuleParts<'a> = (
    Option<&'a String>,
    &'a str,
    Option<&'a Vec<Peer>>,
    Option<&'a Vec<Peer>>,
);

/// What the conversion reads of a rule. The v1alpha2 and v1alpha1 rules differ only in how
/// they spell ports, so one conversion serves both (their serde types stay apart: a flattened
/// shared part would lose `deny_unknown_fields`).
trait CrdRule {
    /// `protocols` or `ports`.
    const PORTS: &'static str;
    fn parts(&self) -> RuleParts<'_>;
    /// The ports, converted; `p` is the `PORTS` field's path.
    fn ports(&self, ctx: &mut ObjectCtx, p: &FieldPath) -> Vec<ClusterPort>;
}

impl CrdRule for CnpRule {
    const PORTS: &'static str = "protocols";
    fn parts(&self) -> RuleParts<'_> {
        (self.name.as_ref(), &self.action, self.from.as_ref(), self.to.as_ref())
    }
    fn ports(&self, ctx: &mut ObjectCtx, p: &FieldPath) -> Vec<ClusterPort> {
        let list = self.protocols.iter().flatten().enumerate();
        list.filter_map(|(j, x)| cnp_protocol(ctx, &p.index(j), x)).collect()
    }
}

impl CrdRule for AnpRule {
    const PORTS: &'static str = "ports";
    fn parts(&self) -> RuleParts<'_> {
        (self.name.as_ref(), &self.action, self.from.as_ref(), self.to.as_ref())
    }
    fn ports(&self, ctx: &mut ObjectCtx, p: &FieldPath) -> Vec<ClusterPort> {
        let list = self.ports.iter().flatten().enumerate();
        list.filter_map(|(j, x)| anp_port(ctx, &p.index(j), x)).collect()
    }
}

/// The rules of one direction, of any version; `action` reads the version's actions and
/// `valid` lists them. A rule with an invalid action is left out (its other problems are
/// still reported).
fn rules<R: CrdRule, A>(
    ctx: &mut ObjectCtx,
    p: &FieldPath,
    rules: Option<&Vec<R>>,
    egress: bool,
    action: impl Fn(&str) -> Option<A>,
    valid: &str,
) -> Vec<AdminRule<A>> {
    let mut out = Vec::new();
    for (i, r) in rules.into_iter().flatten().enumerate() {
        let rp = p.index(i);
        let (name, raw_action, from, to) = r.parts();
        let a = action(raw_action);
        if a.is_none() {
            ctx.error(&rp.child("action"), format!("unsupported action {raw_action:?}"), valid);
        }
        let peers = peers(ctx, &rp, from, to, egress);
        let ports = r.ports(ctx, &rp.child(R::PORTS));
        no_named_ports_for_addresses(ctx, &rp, &peers, &ports, R::PORTS);
        if let Some(action) = a {
            out.push(AdminRule {
                name: name.cloned().unwrap_or_default(),
                action,
                peers,
                ports,
            });
        }
    }
    out
}

/// A v1alpha2 direction's rules.
fn cnp_rules(ctx: &mut ObjectCtx, p: &FieldPath, list: Option<&Vec<CnpRule>>, egress: bool) -> Vec<ClusterRule> {
    let action = |a: &str| match a {
        "Accept" => Some(ClusterAction::Accept),
        "Deny" => Some(ClusterAction::Deny),
        "Pass" => Some(ClusterAction::Pass),
        _ => None,
    };
    rules(ctx, p, list, egress, action, "Accept, Deny or Pass")
        .into_iter()
        .map(|r| ClusterRule {
            name: r.name,
            action: r.action,
            peers: r.peers,
            ports: r.ports,
        })
        .collect()
}

/// A v1alpha1 object's ingress and egress rules.
fn anp_rules<A>(
    ctx: &mut ObjectCtx,
    sp: &FieldPath,
    s: &AnpSpec,
    action: impl Fn(&str) -> Option<A>,
    valid: &str,
) -> (Vec<AdminRule<A>>, Vec<AdminRule<A>>) {
    let ingress = rules(ctx, &sp.child("ingress"), s.ingress.as_ref(), false, &action, valid);
    let egress = rules(ctx, &sp.child("egress"), s.egress.as_ref(), true, &action, valid);
    (ingress, egress)
}

/// Validates and converts one cluster-tier object. The caller checks `ctx.failed()`.
pub(crate) fn convert(ctx: &mut ObjectCtx, name: &str, spec: &TierSpec) -> Option<ClusterNetworkPolicy> {
    let sp = FieldPath::root("spec");
    match spec {
        TierSpec::Cnp(s) => {
            let tier = match s.tier.as_str() {
                "Admin" => Some(Tier::Admin),
                "Baseline" => Some(Tier::Baseline),
                other => {
                    ctx.error(
                        &sp.child("tier"),
                        format!("unsupported tier {other:?}"),
                        "Admin or Baseline",
                    );
                    None
                }
            };
            let priority = priority(ctx, &sp.child("priority"), s.priority);
            let subject = subject(ctx, &sp.child("subject"), &s.subject);
            let ingress = cnp_rules(ctx, &sp.child("ingress"), s.ingress.as_ref(), false);
            let egress = cnp_rules(ctx, &sp.child("egress"), s.egress.as_ref(), true);
            Some(ClusterNetworkPolicy {
                kind: ClusterPolicyKind::ClusterNetworkPolicy,
                name: name.to_string(),
                tier: tier?,
                priority,
                subject: subject?,
                ingress,
                egress,
            })
        }
        TierSpec::Anp(s) => {
            let action = |a: &str| match a {
                "Allow" => Some(AdminAction::Allow),
                "Deny" => Some(AdminAction::Deny),
                "Pass" => Some(AdminAction::Pass),
                _ => None,
            };
            let prio = match s.priority {
                Some(n) => priority(ctx, &sp.child("priority"), n),
                None => {
                    ctx.error(&sp.child("priority"), "required", "0 to 1000");
                    0
                }
            };
            let subject = subject(ctx, &sp.child("subject"), &s.subject);
            let (ingress, egress) = anp_rules(ctx, &sp, s, action, "Allow, Deny or Pass");
            Some(
                AdminNetworkPolicy {
                    name: name.to_string(),
                    priority: prio,
                    subject: subject?,
                    ingress,
                    egress,
                }
                .into(),
            )
        }
        TierSpec::Banp(s) => {
            let action = |a: &str| match a {
                "Allow" => Some(BaselineAction::Allow),
                "Deny" => Some(BaselineAction::Deny),
                _ => None,
            };
            if s.priority.is_some() {
                ctx.error(
                    &sp.child("priority"),
                    "unknown field: a BaselineAdminNetworkPolicy has no priority",
                    "subject, ingress, egress",
                );
            }
            if name != "default" {
                ctx.error(
                    &FieldPath::root("metadata.name"),
                    format!("{name:?}: only one BaselineAdminNetworkPolicy may exist, named \"default\""),
                    "default",
                );
            }
            let subject = subject(ctx, &sp.child("subject"), &s.subject);
            let (ingress, egress) = anp_rules(ctx, &sp, s, action, "Allow or Deny");
            Some(
                BaselineAdminNetworkPolicy {
                    name: name.to_string(),
                    subject: subject?,
                    ingress,
                    egress,
                }
                .into(),
            )
        }
    }
}
