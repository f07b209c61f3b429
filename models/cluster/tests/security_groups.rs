//! Security groups for pods in a run: ENABLE_POD_ENI gives each node a trunk ENI; the pods a
//! SecurityGroupPolicy selects each take a branch ENI, scheduled against the node's
//! `vpc.amazonaws.com/pod-eni`. Expected numbers come from AWS's facts for one m5.large:
//! 3 ENIs of 10 addresses (one the primary's own), 9 branch ENIs (instance_limits.csv).

use cnsim_cluster::scenario::{load_str, Diagnostics, LoadedScenario};
use cnsim_cluster::{run_variant, VariantResult};
use std::collections::BTreeSet;

const M5_LARGE_BRANCH_ENIS: u32 = 9;
/// Pool addresses an m5.large's ENIs hold for pods: 10 per ENI less the ENI's own.
const M5_LARGE_POOL_PER_ENI: u32 = 9;

fn scenario(instance: &str, ipam: &str, workloads: &str, events: &str) -> String {
    format!(
        r#"Scenario(version: 1, seed: 4, duration: "60s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a"], subnets: [(name: "nodes", az: "a", cidr: "10.0.0.0/20")]),
  network: (ipam: AwsVpcCni({ipam})),
  node_groups: [(name: "ng", instance_type: "{instance}", count: 1)],
  namespaces: [(name: "shop")],
  workloads: [{workloads}],
  events: [{events}],
)"#
    )
}

const SGP: &str = r#"pod_eni: true,
  security_group_policies: [(namespace: "shop", pod_selector: {"app": "db"}, security_groups: ["sg-1"])]"#;

fn load(text: &str) -> Result<LoadedScenario, Diagnostics> {
    load_str("sgp.ron", "sgp", text, &[])
}

fn run(text: &str) -> VariantResult {
    run_variant(&load(text).unwrap_or_else(|d| panic!("{d}")).variants[0])
}

fn db(replicas: u32) -> String {
    format!(r#"(namespace: "shop", name: "db", replicas: {replicas}, labels: {{"app": "db"}})"#)
}

/// Pods pending at the end whose reason mentions `needle`.
fn pending(r: &VariantResult, needle: &str) -> usize {
    r.pods.pending.iter().filter(|p| p.reason.contains(needle)).count()
}

#[test]
fn each_selected_pod_takes_a_branch_eni_and_pods_beyond_the_limit_are_unschedulable() {
    let r = run(&scenario("m5.large", SGP, &db(12), ""));
    let node = &r.vpc_cni.as_ref().unwrap().nodes[0];
    assert_eq!(node.branch_pods, M5_LARGE_BRANCH_ENIS);
    // Branch pods are not pool pods.
    assert_eq!(node.addresses_assigned, 0);
    let unschedulable = pending(&r, "0/1 nodes are available: 1 Insufficient vpc.amazonaws.com/pod-eni");
    assert_eq!(unschedulable as u32, 12 - M5_LARGE_BRANCH_ENIS, "{:?}", r.pods.pending);
}

#[test]
fn the_trunk_eni_is_one_of_the_nodes_enis_so_the_pool_has_one_fewer() {
    let web = r#"(namespace: "shop", name: "web", replicas: 25, labels: {"app": "web"})"#;
    let without = run(&scenario("m5.large", "", web, ""));
    let with = run(&scenario("m5.large", "pod_eni: true", web, ""));
    let assigned = |r: &VariantResult| r.vpc_cni.as_ref().unwrap().nodes[0].addresses_assigned;
    assert_eq!(assigned(&without), 25);
    assert_eq!(
        assigned(&with),
        2 * M5_LARGE_POOL_PER_ENI,
        "primary + one pool ENI beside the trunk"
    );
}

#[test]
fn branch_pods_count_against_max_pods() {
    let text = scenario(
        "m5.large",
        SGP,
        &format!(r#"{}, (namespace: "shop", name: "web", replicas: 4)"#, db(4)),
        "",
    )
    .replace("count: 1)", "count: 1, max_pods: 6)");
    let r = run(&text);
    assert_eq!(r.vpc_cni.as_ref().unwrap().nodes[0].branch_pods, 4);
    assert_eq!(pending(&r, "Too many pods"), 2, "{:?}", r.pods.pending);
}

#[test]
fn scaling_down_frees_branch_enis_for_the_next_scale_up() {
    let events = r#"(at: "5s", scale: "shop/db", replicas: 12), (at: "20s", scale: "shop/db", replicas: 4),
                    (at: "40s", scale: "shop/db", replicas: 9)"#;
    let r = run(&scenario("m5.large", SGP, &db(2), events));
    let node = &r.vpc_cni.as_ref().unwrap().nodes[0];
    assert_eq!(node.branch_pods, M5_LARGE_BRANCH_ENIS);
    let s = r.pod_startup.as_ref().unwrap();
    assert!(s.pending_by_reason.is_empty(), "{:?}", s.pending_by_reason);
    assert_eq!(s.pods_deleted, 12 - 4);
}

#[test]
fn branch_pod_addresses_are_distinct_addresses_of_the_node_subnet() {
    let loaded = load(&scenario("m5.large", SGP, &db(9), "")).unwrap();
    let world = cnsim_cluster::world::World::build(&loaded.variants[0].scenario);
    let subnet: ipnet::Ipv4Net = "10.0.0.0/20".parse().unwrap();
    let ips: BTreeSet<_> = world.pods.iter().filter_map(|p| p.ip).collect();
    assert_eq!(ips.len(), 9);
    assert!(ips.iter().all(|ip| subnet.contains(ip) && *ip != world.nodes[0].ip));
}

#[test]
fn invalid_security_groups_for_pods_settings_name_their_field() {
    let fields = |text: &str| -> Vec<String> { load(text).unwrap_err().errors.into_iter().map(|d| d.field).collect() };
    let no_pod_eni = SGP.replace("pod_eni: true", "pod_eni: false");
    assert_eq!(
        fields(&scenario("m5.large", &no_pod_eni, &db(1), "")),
        ["network.ipam.security_group_policies"]
    );
    assert_eq!(
        fields(&scenario("t3.medium", SGP, &db(1), "")),
        ["node_groups[0].instance_type"]
    );
    let other_ns = SGP.replace(r#"namespace: "shop""#, r#"namespace: "nope""#);
    assert_eq!(
        fields(&scenario("m5.large", &other_ns, &db(1), "")),
        ["network.ipam.security_group_policies[0].namespace"]
    );
}
