//! One test per API-server rule: each asserts the field named, and that all problems of a file
//! are reported together.

mod common;
use common::*;

fn np_errors(spec: &str) -> Vec<cnsim_manifests::Diagnostic> {
    errors(&netpol(spec))
}

#[test]
fn end_port_below_port() {
    let errs = np_errors("  podSelector: {}\n  ingress:\n  - ports:\n    - port: 80\n      endPort: 70\n");
    let e = error_at(&errs, "spec.ingress[0].ports[0].endPort");
    assert_eq!(e.to_string(), "test.yaml:1: NetworkPolicy x/np: spec.ingress[0].ports[0].endPort: 70 is below port 80 (valid: endPort >= port)");
}

#[test]
fn end_port_without_port() {
    let errs = np_errors("  podSelector: {}\n  egress:\n  - ports:\n    - endPort: 90\n");
    error_at(&errs, "spec.egress[0].ports[0].endPort");
}

#[test]
fn end_port_with_named_port() {
    let errs = np_errors("  podSelector: {}\n  ingress:\n  - ports:\n    - port: http\n      endPort: 90\n");
    error_at(&errs, "spec.ingress[0].ports[0].endPort");
}

#[test]
fn except_not_strictly_inside_cidr() {
    let errs = np_errors("  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock:\n        cidr: 10.0.0.0/16\n        except: [10.0.0.0/16, 10.1.0.0/24, 10.0.1.0/24]\n");
    let at = |i: usize| {
        errs.iter()
            .filter(|e| e.field.as_deref() == Some(&*format!("spec.ingress[0].from[0].ipBlock.except[{i}]")))
            .count()
    };
    assert_eq!(
        (at(0), at(1), at(2)),
        (1, 1, 0),
        "equal and outside are refused, inside is fine:\n{}",
        list(&errs)
    );
}

#[test]
fn invalid_cidr() {
    let errs = np_errors("  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.300/8}\n");
    let e = error_at(&errs, "spec.egress[0].to[0].ipBlock.cidr");
    assert!(e.valid.unwrap().contains("10.0.0.0/8"));
}

#[test]
fn selector_bad_key_and_value() {
    let errs = np_errors("  podSelector:\n    matchLabels: {\"bad key\": ok, good: \"-bad\"}\n");
    error_at(&errs, "spec.podSelector.matchLabels[bad key]");
    error_at(&errs, "spec.podSelector.matchLabels[good]");
}

#[test]
fn selector_in_without_values() {
    let errs = np_errors("  podSelector:\n    matchExpressions: [{key: a, operator: In, values: []}]\n");
    error_at(&errs, "spec.podSelector.matchExpressions[0].values");
}

#[test]
fn selector_exists_with_values() {
    let errs = np_errors("  podSelector:\n    matchExpressions: [{key: a, operator: Exists, values: [x]}]\n");
    error_at(&errs, "spec.podSelector.matchExpressions[0].values");
}

#[test]
fn selector_unknown_operator() {
    let errs = np_errors("  podSelector:\n    matchExpressions: [{key: a, operator: Equals, values: [x]}]\n");
    let e = error_at(&errs, "spec.podSelector.matchExpressions[0].operator");
    assert!(e.valid.unwrap().contains("DoesNotExist"));
}

#[test]
fn unknown_protocol() {
    let errs = np_errors("  podSelector: {}\n  ingress:\n  - ports:\n    - {protocol: tcp, port: 80}\n");
    let e = error_at(&errs, "spec.ingress[0].ports[0].protocol");
    assert_eq!(
        e.valid.as_deref(),
        Some("TCP, UDP or SCTP"),
        "protocols are case-sensitive"
    );
}

#[test]
fn port_out_of_range() {
    let errs =
        np_errors("  podSelector: {}\n  ingress:\n  - ports:\n    - port: 0\n    - port: 65536\n    - port: 65535\n");
    error_at(&errs, "spec.ingress[0].ports[0].port");
    error_at(&errs, "spec.ingress[0].ports[1].port");
    assert!(!errs
        .iter()
        .any(|e| e.field.as_deref() == Some("spec.ingress[0].ports[2].port")));
}

#[test]
fn invalid_port_name() {
    let errs = np_errors("  podSelector: {}\n  ingress:\n  - ports:\n    - port: my--port\n");
    let e = error_at(&errs, "spec.ingress[0].ports[0].port");
    assert!(e.valid.unwrap().contains("IANA_SVC_NAME"));
}

#[test]
fn peer_with_ip_block_and_selector() {
    let errs = np_errors(
        "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8}\n      podSelector: {}\n",
    );
    error_at(&errs, "spec.ingress[0].from[0]");
}

#[test]
fn peer_with_nothing_set() {
    let errs = np_errors("  podSelector: {}\n  ingress:\n  - from:\n    - {}\n");
    let e = error_at(&errs, "spec.ingress[0].from[0]");
    assert!(e.message.contains("must specify a peer"));
}

#[test]
fn unsupported_policy_type() {
    let errs = np_errors("  podSelector: {}\n  policyTypes: [Ingress, Sideways]\n");
    error_at(&errs, "spec.policyTypes[1]");
}

#[test]
fn invalid_object_names() {
    let errs = errors("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: Deny_All, namespace: Bad.NS}\nspec: {podSelector: {}}\n");
    error_at(&errs, "metadata.name");
    error_at(&errs, "metadata.namespace");
    let errs = errors("apiVersion: v1\nkind: Service\nmetadata: {name: 1svc}\nspec: {ports: [{port: 80}]}\n");
    error_at(&errs, "metadata.name");
}

#[test]
fn type_errors_name_the_field() {
    let errs = np_errors("  podSelector: {}\n  ingress:\n  - ports:\n    - port: [80]\n");
    assert!(
        errs[0]
            .field
            .as_deref()
            .unwrap()
            .starts_with("spec.ingress[0].ports[0]"),
        "{}",
        list(&errs)
    );
}

#[test]
fn all_errors_are_collected_across_objects() {
    let text = format!(
        "{}---\n{}",
        netpol("  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 80, endPort: 70}\n    - {protocol: ICMP}\n"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: UPPER}\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{}", list(&errs));
    assert_eq!(
        errs.iter().filter(|e| e.line == 12).count(),
        1,
        "the pod's error is at its document's line"
    );
}

#[test]
fn service_and_pod_ports_are_checked() {
    let errs = errors("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - {port: 80, targetPort: 70000}\n  - {port: 81, name: b, protocol: ICMP}\n");
    error_at(&errs, "spec.ports[0].name");
    error_at(&errs, "spec.ports[0].targetPort");
    error_at(&errs, "spec.ports[1].protocol");
    let errs = errors("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    ports: [{containerPort: 80, name: HTTP}]\n");
    error_at(&errs, "spec.containers[0].ports[0].name");
}

#[test]
fn workload_selector_must_match_template() {
    let errs = errors("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c}]}\n");
    error_at(&errs, "spec.template.metadata.labels");
}

#[test]
fn duplicate_objects_are_errors() {
    let p = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n";
    let errs = errors(&format!("{p}---\n{p}"));
    let e = error_at(&errs, "metadata.name");
    assert!(e.message.contains("test.yaml:1"), "{e}");
}
