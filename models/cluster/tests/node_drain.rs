//! Node groups shrinking during a run (`node_group: NAME, count: N` below the group's size):
//! which nodes go (AZ balance, newest-joined, highest index), the drain (cordon, evictions, the
//! replacements scheduled elsewhere, the replica count unchanged) and the node leaving (no pod,
//! no ipamd, its addresses back in the subnet).

use cnsim_cluster::calibration::{NODE_JOIN_LATENCY, NODE_LEAVE_LATENCY};
use cnsim_cluster::scenario::{load_str, VariantSpec};
use cnsim_cluster::sim::timeline::TimelineRecorder;
use cnsim_cluster::world::World;
use cnsim_cluster::{run_variant, sim};
use proptest::prelude::*;
use sim_core::SimTime;

/// One group of `count` nodes over subnets in AZs a and b (nodes alternate a, b, a, ...),
/// `max_pods` each; `web` (`replicas`, behind a Service) and the node group events `events`.
fn scenario(ipam: &str, count: u32, max_pods: u32, replicas: u32, events: &str) -> String {
    format!(
        r#"Scenario(version: 1, seed: 5, duration: "150s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a", "b"], subnets: [
    (name: "sa", az: "a", cidr: "10.0.16.0/24"), (name: "sb", az: "b", cidr: "10.0.32.0/24")]),
  network: (ipam: {ipam}),
  node_groups: [(name: "ng", instance_type: "m5.large", count: {count}, max_pods: {max_pods})],
  namespaces: [(name: "shop")],
  workloads: [(namespace: "shop", name: "web", replicas: {replicas}, labels: {{"app": "web"}})],
  services: [(namespace: "shop", name: "web", selector: {{"app": "web"}}, ports: [(port: 80, target_port: 8080)])],
  events: [{events}],
)"#
    )
}

const HOST_LOCAL: &str = "HostLocal()";
const VPC_CNI: &str = "AwsVpcCni()";

fn spec(text: &str) -> VariantSpec {
    let loaded = load_str("drain.ron", "drain", text, &[]).unwrap_or_else(|d| panic!("{d}"));
    loaded.variants.into_iter().next().unwrap()
}

fn leaving(world: &World) -> Vec<&str> {
    world
        .nodes
        .iter()
        .filter(|n| n.leave.is_some())
        .map(|n| n.name.as_str())
        .collect()
}

#[test]
fn the_asg_balances_zones_then_takes_the_newest_then_the_highest_index() {
    // ng-0 a, ng-1 b, ng-2 a: zone a has two, so ng-2 goes first; then a and b tie: ng-1.
    let s = spec(&scenario(
        HOST_LOCAL,
        3,
        10,
        2,
        r#"(at: "10s", node_group: "ng", count: 1)"#,
    ))
    .scenario;
    let world = World::build(&s);
    assert_eq!(leaving(&world), ["ng-1", "ng-2"]);
    let l = world.nodes[2].leave.unwrap();
    assert_eq!((l.event, l.drain_at), (0, SimTime::from_secs(10)));
    assert_eq!(l.left_at, SimTime::from_secs(10) + NODE_LEAVE_LATENCY);

    // Grown from 2 to 4 (ng-2 a and ng-3 b join at 46s), then back to 3: the zones tie, so the
    // newest-joined go first, the highest index among them: ng-3, not ng-1 (there at t=0).
    let s = spec(&scenario(
        HOST_LOCAL,
        2,
        10,
        2,
        r#"(at: "1s", node_group: "ng", count: 4), (at: "60s", node_group: "ng", count: 3)"#,
    ))
    .scenario;
    let world = World::build(&s);
    assert_eq!(leaving(&world), ["ng-3"]);
    assert_eq!(world.nodes[3].leave.unwrap().event, 1);
}

#[test]
fn a_drained_node_ends_with_no_pod_no_ipamd_and_its_addresses_back_in_the_subnet() {
    // Four nodes (a, b, a, b) of 10 pods, 12 web pods; at 20s the group goes to 2: ng-3 and
    // ng-2 are drained, their pods' replacements fit on ng-0 and ng-1.
    let spec = spec(&scenario(
        VPC_CNI,
        4,
        10,
        12,
        r#"(at: "20s", node_group: "ng", count: 2)"#,
    ));
    let world = World::build(&spec.scenario);
    assert_eq!(leaving(&world), ["ng-2", "ng-3"]);
    let (drain_at, left_at) = (SimTime::from_secs(20), SimTime::from_secs(20) + NODE_LEAVE_LATENCY);
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    m.run(drain_at - SimTime::from_nanos(1), &mut tl);
    let on = |m: &sim::datapath::Model, n: u32| m.life.pods.iter().filter(|p| p.node == Some(n)).count();
    let evictable = on(&m, 2) + on(&m, 3);
    assert!(evictable >= 4, "the drained nodes held pods: {evictable}");
    let subnet_used = |m: &sim::datapath::Model| {
        let v = m.life.ipam.vpc_cni().unwrap();
        v.subnets().in_use(0) + v.subnets().in_use(1)
    };

    // The drain: cordoned, nothing on them, the replacements created and placed elsewhere.
    m.run(drain_at, &mut tl);
    assert_eq!((on(&m, 2), on(&m, 3)), (0, 0));
    assert_eq!(m.life.pods_evicted, evictable as u64);
    assert!(m.life.is_joined(2), "cordoned, not gone");
    let v = m.life.ipam.vpc_cni().unwrap();
    assert_eq!(
        v.node(2).unwrap().stats().assigned,
        0,
        "every address released to ipamd"
    );
    let before_leave = subnet_used(&m);

    // The node leaves: no ipamd, its ENIs' addresses back in the subnet.
    m.run(left_at, &mut tl);
    assert!(!m.life.is_joined(2) && !m.life.is_joined(3));
    assert_eq!(m.life.left_at(2), Some(left_at.as_nanos()));
    let v = m.life.ipam.vpc_cni().unwrap();
    assert!(v.node(2).is_none() && v.node(3).is_none());
    for n in [2, 3] {
        let ip = world.nodes[n].ip;
        assert!(!v.subnets().is_used(v.subnets().find(ip).unwrap(), u32::from(ip)));
    }
    assert!(
        subnet_used(&m) < before_leave,
        "{} then {}",
        before_leave,
        subnet_used(&m)
    );
    v.check_invariants();

    // The replica count never changed, and every pod runs on a node that stays.
    m.run(spec.scenario.duration, &mut tl);
    let (running, pending) = m.life.pods.counts();
    assert_eq!((running, pending), (12, 0));
    assert!(m.life.pods.iter().all(|p| p.node.is_none_or(|n| n < 2)));
    assert_eq!(m.life.pods_created, evictable as u64);
}

#[test]
fn without_room_the_replacements_wait_with_the_schedulers_reason() {
    // Two nodes of 4 pods, 8 web pods; the group goes to 1: four replacements fit nowhere.
    let r = run_variant(&spec(&scenario(
        HOST_LOCAL,
        2,
        4,
        8,
        r#"(at: "10s", node_group: "ng", count: 1)"#,
    )));
    assert_eq!(r.pods.total, 8, "the replica count does not change");
    assert_eq!(r.pods.running, 4);
    let reasons: Vec<&str> = r.pods.pending.iter().map(|p| p.reason.as_str()).collect();
    assert_eq!(reasons, ["0/1 nodes are available: 1 Too many pods."; 4]);
    assert_eq!(
        r.nodes[1].left_at_ns,
        Some((SimTime::from_secs(10) + NODE_LEAVE_LATENCY).as_nanos())
    );
    assert_eq!(r.nodes[1].pods, 0);
    assert_eq!(r.nodes[0].left_at_ns, None);
    let startup = r.pod_startup.unwrap();
    assert_eq!(startup.pods_evicted, 4);
    // Host-local: the node's primary address leaves its subnet; the node count goes down.
    let nodes = &r.timeline.nodes_joined;
    assert_eq!((nodes.first(), nodes.last()), (Some(&2), Some(&1)));
    let sb = &r.timeline.subnet_addresses_used[1];
    assert_eq!((sb.first(), sb.last()), (Some(&1), Some(&0)));
}

#[test]
fn while_cordoned_a_node_counts_as_unschedulable() {
    // Between the drain (10s) and the leave, the drained node is still a node: a pod that
    // fits nowhere hears that it is unschedulable.
    let spec = spec(&scenario(
        HOST_LOCAL,
        2,
        4,
        8,
        r#"(at: "10s", node_group: "ng", count: 1)"#,
    ));
    let world = World::build(&spec.scenario);
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    m.run(SimTime::from_secs(11), &mut tl);
    let reasons: Vec<&str> = m.life.pods.pending().map(|(_, reason)| reason).collect();
    assert_eq!(
        reasons,
        ["0/2 nodes are available: 1 Too many pods, 1 node(s) were unschedulable."; 4]
    );
}

#[test]
fn services_drop_the_evicted_endpoints_and_no_packet_is_lost_track_of() {
    let text = scenario(VPC_CNI, 4, 10, 12, r#"(at: "20s", node_group: "ng", count: 2)"#).replace(
        "  events:",
        r#"  traffic: [(name: "t", from: "shop/web", to: "shop/svc/web:80", protocol: TCP, rate: "20pps", arrival: Poisson, request: "100B", response: "1KiB")],
  events:"#,
    );
    let r = run_variant(&spec(&text));
    let eps = r.endpoints.expect("pods changed behind a Service");
    let evicted = r.pod_startup.unwrap().pods_evicted;
    assert!(evicted > 0);
    assert_eq!(
        eps.endpoints_removed, evicted,
        "each evicted endpoint leaves the Service"
    );
    assert_eq!(eps.endpoints_added, evicted, "and its replacement joins it");
    let dropped: u64 = r.packets.dropped.values().sum();
    assert_eq!(r.packets.sent, r.packets.delivered + dropped + r.packets.in_flight);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the sizes: the replica count holds, no pod is on a drained node after the
    /// drain, and the pods that run are as many as the remaining nodes can hold.
    #[test]
    fn a_drain_keeps_the_replica_count_and_empties_the_node(
        count in 2u32..5, keep in 0u32..4, max_pods in 2u32..6, replicas in 1u32..20, at in 1u64..60,
    ) {
        let keep = keep.min(count - 1);
        let events = format!(r#"(at: "{at}s", node_group: "ng", count: {keep})"#);
        let spec = spec(&scenario(HOST_LOCAL, count, max_pods, replicas, &events));
        let world = World::build(&spec.scenario);
        let gone: Vec<u32> = (0..count).filter(|&n| world.nodes[n as usize].leave.is_some()).collect();
        prop_assert_eq!(gone.len() as u32, count - keep);
        let (mut m, _) = sim::model(&spec, &world);
        let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
        m.run(SimTime::from_secs(at), &mut tl);
        prop_assert!(m.life.pods.iter().all(|p| p.node.is_none_or(|n| !gone.contains(&n))));
        let (running, pending) = m.life.pods.counts();
        prop_assert_eq!(running + pending, replicas);
        prop_assert_eq!(running, replicas.min(keep * max_pods));
        m.run(spec.scenario.duration, &mut tl);
        prop_assert_eq!(m.life.pods.counts(), (running, pending));
        prop_assert!(gone.iter().all(|&n| !m.life.is_joined(n)));
    }
}

#[test]
fn the_scale_up_scenario_is_untouched_by_the_drain_machinery() {
    // A growth event schedules no leave and cordons nothing.
    let s = spec(&scenario(
        HOST_LOCAL,
        2,
        4,
        2,
        r#"(at: "1s", node_group: "ng", count: 3)"#,
    ))
    .scenario;
    let world = World::build(&s);
    assert!(leaving(&world).is_empty());
    assert_eq!(
        world.nodes[2].launch.unwrap().ready_at,
        SimTime::from_secs(1) + NODE_JOIN_LATENCY
    );
}
