//! The cluster tiers: Admin before NetworkPolicy before Baseline before the default, priority
//! and rule order, Pass, the tie rule, the v1alpha1 kinds, and the peers only they have.

mod common;

use cnsim_policy::*;
use common::*;

fn ns(name: &str) -> LabelSelector {
    ns_named(name)
}

fn cnp(name: &str, tier: Tier, priority: i32, subject_ns: &str) -> ClusterNetworkPolicy {
    ClusterNetworkPolicy {
        kind: ClusterPolicyKind::ClusterNetworkPolicy,
        name: name.to_string(),
        tier,
        priority,
        subject: ClusterSubject::Namespaces(ns(subject_ns)),
        ingress: vec![],
        egress: vec![],
    }
}

fn crule(action: ClusterAction, peers: Vec<ClusterPeer>, ports: Vec<ClusterPort>) -> ClusterRule {
    ClusterRule {
        name: String::new(),
        action,
        peers,
        ports,
    }
}

fn from_ns(name: &str) -> ClusterPeer {
    ClusterPeer::Namespaces(ns(name))
}

fn tier_of(v: &Verdict, d: Direction) -> Option<(Tier, u32, ClusterAction)> {
    match v.direction(d).decision {
        Decision::Tier { tier, rule, action } => Some((tier, rule.policy.0, action)),
        _ => None,
    }
}

#[test]
fn admin_deny_overrides_a_network_policy_allow() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create(
        "x",
        ingress(policy("allow-all", everything()), vec![rule(vec![], vec![])]),
    );
    let mut deny = cnp("deny-y", Tier::Admin, 10, "x");
    deny.ingress = vec![crule(ClusterAction::Deny, vec![from_ns("y")], vec![])];
    k8s.policies.cluster_policies.push(deny);
    let v = k8s.verdict("y/a", "x/a", TCP, 80);
    assert!(!v.allowed);
    assert_eq!(
        tier_of(&v, Direction::Ingress),
        Some((Tier::Admin, 0, ClusterAction::Deny))
    );
}

#[test]
fn admin_accept_overrides_isolation_at_its_end_only() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.create("x", egress(policy("deny-egress", everything()), vec![]));
    let mut accept = cnp("x-to-y", Tier::Admin, 10, "x");
    accept.egress = vec![crule(ClusterAction::Accept, vec![from_ns("y")], vec![])];
    k8s.policies.cluster_policies.push(accept);
    assert!(k8s.verdict("x/a", "y/a", TCP, 80).allowed);
    // The destination's ingress is still its own business.
    k8s.create("y", ingress(policy("deny-ingress", everything()), vec![]));
    let v = k8s.verdict("x/a", "y/a", TCP, 80);
    assert!(v.egress.allowed && !v.ingress.allowed && !v.allowed);
}

#[test]
fn pass_hands_over_to_network_policy_and_then_to_baseline() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "x/b", "y/a"]);
    let mut pass = cnp("pass-y", Tier::Admin, 1, "x");
    pass.ingress = vec![crule(ClusterAction::Pass, vec![from_ns("y")], vec![])];
    let mut deny_below = cnp("deny-y-later", Tier::Admin, 2, "x");
    deny_below.ingress = vec![crule(ClusterAction::Deny, vec![from_ns("y")], vec![])];
    let mut baseline = cnp("baseline-deny", Tier::Baseline, 0, "x");
    baseline.ingress = vec![crule(ClusterAction::Deny, vec![from_ns("y")], vec![])];
    k8s.policies.cluster_policies.extend([pass, deny_below, baseline]);
    // x/a is isolated by a NetworkPolicy that allows y: Pass skips the later Admin deny.
    k8s.create(
        "x",
        ingress(for_pod("allow-y", "a"), vec![any_port(vec![namespaces(ns("y"))])]),
    );
    let v = k8s.verdict("y/a", "x/a", TCP, 80);
    assert!(v.allowed);
    assert!(matches!(v.ingress.decision, Decision::Allowed { .. }));
    assert_eq!(
        v.ingress.passed_by,
        Some(RuleRef {
            policy: ClusterPolicyId(0),
            rule: 0
        })
    );
    // x/b is not isolated: the Baseline tier decides.
    let v = k8s.verdict("y/a", "x/b", TCP, 80);
    assert!(!v.allowed);
    assert_eq!(
        tier_of(&v, Direction::Ingress),
        Some((Tier::Baseline, 2, ClusterAction::Deny))
    );
    assert!(k8s
        .explain("y/a", "x/b", TCP, 80)
        .contains("[after Pass by ClusterNetworkPolicy \"pass-y\""));
}

#[test]
fn network_policy_decides_for_the_pods_it_isolates_before_baseline() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "z/a"]);
    let mut baseline = cnp("default-deny", Tier::Baseline, 0, "x");
    baseline.ingress = vec![crule(
        ClusterAction::Deny,
        vec![ClusterPeer::Namespaces(everything())],
        vec![],
    )];
    k8s.policies.cluster_policies.push(baseline);
    assert!(!k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    k8s.create(
        "x",
        ingress(
            policy("allow-y", everything()),
            vec![any_port(vec![namespaces(ns("y"))])],
        ),
    );
    assert!(k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    let v = k8s.verdict("z/a", "x/a", TCP, 80);
    assert!(!v.allowed);
    assert!(
        matches!(v.ingress.decision, Decision::Isolated { .. }),
        "the NetworkPolicy decides, not the baseline"
    );
}

#[test]
fn lower_priority_number_first_then_name_then_input_order() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let mk = |name: &str, priority, action| {
        let mut p = cnp(name, Tier::Admin, priority, "x");
        p.ingress = vec![crule(action, vec![from_ns("y")], vec![])];
        p
    };
    k8s.policies.cluster_policies = vec![mk("b", 5, ClusterAction::Deny), mk("c", 3, ClusterAction::Accept)];
    assert_eq!(
        tier_of(&k8s.verdict("y/a", "x/a", TCP, 80), Direction::Ingress),
        Some((Tier::Admin, 1, ClusterAction::Accept))
    );
    // Equal priorities: the API leaves it undefined; cnsim takes the name order.
    k8s.policies.cluster_policies = vec![mk("b", 5, ClusterAction::Deny), mk("a", 5, ClusterAction::Accept)];
    assert_eq!(
        tier_of(&k8s.verdict("y/a", "x/a", TCP, 80), Direction::Ingress),
        Some((Tier::Admin, 1, ClusterAction::Accept))
    );
    k8s.policies.cluster_policies = vec![mk("a", 5, ClusterAction::Deny), mk("a", 5, ClusterAction::Accept)];
    assert_eq!(
        tier_of(&k8s.verdict("y/a", "x/a", TCP, 80), Direction::Ingress),
        Some((Tier::Admin, 0, ClusterAction::Deny))
    );
}

#[test]
fn the_first_matching_rule_of_a_policy_decides() {
    let mut k8s = init(&[TCP], &[80, 443], &["x/a", "y/a"]);
    let mut p = cnp("ordered", Tier::Admin, 1, "x");
    p.ingress = vec![
        crule(
            ClusterAction::Accept,
            vec![from_ns("y")],
            vec![ClusterPort::Number {
                protocol: TCP,
                port: 443,
            }],
        ),
        crule(ClusterAction::Deny, vec![from_ns("y")], vec![]),
    ];
    k8s.policies.cluster_policies.push(p);
    assert!(k8s.verdict("y/a", "x/a", TCP, 443).allowed);
    assert!(!k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    assert!(!k8s.verdict("y/a", "x/a", Protocol::Udp, 443).allowed);
}

#[test]
fn v1alpha1_kinds_map_onto_the_tiers() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a", "z/a"]);
    let anp = AdminNetworkPolicy {
        name: "allow-y".into(),
        priority: 1,
        subject: ClusterSubject::Namespaces(ns("x")),
        ingress: vec![AdminRule {
            name: "y".into(),
            action: AdminAction::Allow,
            peers: vec![from_ns("y")],
            ports: vec![],
        }],
        egress: vec![],
    };
    let banp = BaselineAdminNetworkPolicy {
        name: "default".into(),
        subject: ClusterSubject::Namespaces(everything()),
        ingress: vec![AdminRule {
            name: "deny-all".into(),
            action: BaselineAction::Deny,
            peers: vec![ClusterPeer::Namespaces(everything())],
            ports: vec![],
        }],
        egress: vec![],
    };
    k8s.policies.cluster_policies = vec![anp.into(), banp.into()];
    assert!(k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    assert!(!k8s.verdict("z/a", "x/a", TCP, 80).allowed);
    assert_eq!(
        k8s.explain("z/a", "x/a", TCP, 80),
        "DENIED z/a -> x/a TCP/80: egress at z/a: not isolated, default allow; ingress at x/a: DENIED by \
         BaselineAdminNetworkPolicy \"default\" (tier Baseline, priority 0) ingress rule 0 \"deny-all\""
    );
}

#[test]
fn networks_match_pod_addresses_and_nodes_match_node_addresses() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    k8s.cluster.nodes[1]
        .labels
        .insert("role".into(), "control-plane".into());
    let mut p = cnp("egress", Tier::Admin, 1, "x");
    p.egress = vec![
        crule(
            ClusterAction::Deny,
            vec![ClusterPeer::Nodes(LabelSelector::labels(&[("role", "control-plane")]))],
            vec![],
        ),
        crule(
            ClusterAction::Deny,
            vec![ClusterPeer::Networks(vec!["10.0.1.0/24".parse().expect("cidr")])],
            vec![],
        ),
    ];
    k8s.policies.cluster_policies.push(p);
    assert!(
        !k8s.verdict("x/a", "192.168.0.2", TCP, 6443).allowed,
        "node-1 is selected"
    );
    assert!(
        !k8s.verdict("x/a", "y/a", TCP, 80).allowed,
        "y/a's address is in the network"
    );
    k8s.options.ip_block_matches_pods = false;
    assert!(k8s.verdict("x/a", "y/a", TCP, 80).allowed);
}

#[test]
fn cluster_named_ports_use_the_container_ports_protocol() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let mut p = cnp("deny-http", Tier::Admin, 1, "x");
    p.ingress = vec![crule(
        ClusterAction::Deny,
        vec![from_ns("y")],
        vec![ClusterPort::Named("serve-80-tcp".into())],
    )];
    k8s.policies.cluster_policies.push(p);
    assert!(!k8s.verdict("y/a", "x/a", TCP, 80).allowed);
    assert!(k8s.verdict("y/a", "x/a", Protocol::Udp, 80).allowed);
}

#[test]
fn host_network_pods_are_not_subjects() {
    let mut k8s = init(&[TCP], &[80], &["x/a", "y/a"]);
    let a = &mut k8s.cluster.pods[0];
    a.host_network = true;
    a.ips = a.host_ips.clone();
    let mut p = cnp("deny-all", Tier::Admin, 1, "x");
    p.ingress = vec![crule(
        ClusterAction::Deny,
        vec![ClusterPeer::Namespaces(everything())],
        vec![],
    )];
    k8s.policies.cluster_policies.push(p);
    assert!(k8s.verdict("y/a", "x/a", TCP, 80).allowed);
}
