//! network-policy-api objects: v1alpha2 ClusterNetworkPolicy (`protocols` shape), v1alpha1
//! AdminNetworkPolicy and BaselineAdminNetworkPolicy, and the warnings for what cnsim does
//! not model.

mod common;
use cnsim_policy::{ClusterAction, ClusterPeer, ClusterPolicyKind, ClusterPort, ClusterSubject, Protocol, Tier};
use common::*;

const CNP: &str = r#"apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 10
  subject:
    namespaces: {matchLabels: {env: prod}}
  ingress:
  - name: deny-from-dev
    action: Deny
    from: [{namespaces: {matchLabels: {env: dev}}}]
    protocols:
    - tcp: {destinationPort: {number: 80}}
    - udp: {destinationPort: {range: {start: 1000, end: 2000}}}
    - destinationNamedPort: http
  egress:
  - action: Pass
    to: [{networks: [10.0.0.1/8]}, {nodes: {}}]
"#;

#[test]
fn cluster_network_policy_v1alpha2_converts() {
    let m = import(CNP);
    let p = &m.policies.cluster_policies[0];
    assert_eq!(
        (p.kind, p.tier, p.priority, p.name.as_str()),
        (ClusterPolicyKind::ClusterNetworkPolicy, Tier::Admin, 10, "guard")
    );
    assert!(
        matches!(&p.subject, ClusterSubject::Namespaces(s) if s.match_labels.get("env").map(String::as_str) == Some("prod"))
    );
    let r = &p.ingress[0];
    assert_eq!((r.name.as_str(), r.action), ("deny-from-dev", ClusterAction::Deny));
    assert_eq!(
        r.ports,
        vec![
            ClusterPort::Number {
                protocol: Protocol::Tcp,
                port: 80
            },
            ClusterPort::Range {
                protocol: Protocol::Udp,
                start: 1000,
                end: 2000
            },
            ClusterPort::Named("http".into()),
        ]
    );
    assert_eq!(
        p.egress[0].peers[0],
        ClusterPeer::Networks(vec!["10.0.0.0/8".parse().unwrap()]),
        "networks are truncated to their block"
    );
    assert!(matches!(p.egress[0].peers[1], ClusterPeer::Nodes(_)));
}

#[test]
fn the_older_match_shape_is_refused_with_the_field_named() {
    let text = CNP.replace("    protocols:\n", "    match:\n");
    let errs = errors(&text);
    let e = &errs[0];
    assert!(e.field.as_deref().unwrap().starts_with("spec.ingress[0]"), "{e}");
    assert!(e.message.contains("match") && e.message.contains("protocols"), "{e}");
}

#[test]
fn cluster_policy_rules_are_checked() {
    let bad = CNP
        .replace("priority: 10", "priority: 1001")
        .replace("start: 1000, end: 2000", "start: 2000, end: 1000")
        .replace("action: Pass", "action: Allow");
    let errs = errors(&bad);
    error_at(&errs, "spec.priority");
    error_at(&errs, "spec.ingress[0].protocols[1].udp.destinationPort.range");
    error_at(&errs, "spec.egress[0].action");
}

#[test]
fn domain_names_warn_and_drop_the_peer() {
    let text = CNP.replace("{nodes: {}}", "{domainNames: [example.com]}");
    let m = import(&text);
    let w = error_at(&m.warnings, "spec.egress[0].to[1].domainNames");
    assert_eq!(w.object.as_deref(), Some("ClusterNetworkPolicy guard"));
    assert_eq!(m.policies.cluster_policies[0].egress[0].peers.len(), 1);
}

#[test]
fn named_ports_with_address_peers_are_refused() {
    let text = CNP.replace(
        "  - action: Pass\n",
        "  - action: Pass\n    protocols: [{destinationNamedPort: http}]\n",
    );
    let errs = errors(&text);
    error_at(&errs, "spec.egress[0].protocols");
}

const ANP: &str = r#"apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: cluster-control}
spec:
  priority: 3
  subject:
    pods:
      namespaceSelector: {}
      podSelector: {matchLabels: {app: db}}
  ingress:
  - name: allow-monitoring
    action: Allow
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports:
    - portNumber: {protocol: TCP, port: 9090}
    - portRange: {start: 8000, end: 8100}
  - action: Pass
    from: [{pods: {namespaceSelector: {}, podSelector: {}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress:
  - action: Deny
    to: [{networks: [0.0.0.0/0]}]
"#;

#[test]
fn admin_and_baseline_admin_network_policies_map_to_the_tiers() {
    let m = import(ANP);
    let (anp, banp) = (&m.policies.cluster_policies[0], &m.policies.cluster_policies[1]);
    assert_eq!(
        (anp.kind, anp.tier, anp.priority),
        (ClusterPolicyKind::AdminNetworkPolicy, Tier::Admin, 3)
    );
    assert_eq!(anp.ingress[0].action, ClusterAction::Accept, "Allow is Accept");
    assert_eq!(
        anp.ingress[0].ports[1],
        ClusterPort::Range {
            protocol: Protocol::Tcp,
            start: 8000,
            end: 8100
        },
        "portRange protocol defaults to TCP"
    );
    assert_eq!(anp.ingress[1].action, ClusterAction::Pass);
    assert_eq!(
        (banp.kind, banp.tier),
        (ClusterPolicyKind::BaselineAdminNetworkPolicy, Tier::Baseline)
    );
    assert_eq!(banp.egress[0].action, ClusterAction::Deny);
}

#[test]
fn baseline_must_be_named_default_and_has_no_pass() {
    let bad = ANP
        .replace("metadata: {name: default}", "metadata: {name: other}")
        .replace("  - action: Deny\n", "  - action: Pass\n");
    let errs = errors(&bad);
    error_at(&errs, "metadata.name");
    error_at(&errs, "spec.egress[0].action");
}

#[test]
fn same_labels_warn_and_drop_the_peer() {
    let text = ANP.replace(
        "{namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}",
        "{namespaces: {sameLabels: [tenant]}}",
    );
    let m = import(&text);
    let w = error_at(&m.warnings, "spec.ingress[0].from[0].namespaces.sameLabels");
    assert_eq!(w.object.as_deref(), Some("AdminNetworkPolicy cluster-control"));
    assert!(
        m.policies.cluster_policies[0].ingress[0].peers.is_empty(),
        "the rule now matches nothing"
    );
}

#[test]
fn ingress_peers_cannot_be_networks() {
    let text = ANP.replace(
        "[{pods: {namespaceSelector: {}, podSelector: {}}}]",
        "[{networks: [10.0.0.0/8]}]",
    );
    let errs = errors(&text);
    error_at(&errs, "spec.ingress[1].from[0]");
}
