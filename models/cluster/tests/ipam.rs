//! The AWS VPC CNI inside a run: pods start only once ipamd has an address for them, wait in
//! ContainerCreating with ipamd's error otherwise, and take their addresses from the right
//! subnets. Expected numbers are derived here from AWS's facts (5 reserved addresses per
//! subnet, an m5.large's 3 ENIs of 10 addresses, 10 s to attach an ENI), not read off a run.

use cnsim_cluster::scenario::{load_str, VariantSpec};
use cnsim_cluster::sim::event::Ev;
use cnsim_cluster::sim::ipamd::{Lifecycle, KUBELET_SYNC_BACKOFF_JITTER_NS, KUBELET_SYNC_BACKOFF_NS};
use cnsim_cluster::world::{PodPhase, World};
use cnsim_cluster::{run_variant, VariantResult};
use cnsim_ipam::vpc_cni::config::ENI_ATTACH_LATENCY_NS;
use ipnet::Ipv4Net;
use sim_core::Engine;
use std::collections::BTreeSet;

/// One m5.large in AZ a, in subnet `node_subnet`; `ipam` is the AwsVpcCni(...) body.
fn scenario(node_subnet: &str, ipam: &str, replicas: u32, events: &str) -> String {
    format!(
        r#"Scenario(
    version: 1,
    seed: 3,
    duration: "60s",
    vpc: (
        cidr: "10.0.0.0/16",
        azs: ["a", "b"],
        subnets: [
            (name: "nodes-a", az: "a", cidr: "{node_subnet}"),
            (name: "pods-a", az: "a", cidr: "10.0.128.0/19", kind: Pod),
            (name: "pods-b", az: "b", cidr: "10.0.160.0/19", kind: Pod),
        ],
    ),
    network: (ipam: AwsVpcCni({ipam})),
    node_groups: [(name: "ng", instance_type: "m5.large", count: 1)],
    namespaces: [(name: "shop")],
    workloads: [(namespace: "shop", name: "web", replicas: {replicas})],
    events: [{events}],
)"#
    )
}

fn load(text: &str) -> VariantSpec {
    let loaded = load_str("ipam.ron", "ipam", text, &[]).unwrap_or_else(|d| panic!("{d}"));
    loaded.variants.into_iter().next().unwrap()
}

fn run(text: &str) -> VariantResult {
    run_variant(&load(text))
}

/// Runs only the pod and IPAM events of a variant and returns its world and final pods.
fn lifecycle(spec: &VariantSpec) -> (World, Lifecycle) {
    let world = World::build(&spec.scenario);
    let mut engine: Engine<Ev> = Engine::new();
    let mut life = Lifecycle::new(&spec.scenario, &world, &mut engine);
    while let Some(ev) = engine.next_event(spec.scenario.duration) {
        if let Ev::Pod(p) = ev {
            life.handle(p, &world, &mut engine);
        }
    }
    (world, life)
}

const CUSTOM: &str = r#"eni_configs: [(az: "a", subnet: "pods-a"), (az: "b", subnet: "pods-b")]"#;

#[test]
fn with_an_empty_warm_pool_pods_start_at_the_kubelets_first_retry_after_the_eni_attach() {
    // Custom networking: the primary ENI carries no pods, so at t=0 the pool is empty, every
    // CNI ADD fails and ipamd's start-up growth attaches a pod ENI (10 s). The kubelet retries
    // each sandbox 10 s to 15 s after its failure, by when the ENI is attached: every pod
    // starts at its first retry.
    let r = run(&scenario("10.0.0.0/24", CUSTOM, 5, ""));
    let s = r.pod_startup.as_ref().expect("a VPC CNI run reports pod startup");
    assert_eq!(s.time_to_ready_ns.count, 5);
    assert_eq!(s.sandbox_retries, 5, "one retry each");
    const { assert!(ENI_ATTACH_LATENCY_NS <= KUBELET_SYNC_BACKOFF_NS) };
    // Percentiles are histogram buckets, each at most 1/128 of its value wide.
    let end = KUBELET_SYNC_BACKOFF_NS + KUBELET_SYNC_BACKOFF_JITTER_NS;
    let first_retry = KUBELET_SYNC_BACKOFF_NS - KUBELET_SYNC_BACKOFF_NS / 128..end + end / 128;
    let (p50, max) = (s.time_to_ready_ns.p50.unwrap(), s.time_to_ready_ns.max.unwrap());
    assert!(
        first_retry.contains(&p50) && first_retry.contains(&max),
        "{:?}",
        s.time_to_ready_ns
    );
    assert!(
        max > p50,
        "the kubelet's jitter spreads the retries: {:?}",
        s.time_to_ready_ns
    );
    assert_eq!(r.pods.running, 5);
    assert!(r.pods.pending.is_empty(), "{:?}", r.pods.pending);
    // Before the attach no pod runs: the first sample after t=0 shows them all pending.
    assert_eq!(r.timeline.pods_pending[1], 5);
    assert_eq!(*r.timeline.pods_running.last().unwrap(), 5);
    let v = r.vpc_cni.as_ref().unwrap();
    // The 5 pods leave 4 of the pod ENI's 9 addresses warm, fewer than WARM_ENI_TARGET=1 (a
    // whole ENI's 9): ipamd attaches the m5.large's third and last ENI.
    assert_eq!(v.nodes[0].enis, 3);
    assert_eq!(v.nodes[0].addresses_held, 18);
    assert_eq!(v.nodes[0].pod_subnet.as_deref(), Some("pods-a"));
}

#[test]
fn with_a_warm_primary_eni_the_first_pods_run_at_once() {
    // Secondary IPs, WARM_ENI_TARGET=1: at start ipamd fills the primary ENI with its 9
    // secondary addresses (an m5.large ENI has 10), so 9 pods need no wait.
    let r = run(&scenario("10.0.0.0/24", "", 9, ""));
    let s = r.pod_startup.unwrap();
    assert_eq!((s.time_to_ready_ns.count, s.time_to_ready_ns.max), (9, Some(0)));
    assert_eq!(r.timeline.pods_running[0], 9);
}

#[test]
fn a_scale_up_beyond_the_subnet_leaves_the_rest_in_container_creating() {
    // A /27 holds 32 − 5 (AWS's reserved) = 27 addresses. The node takes 1; its primary ENI's 9
    // secondaries 9 more; the spare ENI WARM_ENI_TARGET asks for takes 1 + 9. 7 are left, less
    // than a third ENI needs (1 + 9), so 18 pods get addresses and the other 11 of the 29 (the
    // m5.large's max pods) wait, with ipamd's error and EC2's.
    let r = run(&scenario(
        "10.0.0.0/27",
        "",
        5,
        r#"(at: "30s", scale: "shop/web", replicas: 29)"#,
    ));
    assert_eq!(r.pods.running, 18);
    assert_eq!(r.pods.pending.len(), 11);
    for p in &r.pods.pending {
        assert!(
            p.reason.starts_with("ContainerCreating: failed to set up sandbox network: add cmd: failed to assign an IP address to container: AssignPodIPAddress: no available IP/Prefix addresses"),
            "{}",
            p.reason
        );
        assert!(
            p.reason.contains("InsufficientFreeAddressesInSubnet in subnet nodes-a"),
            "{}",
            p.reason
        );
    }
    let startup = r.pod_startup.unwrap();
    assert_eq!(startup.pods_created, 24);
    assert_eq!(startup.pending_by_reason.values().sum::<u32>(), 11);
    let node = &r.vpc_cni.as_ref().unwrap().nodes[0];
    assert_eq!((node.enis, node.addresses_held, node.addresses_assigned), (2, 18, 18));
    assert!(node.ec2_insufficient_addresses > 0);
    assert_eq!(r.subnets[0].used, 27 - 7, "node, two ENIs and their secondaries");
}

#[test]
fn custom_networking_addresses_come_from_the_eniconfig_subnet_and_never_twice() {
    let spec = load(&scenario(
        "10.0.0.0/24",
        CUSTOM,
        12,
        r#"(at: "20s", scale: "shop/web", replicas: 20)"#,
    ));
    let (world, life) = lifecycle(&spec);
    let pods_a: Ipv4Net = "10.0.128.0/19".parse().unwrap();
    let mut seen = BTreeSet::new();
    let mut running = 0;
    for p in life.pods.iter() {
        let Some(ip) = p.ip else { continue };
        assert_eq!(p.phase, PodPhase::Running);
        assert!(pods_a.contains(&ip), "{ip} is outside the ENIConfig subnet {pods_a}");
        assert_ne!(ip, world.nodes[0].ip);
        assert!(seen.insert(ip), "{ip} given twice");
        running += 1;
    }
    // Custom networking on an m5.large: (3 ENIs − 1) × 9 + 2 = 20 max pods, the 2 being the
    // host-network pods (aws-node, kube-proxy) that need no address. cnsim's pods all need
    // one: 18 run and 2 wait for an address that never comes.
    assert_eq!(running, 18);
    let waiting: Vec<&str> = life.pods.pending().map(|(_, reason)| reason).collect();
    assert_eq!(waiting.len(), 2);
    assert!(
        waiting
            .iter()
            .all(|r| r.contains("no available IP/Prefix addresses") && r.contains("holds its 3 ENIs")),
        "{waiting:?}"
    );
    life.ipam.vpc_cni().unwrap().check_invariants();
}

#[test]
fn scaling_down_frees_addresses_and_pods() {
    let spec = load(&scenario(
        "10.0.0.0/24",
        "",
        9,
        r#"(at: "10s", scale: "shop/web", replicas: 4)"#,
    ));
    let (_, life) = lifecycle(&spec);
    assert_eq!(life.pods.counts(), (4, 0));
    assert_eq!(life.pods_deleted, 5);
    let node = life.ipam.vpc_cni().unwrap().node(0).unwrap();
    assert_eq!(node.stats().assigned, 4);
}

#[test]
fn a_scale_down_frees_room_and_the_scheduler_places_the_pods_that_had_none() {
    // One node of max pods 12: web takes 10, so 3 of db's 5 replicas find no node ("Too many
    // pods"). Scaling web down to 5 at 20 s frees 5 places: every db pod gets a node and runs.
    let text = scenario("10.0.0.0/24", "", 10, r#"(at: "20s", scale: "shop/web", replicas: 5)"#)
        .replace("count: 1)", "count: 1, max_pods: 12)")
        .replace(
            r#"workloads: [(namespace: "shop", name: "web", replicas: 10)],"#,
            r#"workloads: [(namespace: "shop", name: "web", replicas: 10), (namespace: "shop", name: "db", replicas: 5)],"#,
        );
    let spec = load(&text);
    let world = World::build(&spec.scenario);
    let unplaced = world
        .pods
        .iter()
        .filter(|p| p.node.is_none() && p.phase != PodPhase::NotCreated)
        .count();
    assert_eq!(unplaced, 3, "the premise: three db pods have no node at t=0");
    let r = run_variant(&spec);
    assert!(r.pods.pending.is_empty(), "{:?}", r.pods.pending);
    assert_eq!(r.pods.running, 5 + 5);
    // They were created at t=0 and could start only after the scale-down at 20 s.
    let s = r.pod_startup.unwrap();
    assert!(
        s.time_to_ready_ns.max.unwrap() >= 20_000_000_000 - 20_000_000_000 / 128,
        "{:?}",
        s.time_to_ready_ns
    );
}
