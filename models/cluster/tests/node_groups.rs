//! Node groups growing during a run (`node_group: NAME, count: N` events): a launched node is
//! no node at all until it is Ready (no pod, no address, no ipamd, not schedulable), then it
//! joins and takes the pods that were Pending for want of room.

use cnsim_cluster::calibration::NODE_JOIN_LATENCY;
use cnsim_cluster::scenario::{load_str, VariantSpec};
use cnsim_cluster::sim::timeline::TimelineRecorder;
use cnsim_cluster::world::World;
use cnsim_cluster::{run_variant, sim};
use proptest::prelude::*;
use sim_core::SimTime;

/// One group of `count` nodes with room for `max_pods` pods each; `web` scaled to `scale_to`
/// at 1s and the group grown to `grow_to` at `grow_at`.
fn scenario(
    ipam: &str,
    count: u32,
    max_pods: u32,
    replicas: u32,
    scale_to: u32,
    grow_to: u32,
    grow_at: &str,
) -> String {
    format!(
        r#"Scenario(version: 1, seed: 3, duration: "90s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a", "b"], subnets: [
    (name: "sa", az: "a", cidr: "10.0.16.0/24"), (name: "sb", az: "b", cidr: "10.0.32.0/24")]),
  network: (ipam: {ipam}),
  node_groups: [(name: "ng", instance_type: "m5.large", count: {count}, max_pods: {max_pods})],
  namespaces: [(name: "shop")],
  workloads: [(namespace: "shop", name: "web", replicas: {replicas}, labels: {{"app": "web"}})],
  events: [(at: "1s", scale: "shop/web", replicas: {scale_to}),
           (at: "{grow_at}", node_group: "ng", count: {grow_to})],
)"#
    )
}

const HOST_LOCAL: &str = "HostLocal()";
const VPC_CNI: &str = "AwsVpcCni()";

fn spec(text: &str) -> VariantSpec {
    let loaded = load_str("ng.ron", "ng", text, &[]).unwrap_or_else(|d| panic!("{d}"));
    loaded.variants.into_iter().next().unwrap()
}

#[test]
fn launched_nodes_are_prebuilt_not_joined_with_the_subnets_top_addresses() {
    let s = spec(&scenario(HOST_LOCAL, 2, 4, 4, 8, 4, "2s")).scenario;
    let world = World::build(&s);
    assert_eq!(world.nodes.len(), 4);
    let names: Vec<&str> = world.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["ng-0", "ng-1", "ng-2", "ng-3"]);
    assert!(world.nodes[..2].iter().all(|n| n.joined_at_start()));
    for n in &world.nodes[2..] {
        let l = n.launch.expect("launched by the event");
        assert_eq!(l.event, 1);
        assert_eq!(l.ready_at, SimTime::from_secs(2) + NODE_JOIN_LATENCY);
        assert!(n.pods.is_empty());
    }
    // Round-robin over the subnets as if they had been there; launched ones from the top.
    let ips: Vec<String> = world.nodes.iter().map(|n| n.ip.to_string()).collect();
    assert_eq!(ips, ["10.0.16.4", "10.0.32.4", "10.0.16.254", "10.0.32.254"]);
    // Host-local: the CIDRs they get at the join follow the nodes at t=0.
    let cidrs: Vec<String> = world.nodes.iter().map(|n| n.pod_cidr.unwrap().to_string()).collect();
    assert_eq!(
        cidrs,
        ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    );
    // No pod of the t=0 placement is on a launched node.
    assert!(world.pods.iter().all(|p| p.node.is_none_or(|n| n < 2)));
}

#[test]
fn a_pod_unschedulable_before_the_join_runs_after_it_having_waited_for_the_node() {
    // Two nodes of 4 pods: 8 replicas fit, 12 do not; the group grows to 3 at 2s.
    let r = run_variant(&spec(&scenario(HOST_LOCAL, 2, 4, 4, 12, 3, "2s")));
    let ready_at = (SimTime::from_secs(2) + NODE_JOIN_LATENCY).as_nanos();
    assert_eq!(r.pods.running, 12, "{:?}", r.pods.pending);
    let joined: Vec<Option<u64>> = r.nodes.iter().map(|n| n.joined_at_ns).collect();
    assert_eq!(joined, [Some(0), Some(0), Some(ready_at)]);
    assert_eq!(r.nodes[2].pods, 4);
    let startup = r.pod_startup.expect("a dynamic run");
    // The four that waited were created at 1s and ran at the join: host-local addresses them
    // at once.
    let waited = ready_at - SimTime::from_secs(1).as_nanos();
    assert_eq!(startup.time_to_ready_ns.max, Some(waited));
    assert!(waited >= NODE_JOIN_LATENCY.as_nanos());
    let nodes = &r.timeline.nodes_joined;
    assert_eq!((nodes.first(), nodes.last()), (Some(&2), Some(&3)));
}

#[test]
fn before_its_join_a_launched_node_holds_nothing_and_after_it_ipamd_starts() {
    let spec = spec(&scenario(VPC_CNI, 1, 20, 2, 30, 2, "5s"));
    let world = World::build(&spec.scenario);
    let late = 1u32;
    let ready_at = world.nodes[late as usize].launch.unwrap().ready_at;
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    let late_ip = world.nodes[late as usize].ip;
    m.run(ready_at - SimTime::from_nanos(1), &mut tl);
    {
        let v = m.life.ipam.vpc_cni().unwrap();
        assert!(v.node(late).is_none(), "no ipamd before the join");
        let sn = v.subnets().find(late_ip).unwrap();
        assert!(
            !v.subnets().is_used(sn, u32::from(late_ip)),
            "its address is not taken yet"
        );
        assert!(!m.life.is_joined(late));
        assert!(m.life.pods.iter().all(|p| p.node != Some(late)), "no pod on it");
        let unschedulable = m
            .life
            .pods
            .pending()
            .filter(|(_, reason)| reason.contains("0/1 nodes are available"))
            .count();
        assert_eq!(unschedulable, 10, "20 of 30 fit on the one node");
    }
    m.run(ready_at, &mut tl);
    let v = m.life.ipam.vpc_cni().unwrap();
    let pool = v.node(late).expect("ipamd started at the join");
    assert!(pool.enis_attached() >= 1, "its primary ENI");
    assert!(v
        .subnets()
        .is_used(v.subnets().find(late_ip).unwrap(), u32::from(late_ip)));
    assert_eq!(m.life.joined_at(late), Some(ready_at.as_nanos()));
    let on_it = m.life.pods.iter().filter(|p| p.node == Some(late)).count();
    assert_eq!(on_it, 10, "the Pending pods are scheduled to it at once");
    // ...and they run once its pool has addresses (the kubelet retries the sandbox).
    m.run(spec.scenario.duration, &mut tl);
    let (running, pending) = m.life.pods.counts();
    assert_eq!((running, pending), (30, 0));
}

#[test]
fn launched_nodes_leave_the_t0_cluster_as_it_was() {
    // The same cluster with and without a growth event: the nodes at t=0 get the same
    // addresses, and the launched ones take nothing from the subnet before they join.
    let a = World::build(&spec(&scenario(VPC_CNI, 2, 20, 2, 2, 2, "5s")).scenario);
    let b = World::build(&spec(&scenario(VPC_CNI, 2, 20, 2, 2, 5, "5s")).scenario);
    for (x, y) in a.nodes.iter().zip(&b.nodes) {
        assert_eq!((&x.name, x.ip), (&y.name, y.ip));
    }
    assert_eq!(
        a.ipam_start.vpc_cni().unwrap().subnets().in_use(0),
        b.ipam_start.vpc_cni().unwrap().subnets().in_use(0),
        "launched nodes reserve nothing at t=0"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the sizes: no pod is ever on a launched node before it joins, every pod fits
    /// once the group has grown enough, and a pod that waited for a node waited at least
    /// from its creation to the join.
    #[test]
    fn no_pod_lands_on_a_node_before_it_joins(
        count in 1u32..3, extra in 1u32..3, max_pods in 2u32..6, scale_to in 1u32..30, grow_at in 2u64..20,
    ) {
        let grow_to = count + extra;
        let text = scenario(HOST_LOCAL, count, max_pods, 1, scale_to, grow_to, &format!("{grow_at}s"));
        let spec = spec(&text);
        let world = World::build(&spec.scenario);
        let ready_at = SimTime::from_secs(grow_at) + NODE_JOIN_LATENCY;
        let (mut m, _) = sim::model(&spec, &world);
        let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
        m.run(ready_at - SimTime::from_nanos(1), &mut tl);
        let before_on_late = m.life.pods.iter().filter(|p| p.node.is_some_and(|n| n >= count)).count();
        prop_assert_eq!(before_on_late, 0);
        let (running_before, _) = m.life.pods.counts();
        prop_assert_eq!(running_before, scale_to.min(count * max_pods));
        m.run(spec.scenario.duration, &mut tl);
        let (running, pending) = m.life.pods.counts();
        prop_assert_eq!(running, scale_to.min(grow_to * max_pods));
        prop_assert_eq!(pending, scale_to - running);
        if scale_to > count * max_pods {
            let waited = (ready_at - SimTime::from_secs(1)).as_nanos();
            prop_assert_eq!(m.life.pods.time_to_ready.max(), Some(waited));
        }
    }
}

#[test]
fn a_joining_nodes_kube_proxy_syncs_every_service_and_then_follows_changes() {
    let text = scenario(HOST_LOCAL, 1, 4, 2, 6, 2, "2s").replace(
        "  events:",
        r#"  services: [(namespace: "shop", name: "web", selector: {"app": "web"}, ports: [(port: 80, target_port: 8080)])],
  events:"#,
    );
    let spec = spec(&text);
    let world = World::build(&spec.scenario);
    let ready_at = world.nodes[1].launch.unwrap().ready_at;
    let (mut m, syncs) = sim::model(&spec, &world);
    assert_eq!(syncs[1], Default::default(), "no sync before the node exists");
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    m.run(ready_at - SimTime::from_nanos(1), &mut tl);
    let cluster_ip = m.netfilter.services().services[0].cluster_ip.unwrap().to_string();
    // (Its engine has never synced, so it holds no rules: it cannot even be dumped.)
    m.run(ready_at, &mut tl);
    assert!(
        m.netfilter.dump(1).unwrap().contains(&cluster_ip),
        "full sync at the join"
    );
    // The two pods that waited for the node become endpoints on both nodes' rules.
    m.run(spec.scenario.duration, &mut tl);
    let eps = m.endpoints.as_ref().expect("pods change behind a Service");
    assert_eq!(eps.stats.endpoints_added, 2 + 2, "two at the scale-up, two at the join");
    let on_late: Vec<String> = m
        .life
        .pods
        .iter()
        .filter(|p| p.node == Some(1))
        .map(|p| p.ip.unwrap().to_string())
        .collect();
    assert_eq!(on_late.len(), 2);
    for n in 0..2 {
        let dump = m.netfilter.dump(n).unwrap();
        assert!(
            on_late.iter().all(|ip| dump.contains(ip.as_str())),
            "node {n} programs the new endpoints"
        );
    }
}
