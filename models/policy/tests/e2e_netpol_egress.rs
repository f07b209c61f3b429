//! Upstream's NetworkPolicy e2e tests (kubernetes test/e2e/network/netpol/network_policy.go),
//! second half: egress, ipBlocks, protocols, policy deletion and the default namespace label;
//! then the UDP and SCTP contexts ("NetworkPolicy between server and client using UDP/SCTP")
//! as modules. Names, pods, policies, probes and expectations follow upstream's code.

mod common;

use cnsim_policy::{LabelSelector, Protocol, SelectorOperator, NAMESPACE_NAME_LABEL};
use common::*;

#[test]
fn should_deny_ingress_from_pods_on_other_namespaces() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "z/a"]);
    k8s.create(
        "x",
        ingress(
            policy("deny-empty-policy", everything()),
            vec![any_port(vec![pods(everything())])],
        ),
    );
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("y"), in_ns("x"), false);
    r.expect_peer(in_ns("z"), in_ns("x"), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_deny_ingress_access_to_updated_pod() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let isolated = LabelSelector::labels(&[("target", "isolated")]);
    k8s.create(
        "x",
        ingress(policy("deny-ingress-via-label-selector", isolated), vec![]),
    );
    k8s.validate(80, TCP, &k8s.reachability());
    k8s.add_pod_labels("x/a", &[("target", "isolated")]);
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_deny_egress_from_pods_based_on_pod_selector() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    k8s.create("x", egress(for_pod("deny-egress-pod-a", "a"), vec![]));
    let mut r = k8s.reachability();
    r.expect_all_egress("x/a", false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_deny_egress_from_all_pods_in_a_namespace() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    k8s.create("x", egress(policy("deny-egress-ns-x", everything()), vec![]));
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), any(), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_work_with_ingress_egress_specified_together() {
    let mut k8s = init(&[TCP], &[80, 81], &["x/a", "x/b", "x/c", "y/a"]);
    let from_b = any_port(vec![pods(pod_label("b"))]);
    let mut p = ingress(for_pod("allow-client-a-via-pod-selector", "a"), vec![from_b]);
    p.egress = vec![any_peer(vec![port(80, None)])];
    p.policy_types = Some(vec![
        cnsim_policy::PolicyType::Egress,
        cnsim_policy::PolicyType::Ingress,
    ]);
    k8s.create("x", p);
    let mut r80 = k8s.reachability();
    r80.expect_all_ingress("x/a", false);
    r80.expect("x/b", "x/a", true);
    k8s.validate(80, TCP, &r80);
    let mut r81 = k8s.reachability();
    r81.expect_all_ingress("x/a", false);
    r81.expect_all_egress("x/a", false);
    r81.expect("x/b", "x/a", true);
    k8s.validate(81, TCP, &r81);
}

#[test]
fn should_support_denying_of_egress_traffic_on_the_client_side_even_if_the_server_explicitly_allows_this_traffic() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "y/b"]);
    let to_ya = any_port(vec![pods_in(ns_named("y"), pod_label("a"))]);
    k8s.create("x", egress(for_pod("allow-to-ns-y-pod-a", "a"), vec![to_ya]));
    let from_xa = any_port(vec![pods_in(ns_named("x"), pod_label("a"))]);
    k8s.create(
        "y",
        ingress(
            for_pod("allow-from-xa-on-ya-match-selector", "a"),
            vec![from_xa.clone()],
        ),
    );
    k8s.create(
        "y",
        ingress(for_pod("allow-from-xa-on-yb-match-selector", "b"), vec![from_xa]),
    );
    let mut r = k8s.reachability();
    r.expect_peer(pod("x", "a"), any(), false);
    r.expect_peer(any(), pod("y", "a"), false);
    r.expect_peer(pod("x", "a"), pod("y", "a"), true);
    r.expect_peer(any(), pod("y", "b"), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_egress_policy_allowing_traffic_to_a_server_in_a_different_namespace_based_on_pod_selector_and_namespace_selector(
) {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "y/b"]);
    let to_ya = any_port(vec![pods_in(ns_named("y"), pod_label("a"))]);
    k8s.create("x", egress(for_pod("allow-to-ns-y-pod-a", "a"), vec![to_ya]));
    let mut r = k8s.reachability();
    r.expect_all_egress("x/a", false);
    r.expect("x/a", "y/a", true);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_ingress_policy_allowing_any_port_traffic_to_a_server_on_a_specific_protocol() {
    let mut k8s = init(&[TCP, Protocol::Udp], &[80], &["x/a", "y/a"]);
    let tcp_only = cnsim_policy::NetworkPolicyPort {
        protocol: Some(TCP),
        port: None,
        end_port: None,
    };
    k8s.create(
        "x",
        ingress(for_pod("allow-ingress-by-proto", "a"), vec![any_peer(vec![tcp_only])]),
    );
    k8s.validate(80, TCP, &k8s.reachability());
    let mut udp = k8s.reachability();
    udp.expect_peer(any(), pod("x", "a"), false);
    k8s.validate(80, Protocol::Udp, &udp);
}

#[test]
fn should_enforce_multiple_ingress_policies_with_ingress_allow_all_policy_taking_precedence() {
    let mut k8s = init(&[TCP], &[81], &["x/a", "y/a"]);
    k8s.create(
        "x",
        ingress(
            policy_for("allow-ingress-port-80", &[]),
            vec![any_peer(vec![port(80, None)])],
        ),
    );
    let mut r = k8s.reachability();
    r.expect_peer(any(), in_ns("x"), false);
    k8s.validate(81, TCP, &r);
    k8s.create(
        "x",
        ingress(policy_for("allow-ingress", &[]), vec![rule(vec![], vec![])]),
    );
    k8s.validate(81, TCP, &k8s.reachability());
}

#[test]
fn should_enforce_multiple_egress_policies_with_egress_allow_all_policy_taking_precedence() {
    let mut k8s = init(&[TCP], &[81], &["x/a", "y/a"]);
    k8s.create(
        "x",
        egress(
            policy_for("allow-egress-port-80", &[]),
            vec![any_peer(vec![port(80, None)])],
        ),
    );
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), any(), false);
    k8s.validate(81, TCP, &r);
    k8s.create("x", egress(policy_for("allow-egress", &[]), vec![rule(vec![], vec![])]));
    k8s.validate(81, TCP, &k8s.reachability());
}

#[test]
fn should_stop_enforcing_policies_after_they_are_deleted() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create("x", egress(ingress(policy("deny-all", everything()), vec![]), vec![]));
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), any(), false);
    r.expect_peer(any(), in_ns("x"), false);
    k8s.validate(80, TCP, &r);
    k8s.clean_network_policies();
    k8s.validate(80, TCP, &k8s.reachability());
}

#[test]
fn should_allow_egress_access_to_server_in_cidr_block() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "y/b"]);
    let cidr = format!("{}/32", k8s.pod_ip("y/b"));
    let to_cidr = any_port(vec![ip_block(&cidr, &[])]);
    k8s.create(
        "x",
        egress(for_pod("allow-client-a-via-cidr-egress-rule", "a"), vec![to_cidr]),
    );
    let mut r = k8s.reachability();
    r.expect_all_egress("x/a", false);
    r.expect("x/a", "y/b", true);
    k8s.validate(80, TCP, &r);
}

/// makeLargeCIDRForIP: the /4 that holds the address.
fn large_cidr(ip: std::net::IpAddr) -> String {
    let net = ipnet::IpNet::new(ip, 4).expect("valid prefix").trunc();
    net.to_string()
}

#[test]
fn should_enforce_except_clause_while_egress_access_to_server_in_cidr_block() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "x/c"]);
    let b = k8s.pod_ip("x/b");
    let to_cidr = any_port(vec![ip_block(&large_cidr(b), &[&format!("{b}/32")])]);
    k8s.create(
        "x",
        egress(for_pod("allow-client-a-via-cidr-egress-rule", "a"), vec![to_cidr]),
    );
    let mut r = k8s.reachability();
    r.expect("x/a", "x/b", false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_ensure_an_ip_overlapping_both_ip_block_cidr_and_ip_block_except_is_allowed() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "x/c"]);
    let b = k8s.pod_ip("x/b");
    let to_cidr = any_port(vec![ip_block(&large_cidr(b), &[&format!("{b}/32")])]);
    k8s.create(
        "x",
        egress(for_pod("allow-client-a-via-cidr-egress-rule", "a"), vec![to_cidr]),
    );
    let mut r = k8s.reachability();
    r.expect("x/a", "x/b", false);
    k8s.validate(80, TCP, &r);

    let to_b = any_port(vec![ip_block(&format!("{b}/32"), &[])]);
    k8s.update(
        "x",
        egress(for_pod("allow-client-a-via-cidr-egress-rule", "a"), vec![to_b]),
    );
    let mut allow = k8s.reachability();
    allow.expect_all_egress("x/a", false);
    allow.expect("x/a", "x/b", true);
    k8s.validate(80, TCP, &allow);
}

#[test]
fn should_enforce_policies_to_check_ingress_and_egress_policies_can_be_controlled_independently_based_on_pod_selector()
{
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    let target = pod_label("a");
    k8s.create(
        "x",
        egress(
            policy("allow-egress-for-target", target.clone()),
            vec![rule(vec![], vec![])],
        ),
    );
    k8s.validate(80, TCP, &k8s.reachability());
    k8s.create("x", ingress(policy("deny-ingress-via-label-selector", target), vec![]));
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_not_mistakenly_treat_protocol_sctp_as_protocol_tcp_even_if_the_plugin_doesnt_support_sctp() {
    let mut k8s = init(&[TCP], &[81], &["x/a", "y/a"]);
    k8s.create("x", ingress(policy("deny-ingress", everything()), vec![]));
    let sctp_81 = any_peer(vec![port(81, Some(Protocol::Sctp))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-only-sctp-ingress-on-port-81", "a"), vec![sctp_81]),
    );
    let mut r = k8s.reachability();
    r.expect_peer(any(), in_ns("x"), false);
    k8s.validate(81, TCP, &r);
}

#[test]
fn should_properly_isolate_pods_that_are_selected_by_a_policy_allowing_sctp_even_if_the_plugin_doesnt_support_sctp() {
    let mut k8s = init(&[TCP], &[81], &["x/a", "y/a"]);
    let sctp_80 = any_peer(vec![port(80, Some(Protocol::Sctp))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-only-sctp-ingress-on-port-80", "a"), vec![sctp_80]),
    );
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    k8s.validate(81, TCP, &r);
}

#[test]
fn should_not_allow_access_by_tcp_when_a_policy_specifies_only_udp() {
    let mut k8s = init(&[TCP], &[81], &["x/a", "y/a"]);
    let udp_81 = any_peer(vec![port(81, Some(Protocol::Udp))]);
    k8s.create(
        "x",
        ingress(for_pod("allow-only-udp-ingress-on-port-81", "a"), vec![udp_81]),
    );
    let mut r = k8s.reachability();
    r.expect_all_ingress("x/a", false);
    k8s.validate(81, TCP, &r);
}

#[test]
fn should_enforce_policy_to_allow_traffic_based_on_namespace_selector_with_match_labels_using_default_ns_label() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "z/a"]);
    let from_y = any_port(vec![namespaces(ns_named("y"))]);
    let p = for_pod("allow-client-a-via-ns-selector-for-immutable-ns-label", "a");
    k8s.create("x", ingress(p, vec![from_y]));
    let mut r = k8s.reachability();
    r.expect_peer(in_ns("x"), pod("x", "a"), false);
    r.expect_peer(in_ns("z"), pod("x", "a"), false);
    k8s.validate(80, TCP, &r);
}

#[test]
fn should_enforce_policy_based_on_namespace_selector_with_match_expressions_using_default_ns_label() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a", "z/a"]);
    let not_y = any_port(vec![namespaces(expr(
        NAMESPACE_NAME_LABEL,
        SelectorOperator::NotIn,
        &["y"],
    ))]);
    let p = for_pod("allow-ns-y-match-selector-for-immutable-ns-label", "a");
    k8s.create("x", egress(p, vec![not_y]));
    let mut r = k8s.reachability();
    r.expect_peer(pod("x", "a"), in_ns("y"), false);
    k8s.validate(80, TCP, &r);
}

/// "NetworkPolicy between server and client using UDP" and "... using SCTP": the same three
/// tests for each protocol.
macro_rules! protocol_context {
    ($module:ident, $protocol:expr) => {
        mod $module {
            use super::*;
            const P: Protocol = $protocol;

            #[test]
            fn should_support_a_default_deny_ingress_policy() {
                let mut k8s = init(&[P], &[80], &["x/a", "x/b", "y/a", "y/b"]);
                k8s.create("x", ingress(policy("deny-all", everything()), vec![]));
                let mut r = k8s.reachability();
                r.expect_peer(any(), in_ns("x"), false);
                k8s.validate(80, P, &r);
            }

            #[test]
            fn should_enforce_policy_based_on_ports() {
                let mut k8s = init(&[P], &[81], &["x/a", "x/b", "y/a", "z/a"]);
                let allow_81 = rule(vec![namespaces(ns_named("y"))], vec![port(81, Some(P))]);
                k8s.create("x", ingress(for_pod("allow-ingress-on-port-81-ns-x", "a"), vec![allow_81]));
                let mut r = k8s.reachability();
                r.expect_peer(in_ns("x"), pod("x", "a"), false);
                r.expect_peer(in_ns("z"), pod("x", "a"), false);
                k8s.validate(81, P, &r);
            }

            #[test]
            fn should_enforce_policy_to_allow_traffic_only_from_a_pod_in_a_different_namespace_based_on_pod_selector_and_namespace_selector(
            ) {
                let mut k8s = init(&[P], &[80], &["x/a", "x/b", "y/a"]);
                let peer = pods_in(ns_named("y"), pod_label("a"));
                let p = for_pod("allow-ns-y-pod-a-via-namespace-pod-selector", "a");
                k8s.create("x", ingress(p, vec![any_port(vec![peer])]));
                let mut r = k8s.reachability();
                r.expect_all_ingress("x/a", false);
                r.expect("y/a", "x/a", true);
                k8s.validate(80, P, &r);
            }
        }
    };
}

protocol_context!(udp, Protocol::Udp);
protocol_context!(sctp, Protocol::Sctp);
