//! Services follow pods (`sim::endpoints`): a scaled-up pod receives packets only once the nodes
//! have synced it, a deleted pod's packets are dropped as `service-stale-endpoint` only until
//! they have synced its removal, and (proptest) the incrementally tracked endpoints equal a
//! recomputation from the live pod table after any scale timeline.

use cnsim_cluster::calibration::ENDPOINT_PROPAGATION;
use cnsim_cluster::scenario::{load_str, VariantSpec};
use cnsim_cluster::service_world::build_with;
use cnsim_cluster::sim::datapath::Model;
use cnsim_cluster::sim::metrics::DropReason;
use cnsim_cluster::sim::timeline::TimelineRecorder;
use cnsim_cluster::world::{PodId, World};
use cnsim_cluster::{run_variant, sim};
use proptest::prelude::*;
use sim_core::SimTime;

/// Three m5.large nodes under the VPC CNI; `client` (3 pods) opens TCP connections at `rate`
/// each to `shop/svc/api`; `api` starts with `api`
/// replicas; `other` (UDP port only) is selected by the second Service only by name.
fn scenario(mode: &str, api: u32, events: &str, rate: &str, duration: &str) -> String {
    format!(
        r#"Scenario(version: 1, seed: 3, duration: "{duration}",
  vpc: Vpc(cidr: "10.0.0.0/16", azs: ["a", "b"], subnets: [
      (name: "sa", az: "a", cidr: "10.0.16.0/20"), (name: "sb", az: "b", cidr: "10.0.32.0/20")]),
  network: (ipam: AwsVpcCni()),
  node_groups: [(name: "g", instance_type: "m5.large", count: 3)],
  namespaces: [(name: "shop")],
  workloads: [
    (namespace: "shop", name: "client", replicas: 3, labels: {{"app": "client"}}),
    (namespace: "shop", name: "api", replicas: {api}, labels: {{"app": "api", "tier": "back"}},
     ports: [(name: "http", port: 8080)]),
    (namespace: "shop", name: "other", replicas: 2, labels: {{"tier": "back"}},
     ports: [(name: "dns", port: 53, protocol: UDP)]),
  ],
  services: [
    (namespace: "shop", name: "api", selector: {{"app": "api"}},
     ports: [(name: "http", port: 80, target_port: "http")]),
    (namespace: "shop", name: "back", selector: {{"tier": "back"}},
     ports: [(name: "http", port: 80, target_port: "http"), (name: "raw", port: 81, target_port: 8080)]),
  ],
  kube_proxy: (mode: {mode}),
  events: [{events}],
  traffic: [(name: "c", from: "shop/client", to: "shop/svc/api:http", protocol: TCP, rate: "{rate}",
             request: "100B", response: "200B")],
)"#
    )
}

fn spec(text: &str) -> VariantSpec {
    let loaded = load_str("t.ron", "t", text, &[]).unwrap_or_else(|d| panic!("{d}"));
    loaded.variants.into_iter().next().unwrap()
}

fn api_pods(world: &World) -> &[PodId] {
    &world.workload_pods[1]
}

fn at(ms: u64) -> SimTime {
    SimTime::from_millis(ms)
}

/// Runs `m` to `until` (inclusive).
fn run_to(m: &mut Model<'_>, tl: &mut TimelineRecorder, until: SimTime) {
    m.run(until, tl);
}

fn stale(m: &Model<'_>) -> u64 {
    m.metrics.dropped[DropReason::ServiceStaleEndpoint as usize]
}

#[test]
fn scaled_up_pods_receive_only_after_their_sync() {
    // 1 → 4 at 2 s (synced at 2.2 s: the runner is idle); 4 → 6 at 2.5 s: its slice lands at
    // 2.7 s, inside iptables' 1 s minSyncPeriod after the 2.2 s sync, so it syncs at 3.2 s.
    let text = scenario(
        "Iptables",
        1,
        r#"(at: "2s", scale: "shop/api", replicas: 4), (at: "2.5s", scale: "shop/api", replicas: 6)"#,
        "300pps",
        "5s",
    );
    let spec = spec(&text);
    let world = World::build(&spec.scenario);
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    let prop = ENDPOINT_PROPAGATION.as_nanos() / 1_000_000;
    let (first, second) = (&api_pods(&world)[1..4], &api_pods(&world)[4..6]);
    let first_sync = 2000 + prop;
    let second_sync = (2500 + prop).max(first_sync + 1000);
    assert_eq!(second_sync, 3200, "the second batch waits for minSyncPeriod");

    run_to(&mut m, &mut tl, at(first_sync) - SimTime::from_nanos(1));
    for &p in first {
        assert!(m.life.pods.is_running(p), "pod {p} runs from 2 s");
        assert_eq!(m.metrics.pod_rx[p as usize], 0, "pod {p} received before its sync");
    }
    run_to(&mut m, &mut tl, at(second_sync) - SimTime::from_nanos(1));
    for &p in first {
        assert!(
            m.metrics.pod_rx[p as usize] > 0,
            "pod {p} received nothing after its sync"
        );
    }
    for &p in second {
        assert!(m.life.pods.is_running(p), "pod {p} runs from 2.5 s");
        assert_eq!(
            m.metrics.pod_rx[p as usize], 0,
            "pod {p} received before minSyncPeriod let its node sync"
        );
    }
    run_to(&mut m, &mut tl, at(4000));
    for &p in second {
        assert!(
            m.metrics.pod_rx[p as usize] > 0,
            "pod {p} received nothing after its sync"
        );
    }
    let eps = m.endpoints.as_ref().expect("pods change behind a Service");
    // Per node: one sync for each batch.
    assert_eq!(eps.stats.node_syncs, 2 * world.nodes.len() as u64);
    assert_eq!(stale(&m), 0, "nothing was deleted");
}

#[test]
fn ipvs_syncs_each_batch_as_it_lands() {
    second_batch_programmed_as_it_lands(scenario(
        "Ipvs",
        1,
        r#"(at: "2s", scale: "shop/api", replicas: 4), (at: "2.5s", scale: "shop/api", replicas: 6)"#,
        "300pps",
        "4s",
    ));
}

#[test]
fn min_sync_period_can_be_set() {
    second_batch_programmed_as_it_lands(
        scenario(
            "Iptables",
            1,
            r#"(at: "2s", scale: "shop/api", replicas: 4), (at: "2.5s", scale: "shop/api", replicas: 6)"#,
            "300pps",
            "4s",
        )
        .replace(
            "kube_proxy: (mode: Iptables)",
            r#"kube_proxy: (mode: Iptables, min_sync_period: "0s")"#,
        ),
    );
}

fn second_batch_programmed_as_it_lands(text: String) {
    let spec = spec(&text);
    let world = World::build(&spec.scenario);
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    let prop = ENDPOINT_PROPAGATION.as_nanos() / 1_000_000;
    run_to(&mut m, &mut tl, at(2500 + prop) - SimTime::from_nanos(1));
    for &p in &api_pods(&world)[4..6] {
        assert_eq!(
            m.metrics.pod_rx[p as usize], 0,
            "pod {p} received before its slice landed"
        );
    }
    // minSyncPeriod 0: programmed as the slice lands, so traffic arrives well before 3.2 s.
    run_to(&mut m, &mut tl, at(3100));
    for &p in &api_pods(&world)[4..6] {
        assert!(
            m.metrics.pod_rx[p as usize] > 0,
            "pod {p}: with minSyncPeriod 0 the batch syncs as it lands"
        );
    }
}

#[test]
fn deleted_pods_drop_as_stale_only_until_the_sync() {
    let text = scenario(
        "Iptables",
        4,
        r#"(at: "2s", scale: "shop/api", replicas: 1)"#,
        "300pps",
        "4s",
    );
    let spec = spec(&text);
    let world = World::build(&spec.scenario);
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    let sync = 2000 + ENDPOINT_PROPAGATION.as_nanos() / 1_000_000;
    run_to(&mut m, &mut tl, at(2000) - SimTime::from_nanos(1));
    assert_eq!(stale(&m), 0, "no endpoint is stale before the scale-down");
    let gone = &api_pods(&world)[1..4];
    let before: Vec<u64> = gone.iter().map(|&p| m.metrics.pod_rx[p as usize]).collect();
    assert!(before.iter().all(|&n| n > 0), "every api pod served before: {before:?}");
    run_to(&mut m, &mut tl, at(sync) - SimTime::from_nanos(1));
    let in_window = stale(&m);
    assert!(
        in_window > 0,
        "connections sent to deleted pods before the sync are dropped as stale"
    );
    // Connections translated before the sync may still be on the wire for a few ms.
    run_to(&mut m, &mut tl, at(sync + 20));
    let settled = stale(&m);
    run_to(&mut m, &mut tl, at(4000));
    assert_eq!(stale(&m), settled, "a stale drop after every node synced the removal");
    for (i, &p) in gone.iter().enumerate() {
        assert_eq!(m.metrics.pod_rx[p as usize], before[i], "deleted pod {p} received");
    }
    assert_eq!(m.metrics.dropped[DropReason::NodeNoSuchPod as usize], 0);
    assert_eq!(m.metrics.dropped[DropReason::VpcNoSuchAddress as usize], 0);
}

#[test]
fn udp_entries_to_a_deleted_endpoint_are_flushed_at_the_sync() {
    // One UDP socket per client: without kube-proxy's conntrack cleanup, a client whose entry
    // leads to the deleted pod would keep sending there until the entry times out (30 s).
    let text = scenario(
        "Iptables",
        1,
        r#"(at: "2s", scale: "shop/other", replicas: 1)"#,
        "1pps",
        "4s",
    )
    .replace(
        "  services: [\n",
        r#"  services: [
    (namespace: "shop", name: "dns", selector: {"tier": "back"},
     ports: [(name: "dns", port: 53, protocol: UDP, target_port: "dns")]),
"#,
    )
    .replace(
        r#"traffic: [(name: "c""#,
        r#"traffic: [(name: "u", from: "shop/client", to: "shop/svc/dns:dns", protocol: UDP, rate: "500pps"),
             (name: "c""#,
    );
    let spec = spec(&text);
    let world = World::build(&spec.scenario);
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    let sync = 2000 + ENDPOINT_PROPAGATION.as_nanos() / 1_000_000;
    run_to(&mut m, &mut tl, at(sync) - SimTime::from_nanos(1));
    assert!(stale(&m) > 0, "some client's socket led to the deleted pod");
    run_to(&mut m, &mut tl, at(sync + 20));
    let settled = stale(&m);
    run_to(&mut m, &mut tl, at(4000));
    assert_eq!(stale(&m), settled, "UDP kept going to the deleted pod after the sync");
    assert!(m.endpoints.as_ref().unwrap().stats.conntrack_flushed > 0);
}

/// The incremental endpoint table equals `service_world::build_with` over the live pod table.
fn assert_matches_reference(spec: &VariantSpec, world: &World, m: &Model<'_>) {
    let live = &m.life.pods;
    let (want, want_pods) = build_with(&spec.scenario, world, |p| live.ip(p).zip(live.get(p).node));
    assert_eq!(m.netfilter.services().endpoints, want.endpoints);
    if let Some(eps) = &m.endpoints {
        assert_eq!(eps.pods(), &want_pods);
    }
    // Counts per Service port equal the Running pods a simple scan of the pod table finds.
    let s = &spec.scenario;
    for (si, def) in s.services.iter().enumerate() {
        for (pi, _) in def.ports.iter().enumerate() {
            let n = world
                .pods
                .iter()
                .enumerate()
                .filter(|(id, p)| {
                    let w = &s.workloads[p.workload];
                    live.is_running(*id as PodId)
                        && def.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
                        && (pi == 1 || w.ports.iter().any(|c| c.name.as_deref() == Some("http")))
                })
                .count();
            assert_eq!(m.netfilter.services().endpoints[si][pi].len(), n, "{}:{pi}", def.name);
        }
    }
}

#[test]
fn end_state_matches_a_recomputation() {
    let text = scenario(
        "Nftables",
        2,
        r#"(at: "1s", scale: "shop/api", replicas: 7), (at: "1.2s", scale: "shop/other", replicas: 0),
           (at: "2s", scale: "shop/api", replicas: 3)"#,
        "20pps",
        "3s",
    );
    let spec = spec(&text);
    let world = World::build(&spec.scenario);
    let (mut m, _) = sim::model(&spec, &world);
    let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
    run_to(&mut m, &mut tl, spec.scenario.duration);
    assert_matches_reference(&spec, &world, &m);
    let r = run_variant(&spec);
    let e = r.endpoints.expect("the results report the endpoint changes");
    assert_eq!(e.node_syncs, m.endpoints.as_ref().unwrap().stats.node_syncs);
    assert!(e.ready_to_programmed_ns.count > 0 && e.deleted_to_removed_ns.count > 0);
}

#[test]
fn static_runs_track_nothing() {
    let text = scenario("Iptables", 2, "", "20pps", "1s").replace("ipam: AwsVpcCni()", "ipam: HostLocal()");
    let r = run_variant(&spec(&text));
    assert!(r.endpoints.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any scale timeline of `api` and `other`: at the end (every slice update landed) the
    /// incremental endpoints equal a recomputation from the live pods, and every node's
    /// datapath answers as a freshly fully synced one would (its dump is the same).
    #[test]
    fn incremental_endpoints_equal_recomputation(
        start in 0u32..4,
        steps in proptest::collection::vec((0u64..2500, 0usize..2, 0u32..9), 1..6),
        mode in prop::sample::select(vec!["Iptables", "Ipvs", "Nftables", "Ebpf"]),
    ) {
        let mut steps = steps;
        steps.sort_by_key(|s| s.0);
        let events: Vec<String> = steps
            .iter()
            .map(|(t, w, n)| format!(r#"(at: "{t}ms", scale: "shop/{}", replicas: {n})"#, ["api", "other"][*w]))
            .collect();
        let text = scenario(mode, start, &events.join(", "), "5pps", "4s");
        let spec = spec(&text);
        let world = World::build(&spec.scenario);
        let (mut m, _) = sim::model(&spec, &world);
        let mut tl = TimelineRecorder::new(&world, spec.scenario.duration);
        run_to(&mut m, &mut tl, spec.scenario.duration);
        assert_matches_reference(&spec, &world, &m);
        let fresh = |node: u32| {
            let mut e = sim::proxy::engine(&spec.scenario.kube_proxy).unwrap();
            let view = cnsim_services::NodeView {
                name: world.nodes[node as usize].name.clone(),
                node_ips: vec![world.nodes[node as usize].ip],
                cluster_cidr: Some(world.cluster_cidr),
            };
            e.full_sync(m.netfilter.services(), &view);
            e.dump()
        };
        // IPVS keeps real servers in the order they were added (the kernel's list), so a
        // partial sync appends where a full one lists in endpoint order: compare line sets.
        let canon = |d: String| {
            if mode == "Ipvs" {
                let mut l: Vec<String> = d.lines().map(str::to_string).collect();
                l.sort();
                l.join("\n")
            } else {
                d
            }
        };
        for node in 0..world.nodes.len() as u32 {
            prop_assert_eq!(canon(m.netfilter.dump(node).unwrap()), canon(fresh(node)), "node {}", node);
        }
    }
}
