//! One test per implementation-defined point the crate documents, and per subtle rule of the
//! API, each asking both engines (through `common::World::verdict`).

mod common;

use cnsim_policy::*;
use common::*;
use std::net::IpAddr;

fn decision(v: &Verdict, d: Direction) -> &Decision {
    &v.direction(d).decision
}

#[test]
fn ip_block_matches_pod_addresses_unless_the_option_is_off() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let to_y = any_port(vec![ip_block("10.0.1.0/24", &[])]);
    k8s.create("x", egress(for_pod("to-y-by-cidr", "a"), vec![to_y]));
    assert!(
        k8s.verdict("x/a", "y/a", TCP, 80).allowed,
        "y/a's address is in the block"
    );
    k8s.options.ip_block_matches_pods = false; // Cilium
    let v = k8s.verdict("x/a", "y/a", TCP, 80);
    assert!(!v.allowed);
    assert!(matches!(decision(&v, Direction::Egress), Decision::Isolated { .. }));
    assert!(
        k8s.verdict("x/a", "10.0.1.200", TCP, 80).allowed,
        "an address that is no pod still matches"
    );
}

#[test]
fn except_covering_a_pod_address_excludes_it() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "y/b"]);
    let b = k8s.pod_ip("y/b").to_string();
    let to_y = any_port(vec![ip_block("10.0.1.0/24", &[&format!("{b}/32")])]);
    k8s.create("x", egress(for_pod("to-y-but-b", "a"), vec![to_y]));
    assert!(k8s.verdict("x/a", "y/a", TCP, 80).allowed);
    assert!(!k8s.verdict("x/a", "y/b", TCP, 80).allowed);
}

#[test]
fn traffic_from_the_pods_own_node_is_allowed_into_an_isolated_pod() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create("x", ingress(policy("deny-all", everything()), vec![]));
    // x/a runs on node-0 (192.168.0.1); node-1 is another node.
    let v = k8s.verdict("192.168.0.1", "x/a", TCP, 80);
    assert!(v.allowed);
    assert_eq!(decision(&v, Direction::Ingress), &Decision::OwnNode);
    assert!(
        !k8s.verdict("192.168.0.2", "x/a", TCP, 80).allowed,
        "another node is not exempt"
    );
    k8s.options.allow_from_own_node = false;
    assert!(!k8s.verdict("192.168.0.1", "x/a", TCP, 80).allowed);
}

#[test]
fn pod_to_its_own_node_follows_the_option() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create("x", egress(policy("deny-egress", everything()), vec![]));
    assert!(k8s.verdict("x/a", "192.168.0.1", TCP, 10250).allowed);
    assert!(!k8s.verdict("x/a", "192.168.0.2", TCP, 10250).allowed);
    k8s.options.allow_to_own_node = false; // Cilium enforces egress to the host
    assert!(!k8s.verdict("x/a", "192.168.0.1", TCP, 10250).allowed);
}

#[test]
fn host_network_pods_are_never_selected_and_are_matched_by_address() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    let b = k8s.cluster.pods.iter_mut().find(|p| p.name == "b").expect("x/b");
    b.host_network = true;
    b.ips = b.host_ips.clone(); // node-1: 192.168.0.2
    k8s.create("x", ingress(policy("deny-all", everything()), vec![]));
    let v = k8s.verdict("y/a", "x/b", TCP, 80);
    assert!(v.allowed, "the deny-all policy cannot select a hostNetwork pod");
    assert_eq!(decision(&v, Direction::Ingress), &Decision::NotAPod);
    // As a source it is its node's address: a podSelector does not match it, an ipBlock does.
    k8s.create(
        "x",
        ingress(for_pod("from-b", "a"), vec![any_port(vec![pods(pod_label("b"))])]),
    );
    assert!(!k8s.verdict("x/b", "x/a", TCP, 80).allowed);
    k8s.create(
        "x",
        ingress(
            for_pod("from-node-1", "a"),
            vec![any_port(vec![ip_block("192.168.0.2/32", &[])])],
        ),
    );
    assert!(k8s.verdict("x/b", "x/a", TCP, 80).allowed);
}

#[test]
fn a_pod_reaching_itself_is_allowed_and_via_its_service_comes_from_the_node() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create("x", egress(ingress(policy("deny-all", everything()), vec![]), vec![]));
    let v = k8s.verdict("x/a", "x/a", TCP, 80);
    assert!(v.allowed);
    assert_eq!(decision(&v, Direction::Ingress), &Decision::SelfTraffic);
    // Hairpin through a Service: kube-proxy masquerades, the source is x/a's node.
    assert!(k8s.verdict("192.168.0.1", "x/a", TCP, 80).allowed);
    k8s.options.allow_self = false;
    assert!(!k8s.verdict("x/a", "x/a", TCP, 80).allowed);
}

#[test]
fn established_connections_survive_a_policy_change() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create("x", ingress(policy("deny-all", everything()), vec![]));
    let compiled = Compiled::build(&k8s.cluster, &k8s.policies, k8s.options);
    let conn = k8s.conn("y/a", "x/a", TCP, 80);
    assert!(!compiled.admits(&conn, CtState::New));
    assert!(
        compiled.admits(&conn, CtState::Established),
        "a flow admitted before the policy keeps going"
    );
    assert!(compiled.admits(&conn, CtState::Related));
}

#[test]
fn icmp_is_matched_by_rules_without_ports_only() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "z/a"]);
    let from_y_any = any_port(vec![namespaces(ns_named("y"))]);
    let from_z_80 = rule(vec![namespaces(ns_named("z"))], vec![port(80, None)]);
    k8s.create("x", ingress(policy("allow", everything()), vec![from_y_any, from_z_80]));
    assert!(k8s.verdict("y/a", "x/a", Protocol::Icmp, 0).allowed);
    assert!(!k8s.verdict("z/a", "x/a", Protocol::Icmp, 0).allowed);
    assert!(k8s.verdict("z/a", "x/a", TCP, 80).allowed);
}

#[test]
fn not_in_and_does_not_exist_match_pods_without_the_key() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "x/c"]);
    k8s.add_pod_labels("x/b", &[("env", "prod")]);
    k8s.add_pod_labels("x/c", &[("env", "dev")]);
    let not_prod = any_port(vec![pods(expr("env", SelectorOperator::NotIn, &["prod"]))]);
    k8s.create("x", ingress(for_pod("not-prod", "a"), vec![not_prod]));
    assert!(k8s.verdict("x/c", "x/a", TCP, 80).allowed);
    assert!(!k8s.verdict("x/b", "x/a", TCP, 80).allowed);
    k8s.clean_network_policies();
    let unlabelled = any_port(vec![pods(expr("env", SelectorOperator::DoesNotExist, &[]))]);
    k8s.create("x", ingress(for_pod("unlabelled", "c"), vec![unlabelled]));
    assert!(k8s.verdict("x/a", "x/c", TCP, 80).allowed, "x/a has no env label");
    assert!(!k8s.verdict("x/b", "x/c", TCP, 80).allowed);
}

#[test]
fn named_ports_resolve_on_the_destination_by_name_and_protocol() {
    let mut k8s = init(&[TCP, Protocol::Udp], &[80, 81], &["x/a", "y/a", "y/b"]);
    // y/b serves "web" on TCP 81; y/a has no port of that name.
    let b = k8s
        .cluster
        .pods
        .iter_mut()
        .find(|p| p.namespace == "y" && p.name == "b")
        .expect("y/b");
    b.container_ports.push(ContainerPort {
        name: "web".into(),
        container_port: 81,
        protocol: TCP,
    });
    k8s.create(
        "x",
        egress(for_pod("to-web", "a"), vec![any_peer(vec![named_port("web", None)])]),
    );
    assert!(k8s.verdict("x/a", "y/b", TCP, 81).allowed);
    assert!(
        !k8s.verdict("x/a", "y/b", TCP, 80).allowed,
        "the name resolves to 81 on y/b"
    );
    assert!(!k8s.verdict("x/a", "y/a", TCP, 81).allowed, "y/a has no port named web");
    assert!(
        !k8s.verdict("x/a", "y/b", Protocol::Udp, 81).allowed,
        "the policy port is TCP"
    );
    k8s.clean_network_policies();
    let udp_web = any_peer(vec![named_port("web", Some(Protocol::Udp))]);
    k8s.create("x", egress(for_pod("to-web-udp", "a"), vec![udp_web]));
    assert!(
        !k8s.verdict("x/a", "y/b", Protocol::Udp, 81).allowed,
        "web is a TCP container port"
    );
}

#[test]
fn end_port_is_an_inclusive_range() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let range = NetworkPolicyPort {
        protocol: None,
        port: Some(IntOrString::Int(8000)),
        end_port: Some(8080),
    };
    k8s.create("x", ingress(policy("range", everything()), vec![any_peer(vec![range])]));
    for (port, allowed) in [(7999, false), (8000, true), (8042, true), (8080, true), (8081, false)] {
        assert_eq!(k8s.verdict("y/a", "x/a", TCP, port).allowed, allowed, "port {port}");
    }
}

#[test]
fn a_port_entry_with_only_a_protocol_matches_every_port_of_that_protocol_only() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let udp = NetworkPolicyPort {
        protocol: Some(Protocol::Udp),
        port: None,
        end_port: None,
    };
    k8s.create(
        "x",
        ingress(policy("udp-only", everything()), vec![any_peer(vec![udp])]),
    );
    assert!(k8s.verdict("y/a", "x/a", Protocol::Udp, 5353).allowed);
    assert!(!k8s.verdict("y/a", "x/a", TCP, 5353).allowed);
    assert!(!k8s.verdict("y/a", "x/a", Protocol::Sctp, 5353).allowed);
}

#[test]
fn an_empty_rule_list_denies_and_an_empty_rule_allows_everything() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create("x", ingress(policy("none", everything()), vec![]));
    assert!(!k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    assert!(!k8s.verdict("8.8.8.8", "x/a", TCP, 80).allowed);
    k8s.create("x", ingress(policy("all", everything()), vec![rule(vec![], vec![])]));
    assert!(k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    assert!(
        k8s.verdict("8.8.8.8", "x/a", Protocol::Sctp, 9).allowed,
        "an empty from matches addresses too"
    );
}

#[test]
fn policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    // policyTypes absent, no rules at all: isolates ingress only.
    k8s.create("x", policy("bare", everything()));
    assert!(!k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    assert!(k8s.verdict("x/a", "y/a", TCP, 80).allowed);
    // policyTypes absent with one egress rule: egress is isolated too.
    let mut p = policy("with-egress", everything());
    p.egress = vec![any_peer(vec![port(53, Some(Protocol::Udp))])];
    k8s.create("x", p);
    assert!(!k8s.verdict("x/a", "y/a", TCP, 80).allowed);
    assert!(k8s.verdict("x/a", "y/a", Protocol::Udp, 53).allowed);
}

#[test]
fn a_pod_selector_alone_means_the_policys_namespace() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/b"]);
    k8s.create(
        "x",
        ingress(for_pod("from-b", "a"), vec![any_port(vec![pods(pod_label("b"))])]),
    );
    assert!(k8s.verdict("x/b", "x/a", TCP, 80).allowed);
    assert!(!k8s.verdict("y/b", "x/a", TCP, 80).allowed);
}

#[test]
fn dual_stack_connections_use_one_family() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    for (i, p) in k8s.cluster.pods.iter_mut().enumerate() {
        p.ips.push(format!("fd00::{}", i + 1).parse::<IpAddr>().expect("v6"));
    }
    let v4_only = any_port(vec![ip_block("10.0.0.0/8", &[])]);
    k8s.create("x", egress(for_pod("v4", "a"), vec![v4_only]));
    assert!(
        k8s.verdict("x/a", "y/a", TCP, 80).allowed,
        "pod to pod uses IPv4 when both have it"
    );
    assert!(
        !k8s.verdict("x/a", "2001:db8::1", TCP, 80).allowed,
        "an IPv6 destination makes x/a use fd00::1"
    );
}

#[test]
fn explanations_name_the_first_allowing_rule_and_every_isolating_policy_in_order() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "z/a"]);
    let from_y = rule(
        vec![namespaces(ns_named("z")), namespaces(ns_named("y"))],
        vec![port(443, None), port(80, None)],
    );
    k8s.create("x", ingress(policy("zz-allow-y", everything()), vec![from_y]));
    k8s.create("x", ingress(policy("aa-deny", everything()), vec![]));
    let v = k8s.verdict("y/a", "x/a", TCP, 80);
    let ids = k8s.policies.network_policy_order();
    assert_eq!(
        decision(&v, Direction::Ingress),
        &Decision::Allowed {
            policy: ids[1],
            rule: 0,
            peer: Some(1),
            port: Some(1)
        }
    );
    assert_eq!(
        k8s.explain("z/a", "x/a", TCP, 22),
        "DENIED z/a -> x/a TCP/22: egress at z/a: not isolated, default allow; \
         ingress at x/a: DENIED: isolated by x/aa-deny, x/zz-allow-y and no rule allows it"
    );
    let conn = k8s.conn("y/a", "x/a", TCP, 80);
    let json = serde_json::to_value(v.explain(&k8s.cluster, &k8s.policies, &conn)).expect("serializes");
    assert_eq!(json["ingress"]["decision"]["kind"], "allowed");
    assert_eq!(json["ingress"]["decision"]["policy"], "zz-allow-y");
    assert_eq!(json["ingress"]["decision"]["peer"], 1);
    assert_eq!(json["egress"]["decision"]["kind"], "default_allow");
}
