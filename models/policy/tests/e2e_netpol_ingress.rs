//! Upstream's NetworkPolicy e2e tests (kubernetes test/e2e/network/netpol/network_policy.go,
//! "NetworkPolicy between server and client"), first half: ingress selectors, ports, named
//! ports and updates. Each test is named after its Ginkgo description, uses the same pods,
//! policies and probes, and expects the truth table upstream's own expectation code builds.

mod common;

use cnsim_policy::{LabelSelector, SelectorOperator};
use common::*;

#[test]
fn should_support_a_default_deny_ingress_policy() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "y/b"]);
    k8s.create("x", ingress(policy("deny-ingress", everything()), vec![]));
    let mut r = k8s.reachability();
    r.expect_peer(any(), in_ns("x"), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_support_a_default_deny_all_policy() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    k8s.create("x", egress(ingress(policy("deny-all", everything()), vec![]), vec![]));
    let mut r = k8s.reachability();
    r.expect_peer(any(), in_ns("x"), false);
    r.expect_peer(in_ns("x"), any(), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_to_allow_traffic_from_pods_within_server_namespace_based_on_pod_selector() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "x/c", "y/a"]);
    let from_b = any_port(vec![pods(pod_label("b"))]);
    k8s.create("x", ingress(for_pod("x-a-allows-x-b", "a"), vec![from_b]));
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    r.expect("x/b", "x/a", true);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_to_allow_ingress_traffic_for_a_target() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    k8s.create("x", ingress(policy("deny-all", everything()), vec![]));
    let from_all = any_port(vec![pods_in(everything(), everything())]);
    k8s.create("x", ingress(for_pod("allow-all-to-a", "a"), vec![from_all]));
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", true);
    r.expect_all_ingress("x/b", false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_to_allow_ingress_traffic_from_pods_in_all_namespaces() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "z/a"]);
    let from_any_ns = any_port(vec![namespaces(everything())]);
    k8s.create("x", ingress(for_pod("allow-from-another-ns", "a"), vec![from_any_ns]));
    k8s.validate(80, TCP, &k8s.reachability());
}

#[test]
fn should_enforce_policy_to_allow_traffic_only_from_a_different_namespace_based_on_namespace_selector() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "z/a"]);
    let from_y = any_port(vec![namespaces(ns_named("y"))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-client-a-via-ns-selector", "a"), vec![from_y]),
    );
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), pod("x", "a"), false);
    r.expect_peer(in_ns("z"), pod("x", "a"), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_pod_selector_with_match_expressions() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    let from_b = any_port(vec![pods(expr("pod", SelectorOperator::In, &["b"]))]);
    k8s.create("x", ingress(for_pod("x-a-allows-x-b", "a"), vec![from_b]));
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    r.expect("x/b", "x/a", true);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_namespace_selector_with_match_expressions() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "z/a"]);
    let from_y = any_port(vec![namespaces(expr(
        cnsim_policy::NAMESPACE_NAME_LABEL,
        SelectorOperator::In,
        &["y"],
    ))]);
    k8s.create("x", ingress(for_pod("allow-ns-y-match-selector", "a"), vec![from_y]));
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), pod("x", "a"), false);
    r.expect_peer(in_ns("z"), pod("x", "a"), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_pod_selector_or_namespace_selector() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "x/c", "y/a"]);
    let not_x = namespaces(expr(
        cnsim_policy::NAMESPACE_NAME_LABEL,
        SelectorOperator::NotIn,
        &["x"],
    ));
    let b = pods(pod_label("b"));
    k8s.create(
        "x",
        ingress(
            for_pod("allow-ns-y-match-selector", "a"),
            vec![any_port(vec![not_x, b])],
        ),
    );
    let mut r = k8s.reachability();
    r.expect("x/a", "x/a", false);
    r.expect("x/c", "x/a", false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_pod_selector_and_namespace_selector() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "y/b", "z/b"]);
    let not_x = expr(cnsim_policy::NAMESPACE_NAME_LABEL, SelectorOperator::NotIn, &["x"]);
    let peer = pods_in(not_x, pod_label("b"));
    let p = for_pod("allow-ns-y-podselector-and-nsselector", "a");
    k8s.create("x", ingress(p, vec![any_port(vec![peer])]));
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    r.expect("y/b", "x/a", true);
    r.expect("z/b", "x/a", true);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_multiple_pod_selectors_and_namespace_selectors() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "y/b", "y/c"]);
    let not_x = expr(cnsim_policy::NAMESPACE_NAME_LABEL, SelectorOperator::NotIn, &["x"]);
    let peer = pods_in(not_x, expr("pod", SelectorOperator::In, &["b", "c"]));
    k8s.create(
        "x",
        ingress(for_pod("allow-ns-y-z-pod-b-c", "a"), vec![any_port(vec![peer])]),
    );
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), pod("x", "a"), false);
    r.expect("y/a", "x/a", false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_any_pod_selectors() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "x/c"]);
    let peers = vec![pods(pod_label("b")), pods(pod_label("c"))];
    k8s.create("x", ingress(for_pod("allow-ns-x-pod-b-c", "a"), vec![any_port(peers)]));
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    r.expect("x/b", "x/a", true);
    r.expect("x/c", "x/a", true);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_to_allow_traffic_only_from_a_pod_in_a_different_namespace_based_on_pod_selector_and_namespace_selector(
) {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "y/b", "z/a"]);
    let peer = pods_in(ns_named("y"), pod_label("a"));
    let p = for_pod("allow-ns-y-pod-a-via-namespace-pod-selector", "a");
    k8s.create("x", ingress(p, vec![any_port(vec![peer])]));
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    r.expect("y/a", "x/a", true);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_ports() {
    let mut k8s = init(&[TCP], &[81], &["x/a", "x/b", "y/a", "y/b", "z/a"]);
    let allow_81 = rule(vec![namespaces(ns_named("y"))], vec![port(81, Some(TCP))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-client-a-via-ns-selector", "a"), vec![allow_81]),
    );
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), pod("x", "a"), false);
    r.expect_peer(in_ns("y"), pod("x", "a"), true);
    r.expect_peer(in_ns("z"), pod("x", "a"), false);
    k8s.validate(81, TCP, &r);
}

#[test]
fn should_enforce_multiple_stacked_policies_with_overlapping_pod_selectors() {
    let mut k8s = init(&[TCP], &[80, 81], &["x/a", "x/b", "y/a", "y/b", "z/a"]);
    let allow_81 = rule(vec![namespaces(ns_named("y"))], vec![port(81, Some(TCP))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-client-a-via-ns-selector", "a"), vec![allow_81]),
    );
    let mut allow = k8s.reachability();
    allow.expect_peer(in_ns("x"), pod("x", "a"), false);
    allow.expect_peer(in_ns("y"), pod("x", "a"), true);
    allow.expect_peer(in_ns("z"), pod("x", "a"), false);
    k8s.validate(81, TCP, &allow);
    let mut deny = k8s.reachability();
    deny.expect_all_ingress("x/a", false);
    k8s.validate(80, TCP, &deny);

    let allow_80 = rule(vec![namespaces(ns_named("y"))], vec![port(80, Some(TCP))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-client-a-via-ns-selector-80", "a"), vec![allow_80]),
    );
    k8s.validate(80, TCP, &allow);
}

#[test]
fn should_support_allow_all_policy() {
    let mut k8s = init(&[TCP], &[80, 81], &["x/a", "x/b", "y/a"]);
    k8s.create("x", ingress(policy_for("allow-all", &[]), vec![rule(vec![], vec![])]));
    let r = k8s.reachability();
    k8s.validate(80, TCP, &r);
    k8s.validate(81, TCP, &r);
}

#[test]
fn should_allow_ingress_access_on_one_named_port() {
    let mut k8s = init(&[TCP], &[80, 81], &["x/a", "x/b", "y/a"]);
    let named_81 = any_peer(vec![named_port("serve-81-tcp", None)]);
    k8s.create("x", ingress(policy_for("allow-all", &[]), vec![named_81]));
    k8s.validate(81, TCP, &k8s.reachability());
    let mut r = k8s.reachability();
    r.expect_peer(any(), in_ns("x"), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_allow_ingress_access_from_namespace_on_one_named_port() {
    let mut k8s = init(&[TCP], &[80, 81], &["x/a", "x/b", "y/a", "z/a"]);
    let from_y = rule(
        vec![namespaces(ns_named("y"))],
        vec![named_port("serve-80-tcp", Some(TCP))],
    );
    k8s.create(
        "x",
        ingress(for_pod("allow-client-a-via-ns-selector-80", "a"), vec![from_y]),
    );
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), pod("x", "a"), false);
    r.expect_peer(in_ns("z"), pod("x", "a"), false);
    k8s.validate(80, TCP, &r);
    let mut fail = k8s.reachability();
    fail.expect_all_ingress("x/a", false);
    k8s.validate(81, TCP, &fail);
}

#[test]
fn should_allow_egress_access_on_one_named_port() {
    let mut k8s = init(&[TCP], &[80, 81], &["x/a", "y/a"]);
    let named_80 = any_peer(vec![named_port("serve-80-tcp", None)]);
    k8s.create("x", egress(policy_for("allow-egress", &[]), vec![named_80]));
    k8s.validate(80, TCP, &k8s.reachability());
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), any(), false);
    k8s.validate(81, TCP, &r);
}

#[test]
fn should_enforce_updated_policy() {
    let mut k8s = init(&[TCP], &[81], &["x/a", "y/a"]);
    let mut p = ingress(
        policy_for("allow-all-mutate-to-deny-all", &[]),
        vec![rule(vec![], vec![])],
    );
    k8s.create("x", p.clone());
    k8s.validate(81, TCP, &k8s.reachability());
    p.ingress = vec![];
    k8s.update("x", p);
    let mut deny = k8s.reachability();
    deny.expect_peer(any(), in_ns("x"), false);
    k8s.validate(81, TCP, &deny);
}

#[test]
fn should_allow_ingress_access_from_updated_namespace() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let from_updated = any_port(vec![namespaces(LabelSelector::labels(&[("ns2", "updated")]))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-client-a-via-ns-selector", "a"), vec![from_updated]),
    );
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    k8s.validate(80, TCP, &r);

    k8s.add_namespace_label("y", "ns2", "updated");
    let mut with_label = k8s.reachability();
    with_label.expect_all_ingress("x/a", false);
    with_label.expect_peer(in_ns("y"), any(), true);
    k8s.validate(80, TCP, &with_label);
}

#[test]
fn should_allow_ingress_access_from_updated_pod() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b"]);
    let labels = [("pod", "b"), ("pod2", "updated")];
    let from_updated = any_port(vec![pods(LabelSelector::labels(&labels))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-client-a-via-pod-selector", "a"), vec![from_updated]),
    );
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    k8s.validate(80, TCP, &r);

    k8s.add_pod_labels("x/b", &labels);
    let mut with_label = k8s.reachability();
    with_label.expect_all_ingress("x/a", false);
    with_label.expect("x/b", "x/a", true);
    k8s.validate(80, TCP, &with_label);
}
