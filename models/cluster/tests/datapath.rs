//! The packet path's physics, checked against values computed here from the calibration
//! constants: exact hop latencies, VXLAN bytes, tail drops, TCP packet counts, Pending pods,
//! and (proptest) conservation and replay over generated scenarios.

use cnsim_cluster::calibration::*;
use cnsim_cluster::scenario::load_str;
use cnsim_cluster::{run_variant, VariantResult};
use cnsim_services::cost::{established_cost_ns, lookup_cost};
use cnsim_services::{Mode, Work};
use proptest::prelude::*;

struct Params {
    mode: &'static str,
    bandwidth: &'static str,
    queue: u32,
    protocol: &'static str,
    rate: &'static str,
    size: u64,
    /// "same-node", "same-az" or "cross-az": where the server pod runs relative to the client.
    placement: &'static str,
    max_pods: u32,
    node_cidr_mask: u8,
    server_replicas: u32,
    request: u64,
    response: u64,
    duration: &'static str,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            mode: "Underlay",
            bandwidth: "10Gbps",
            queue: 1000,
            protocol: "UDP",
            rate: "10pps",
            size: 512,
            placement: "cross-az",
            max_pods: 110,
            node_cidr_mask: 24,
            server_replicas: 1,
            request: 1000,
            response: 4000,
            duration: "1s",
        }
    }
}

/// Three nodes: n-0 and n-1 in AZ a, n-2 in AZ b. The client is pinned to n-0.
fn scenario(p: &Params) -> String {
    let server_node = match p.placement {
        "same-node" => "n0",
        "same-az" => "n1",
        _ => "n2",
    };
    format!(
        r#"Scenario(version: 1, seed: 7, duration: "{duration}",
  vpc: (cidr: "10.0.0.0/16", azs: ["a", "b"], subnets: [
      (name: "sa", az: "a", cidr: "10.0.0.0/24"), (name: "sb", az: "b", cidr: "10.0.1.0/24")]),
  network: (mode: {mode}, ipam: HostLocal(node_cidr_mask: {mask})),
  fabric: (eni_bandwidth: "{bw}", eni_tx_queue: {queue}),
  node_groups: [
    (name: "n0", instance_type: "m5.large", count: 1, subnets: ["sa"], labels: {{"n": "n0"}}, max_pods: {max_pods}),
    (name: "n1", instance_type: "m5.large", count: 1, subnets: ["sa"], labels: {{"n": "n1"}}, max_pods: {max_pods}),
    (name: "n2", instance_type: "m5.large", count: 1, subnets: ["sb"], labels: {{"n": "n2"}}, max_pods: {max_pods}),
  ],
  namespaces: [(name: "t")],
  workloads: [
    (namespace: "t", name: "client", node_selector: {{"n": "n0"}}),
    (namespace: "t", name: "server", replicas: {servers}, node_selector: {{"n": "{server_node}"}}, ports: [(name: "p", port: 80, protocol: {proto})]),
  ],
  traffic: [(name: "f", from: "t/client", to: "t/server:80", protocol: {proto}, rate: "{rate}",
             packet_size: "{size}B", request: "{req}B", response: "{resp}B")],
)"#,
        duration = p.duration,
        mode = p.mode,
        mask = p.node_cidr_mask,
        bw = p.bandwidth,
        queue = p.queue,
        max_pods = p.max_pods,
        servers = p.server_replicas,
        proto = p.protocol,
        rate = p.rate,
        size = p.size,
        req = p.request,
        resp = p.response,
    )
}

fn run(p: &Params) -> VariantResult {
    let loaded = load_str("test.ron", "test", &scenario(p), &[]).unwrap_or_else(|d| panic!("{d}"));
    run_variant(&loaded.variants[0])
}

/// Netfilter CPU for a packet that opens a conntrack entry (no Services: one hash probe) and
/// for one that finds its entry, in the default (iptables) mode.
fn nf_new() -> u64 {
    lookup_cost(Mode::Iptables).ns(&Work {
        hash_probes: 1,
        ..Work::default()
    })
}

fn nf_est() -> u64 {
    established_cost_ns(Mode::Iptables)
}

/// A percentile is the upper bound of the histogram bucket holding the exact value: at most
/// 1/128 above it (exact below 256 ns).
#[track_caller]
fn assert_percentile(got: Option<u64>, exact: u64) {
    let got = got.expect("a percentile");
    assert!(
        got >= exact && got <= exact + exact / 128,
        "percentile {got} is not the bucket of {exact}"
    );
}

fn ser(bytes: u64, bps: u64) -> u64 {
    (bytes * 8 * 1_000_000_000).div_ceil(bps)
}

#[test]
fn hop_latencies_are_the_sum_of_their_calibrated_costs() {
    // A UDP flow is one conntrack entry per node: its first packet pays the NEW cost on each
    // node it crosses, every later one the established cost.
    let (veth, route) = (VETH_TRAVERSAL.as_nanos(), NODE_ROUTING.as_nanos());
    let same_node = run(&Params {
        placement: "same-node",
        ..Params::default()
    });
    assert_eq!(same_node.latency_ns.max, Some(2 * veth + route + nf_new()));
    assert_percentile(same_node.latency_ns.p50, 2 * veth + route + nf_est());
    assert_eq!(
        same_node.service_datapath.first_packet_latency_ns.count, 1,
        "one UDP 5-tuple, one NEW packet"
    );
    let wire = ser(512, 10_000_000_000);
    let same_az = run(&Params {
        placement: "same-az",
        ..Params::default()
    });
    let path = 2 * veth + 2 * route + wire + fabric_same_az_one_way().as_nanos();
    assert_eq!(same_az.latency_ns.max, Some(path + 2 * nf_new()));
    assert_percentile(same_az.latency_ns.p50, path + 2 * nf_est());
    let cross = run(&Params::default());
    let path = 2 * veth + 2 * route + wire + fabric_cross_az_one_way().as_nanos();
    assert_percentile(cross.latency_ns.p50, path + 2 * nf_est());
    assert_eq!(same_az.cross_az.bytes, 0);
    assert_eq!(cross.cross_az.bytes, cross.packets.delivered * 512);
}

#[test]
fn overlay_adds_vxlan_bytes_and_encap_costs() {
    let under = run(&Params::default());
    let over = run(&Params {
        mode: "Overlay",
        ..Params::default()
    });
    assert_eq!(under.packets.delivered, over.packets.delivered);
    assert_eq!(
        over.cross_az.bytes,
        over.packets.delivered * (512 + u64::from(VXLAN_OVERHEAD_BYTES))
    );
    let extra =
        VXLAN_ENCAP.as_nanos() + VXLAN_DECAP.as_nanos() + ser(512 + 50, 10_000_000_000) - ser(512, 10_000_000_000);
    assert_eq!(over.latency_ns.max.unwrap(), under.latency_ns.max.unwrap() + extra);
    assert_eq!(over.pod_mtu, VPC_MTU - VXLAN_OVERHEAD_BYTES);
}

#[test]
fn a_slow_eni_queues_then_tail_drops() {
    // 1 Mbps drains 1e6 / (512*8) = 244.1 packets/s; 1000 packets/s arrive; the queue holds 20.
    let r = run(&Params {
        bandwidth: "1Mbps",
        queue: 20,
        rate: "1000pps",
        ..Params::default()
    });
    let drops = r.packets.dropped.get("eni-tx-queue-full").copied().unwrap_or(0);
    assert!(drops > 700, "{:?}", r.packets);
    // Delivered is bounded by what the link could carry in 1 s (+ the queue it started with).
    assert!(r.packets.delivered <= 245, "{:?}", r.packets);
    assert!(r.packets.delivered >= 200, "{:?}", r.packets);
    assert_eq!(r.packets.sent, r.packets.delivered + drops + r.packets.in_flight);
    let n0 = &r.nodes[0];
    assert_eq!((n0.eni_queue_drops, n0.eni_queue_max), (drops, 20));
    // Queueing shows in the tail: the last packets waited behind a full queue.
    assert!(r.latency_ns.p99.unwrap() > 20 * ser(512, 1_000_000) / 2);
}

#[test]
fn a_tcp_connection_is_handshake_request_and_response() {
    // 20000-byte response at MSS 8949: 3 segments; 1000-byte request: 1 segment.
    let r = run(&Params {
        protocol: "TCP",
        rate: "1pps",
        request: 1000,
        response: 20000,
        placement: "same-node",
        ..Params::default()
    });
    let c = r.connections.as_ref().unwrap();
    assert_eq!((c.opened, c.completed), (1, 1));
    assert_eq!(
        r.packets.sent,
        3 + 1 + 3,
        "SYN, SYN-ACK, ACK, 1 request and 3 response segments"
    );
    assert_eq!(r.packets.delivered, r.packets.sent);
    // Same node: one round trip for the handshake, then the request and the response one
    // way each; each leg costs 2 veth + routing + netfilter, NEW for the SYN only.
    let leg = 2 * VETH_TRAVERSAL.as_nanos() + NODE_ROUTING.as_nanos();
    assert_eq!(c.latency_ns.max, Some(4 * leg + nf_new() + 3 * nf_est()));
}

#[test]
fn pods_that_do_not_fit_are_pending_with_the_schedulers_reason() {
    // Servers pinned to n2, which takes 2 pods: the third is Pending.
    let r = run(&Params {
        server_replicas: 3,
        max_pods: 2,
        ..Params::default()
    });
    assert_eq!((r.pods.total, r.pods.running), (4, 3));
    assert_eq!(r.pods.pending.len(), 1);
    let reason = &r.pods.pending[0].reason;
    assert!(
        reason.starts_with("0/3 nodes are available: 1 Too many pods, 2 node(s) didn't match"),
        "{reason}"
    );
}

#[test]
fn host_local_range_exhaustion_leaves_pods_in_container_creating() {
    // A /29 node range holds 5 pod addresses (.2 to .6).
    let r = run(&Params {
        server_replicas: 7,
        node_cidr_mask: 29,
        ..Params::default()
    });
    assert_eq!(r.pods.running, 1 + 5);
    assert_eq!(r.pods.pending.len(), 2);
    assert!(
        r.pods.pending[0]
            .reason
            .contains("no IP addresses available in range set"),
        "{:?}",
        r.pods.pending
    );
    // Traffic only reaches servers that have an address.
    assert_eq!(r.flows[0].destinations_running, 5);
}

#[test]
fn a_flow_to_a_workload_with_no_running_pod_drops_every_packet_with_its_reason() {
    let text =
        scenario(&Params::default()).replace(r#"node_selector: {"n": "n2"}"#, r#"node_selector: {"n": "nowhere"}"#);
    let loaded = load_str("t.ron", "t", &text, &[]).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w.field == "workloads[1].node_selector"),
        "a warning says the pods will be Pending"
    );
    let r = run_variant(&loaded.variants[0]);
    assert_eq!(r.packets.delivered, 0);
    assert_eq!(r.packets.dropped.get("no-running-destination"), Some(&r.packets.sent));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the scenario: every packet is delivered, dropped or in flight exactly once;
    /// nothing arrives faster than its path allows; and the same input replays bit-exactly.
    #[test]
    fn packets_are_conserved_bounded_and_replayable(
        overlay in any::<bool>(),
        tcp in any::<bool>(),
        bandwidth in prop::sample::select(vec!["2Mbps", "50Mbps", "10Gbps"]),
        queue in 1u32..50,
        rate in prop::sample::select(vec!["5pps", "300pps", "2000pps"]),
        size in 28u64..9000,
        placement in prop::sample::select(vec!["same-node", "same-az", "cross-az"]),
        servers in 1u32..4,
        response in 0u64..30_000,
    ) {
        let p = Params {
            mode: if overlay { "Overlay" } else { "Underlay" },
            protocol: if tcp { "TCP" } else { "UDP" },
            bandwidth, queue, rate, size: size.min(8951), placement, server_replicas: servers, response,
            duration: "300ms",
            ..Params::default()
        };
        let a = run(&p);
        let dropped: u64 = a.packets.dropped.values().sum();
        prop_assert_eq!(a.packets.sent, a.packets.delivered + dropped + a.packets.in_flight);
        let floor = 2 * VETH_TRAVERSAL.as_nanos() + NODE_ROUTING.as_nanos();
        prop_assert!(a.latency_ns.count == 0 || a.latency_ns.p50.unwrap() >= floor);
        if placement == "cross-az" && a.latency_ns.count > 0 {
            prop_assert!(a.latency_ns.p50.unwrap() >= fabric_cross_az_one_way().as_nanos());
        }
        if let Some(c) = &a.connections {
            prop_assert!(c.completed <= c.opened);
        }
        let b = run(&p);
        prop_assert_eq!(&a, &b);
    }

    /// Flows that stop early leave nothing in flight, so delivered + dropped = sent is a real
    /// check here, not bookkeeping; TCP connections to the pod itself (equal ports included)
    /// complete like any other.
    #[test]
    fn a_drained_run_delivers_or_drops_every_packet(
        tcp in any::<bool>(),
        placement in prop::sample::select(vec!["same-node", "same-az", "cross-az"]),
        request in 1u64..40_000,
        response in 0u64..40_000,
        requests in 1u32..4,
    ) {
        let p = Params { protocol: if tcp { "TCP" } else { "UDP" }, placement, request, response, rate: "50pps", duration: "2s", ..Params::default() };
        let text = scenario(&p).replace(r#"rate: "50pps","#, &format!(r#"rate: "50pps", stop: "500ms", requests: {requests},"#));
        let loaded = load_str("drain.ron", "drain", &text, &[]).unwrap_or_else(|d| panic!("{d}"));
        let r = run_variant(&loaded.variants[0]);
        let dropped: u64 = r.packets.dropped.values().sum();
        prop_assert_eq!(r.packets.in_flight, 0);
        prop_assert_eq!(r.packets.sent, r.packets.delivered + dropped);
        if let Some(c) = &r.connections {
            prop_assert_eq!(c.completed, c.opened, "every connection completes once drained");
            prop_assert!(c.opened > 0);
        }
    }
}

/// Found in review: a pod connecting to itself on a port equal to its first ephemeral port
/// must complete, not loop.
#[test]
fn a_pod_connecting_to_itself_completes() {
    let text = r#"Scenario(version: 1, seed: 3, duration: "1s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a"], subnets: [(name: "sa", az: "a", cidr: "10.0.0.0/24")]),
  node_groups: [(name: "n", instance_type: "m5.large", count: 1)],
  namespaces: [(name: "t")],
  workloads: [(namespace: "t", name: "self", ports: [(name: "p", port: 32768)])],
  traffic: [(name: "loop", from: "t/self", to: "t/self-0:32768", protocol: TCP, rate: "10pps", stop: "500ms", requests: 2)],
)"#;
    let loaded = load_str("self.ron", "self", text, &[]).unwrap_or_else(|d| panic!("{d}"));
    let r = run_variant(&loaded.variants[0]);
    let c = r.connections.unwrap();
    assert_eq!(c.completed, c.opened);
    // SYN, SYN-ACK, ACK, then per request one request and one response segment.
    assert_eq!(r.packets.sent, c.opened * (3 + 2 * 2));
}

/// A node whose conntrack table is full drops new connections ("nf_conntrack: table full,
/// dropping packet") and counts them; established ones keep flowing.
#[test]
fn a_full_conntrack_table_drops_new_connections_and_counts_them() {
    // Each TCP connection holds one entry on each node it crosses; 20 fit.
    let text = scenario(&Params {
        protocol: "TCP",
        rate: "200pps",
        ..Params::default()
    })
    .replace(
        r#"namespaces: [(name: "t")],"#,
        r#"namespaces: [(name: "t")], kube_proxy: (conntrack_max: 20),"#,
    );
    let loaded = load_str("ct.ron", "ct", &text, &[]).unwrap_or_else(|d| panic!("{d}"));
    let r = run_variant(&loaded.variants[0]);
    let full = r.packets.dropped.get("conntrack-table-full").copied().unwrap_or(0);
    assert!(full > 0, "{:?}", r.packets);
    assert_eq!(r.service_datapath.conntrack_drops, full);
    assert_eq!(r.service_datapath.conntrack_peak, 20);
    let c = r.connections.unwrap();
    assert!(
        c.completed > 0 && c.completed < c.opened,
        "some connections complete, the rest are refused: {c:?}"
    );
}

#[test]
fn the_timeline_samples_conntrack_pods_and_addresses_across_the_run() {
    let r = run(&Params {
        protocol: "TCP",
        rate: "20pps",
        placement: "same-node",
        ..Params::default()
    });
    let t = &r.timeline;
    assert_eq!(t.t_ns.len(), 101);
    assert_eq!((t.t_ns[0], t.t_ns[50], t.t_ns[100]), (0, 500_000_000, 1_000_000_000));
    // Client and server share n-0, so every connection has its one entry there, and none
    // expires within a second (TIME_WAIT alone is 120 s).
    let opened = r.connections.as_ref().unwrap().opened;
    assert!(opened > 5, "{opened}");
    assert_eq!(*t.conntrack_entries.last().unwrap(), opened);
    assert_eq!(
        t.conntrack_entries, t.conntrack_entries_max_node,
        "one node holds them all"
    );
    assert!(t.conntrack_entries.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(t.conntrack_entries[0], 0);
    assert!(*t.conntrack_entries_max_node.iter().max().unwrap() <= r.service_datapath.conntrack_peak);
    assert!(t.pods_running.iter().all(|&n| n == r.pods.running));
    assert!(t.pods_pending.iter().all(|&n| n == 0));
    // Pod addresses come from the cluster CIDR, so the subnets hold node addresses only.
    let used: Vec<u64> = r.subnets.iter().map(|s| s.used).collect();
    assert_eq!(used, [2, 1]);
    assert_eq!(r.subnets[0].capacity, 256 - 5);
    assert_eq!(t.subnet_addresses_used[0], vec![2; 101]);
    let per_node = t.node_addresses.as_ref().unwrap();
    assert_eq!(per_node[0], vec![2; 101], "client and server on n-0");
    assert_eq!(t.node_addresses_max, vec![2; 101]);
    assert_eq!(t.node_addresses_mean_milli[0], 2 * 1000 / 3);
}

#[test]
fn buckets_hold_every_delivered_packet_split_into_first_and_established() {
    let r = run(&Params {
        protocol: "TCP",
        rate: "20pps",
        ..Params::default()
    });
    let b = &r.latency_buckets;
    assert_eq!(b.packets.count(), r.packets.delivered);
    assert_eq!(b.first_packet.count() + b.established.count(), r.packets.delivered);
    assert_eq!(b.first_packet.count(), r.service_datapath.first_packet_latency_ns.count);
    assert_eq!(b.packets.0.last().unwrap()[0], r.latency_ns.max.unwrap());
}
