//! Traffic that leaves the VPC: the node's SNAT (AWS_VPC_K8S_CNI_EXTERNALSNAT), NAT gateways,
//! the internet gateway, and the answers finding their way back to the pod. Expectations come
//! from AWS's rules (a pod address has no public address; a NAT gateway routes by its own
//! subnet's table; data processing billed per GB), not from a run.

use cnsim_cluster::results::VariantResult;
use cnsim_cluster::scenario::{load_str, VariantSpec};
use cnsim_cluster::trace::trace;
use cnsim_cluster::{run_variant, sim::metrics::DropReason};
use std::path::{Path, PathBuf};

/// Two nodes, one per AZ, in `node_subnets`; 4 client pods opening 20 TCP connections a
/// second each to 203.0.113.10:443 for 2 s. `private_b_to` is the private-b table's target.
fn scenario(ipam: &str, node_subnets: &str, private_b_to: &str, extra: &str) -> String {
    format!(
        r#"Scenario(version: 1, seed: 5, duration: "2s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a", "b"],
    subnets: [
      (name: "public-a", az: "a", cidr: "10.0.0.0/24", kind: Public),
      (name: "public-b", az: "b", cidr: "10.0.1.0/24", kind: Public),
      (name: "private-a", az: "a", cidr: "10.0.16.0/20"),
      (name: "private-b", az: "b", cidr: "10.0.32.0/20"),
    ],
    internet_gateway: "igw",
    nat_gateways: [(name: "nat-a", subnet: "public-a"), (name: "nat-b", subnet: "public-b")],
    route_tables: [
      (name: "public", subnets: ["public-a", "public-b"], routes: [(destination: "0.0.0.0/0", target: InternetGateway)]),
      (name: "private-a", subnets: ["private-a"], routes: [(destination: "0.0.0.0/0", target: NatGateway("nat-a"))]),
      (name: "private-b", subnets: ["private-b"], routes: [(destination: "0.0.0.0/0", target: {private_b_to})]),
    ]),
  network: (ipam: {ipam}),
  node_groups: [(name: "ng", instance_type: "m5.large", count: 2, subnets: {node_subnets})],
  namespaces: [(name: "t")],
  workloads: [(namespace: "t", name: "client", replicas: 4, labels: {{"app": "client"}})],
  traffic: [(name: "api", from: "t/client", to: "203.0.113.10:443", protocol: TCP, rate: "20pps",
             request: "1KiB", response: "4KiB")],
  {extra}
)"#
    )
}

const PRIVATE: &str = r#"["private-a", "private-b"]"#;
const PUBLIC: &str = r#"["public-a", "public-b"]"#;
const DEFAULT_SNAT: &str = "AwsVpcCni()";
const EXTERNAL_SNAT: &str = "AwsVpcCni(external_snat: true)";
const ONE_NAT: &str = r#"NatGateway("nat-a")"#;

fn load_at(path: &Path, text: &str) -> VariantSpec {
    let loaded = load_str(path.to_str().unwrap(), "s", text, &[]).unwrap_or_else(|d| panic!("{d}"));
    loaded.variants.into_iter().next().unwrap()
}

fn load(text: &str) -> VariantSpec {
    load_at(Path::new("egress.ron"), text)
}

fn run(text: &str) -> VariantResult {
    run_variant(&load(text))
}

fn dropped(r: &VariantResult, reason: DropReason) -> u64 {
    r.packets.dropped.get(reason.as_str()).copied().unwrap_or(0)
}

#[test]
fn default_snat_masquerades_every_connection_and_the_answers_reach_the_pods() {
    let r = run(&scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, ""));
    let c = r.connections.as_ref().unwrap();
    assert!(c.opened > 100);
    assert!(r.packets.dropped.is_empty(), "{:?}", r.packets.dropped);
    // A connection still open at the end is one whose packets are in flight.
    assert_eq!(c.opened - c.completed, c.incomplete);
    assert!(c.incomplete <= r.packets.in_flight);
    let e = r.egress.as_ref().expect("traffic left the VPC");
    assert_eq!(
        e.snat_connections, c.opened,
        "every connection is masqueraded on its node"
    );
    let nat = &e.nat_gateways[0];
    assert_eq!(nat.stats.connections, c.opened, "both AZs route through nat-a");
    assert_eq!(
        nat.stats.closed, c.completed,
        "a closed connection frees its gateway port"
    );
    assert_eq!(e.nat_gateways[1].stats.packets, 0);
    // The gateway processes both directions: everything through the internet gateway.
    assert_eq!(nat.stats.bytes, e.internet_bytes_out + e.internet_bytes_in);
    assert_eq!(
        nat.processing_cost_micro_usd,
        nat.stats.bytes * 45_000 / 1_000_000_000,
        "$0.045 per GB"
    );
    // AZ b's node reaches nat-a across AZs, both ways.
    assert!(r.cross_az.bytes > 0);
}

#[test]
fn external_snat_leaves_translation_to_the_nat_gateway_and_a_gateway_per_az_stays_in_its_az() {
    let base = run(&scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, ""));
    let ext = run(&scenario(EXTERNAL_SNAT, PRIVATE, ONE_NAT, ""));
    let e = ext.egress.as_ref().unwrap();
    assert_eq!(e.snat_connections, 0, "the pod address leaves the node");
    assert_eq!(
        e.nat_gateways[0].stats.connections,
        ext.connections.as_ref().unwrap().opened
    );
    assert!(ext.packets.dropped.is_empty());
    assert_ne!(base.digest, ext.digest, "the packets carry other sources");

    let per_az = run(&scenario(DEFAULT_SNAT, PRIVATE, r#"NatGateway("nat-b")"#, ""));
    let e = per_az.egress.as_ref().unwrap();
    assert!(e.nat_gateways[0].stats.connections > 0 && e.nat_gateways[1].stats.connections > 0);
    assert_eq!(per_az.cross_az.bytes, 0, "each AZ's nodes use their own AZ's gateway");
    let total = |r: &VariantResult| {
        r.egress
            .as_ref()
            .unwrap()
            .nat_gateways
            .iter()
            .map(|g| g.stats.bytes)
            .sum::<u64>()
    };
    assert_eq!(
        total(&per_az),
        total(&base),
        "the same traffic, split over two gateways"
    );
}

#[test]
fn pod_addresses_have_no_public_address_so_public_nodes_need_the_default_snat() {
    let cut_off = run(&scenario(EXTERNAL_SNAT, PUBLIC, ONE_NAT, ""));
    let opened = cut_off.connections.as_ref().unwrap().opened;
    assert_eq!(dropped(&cut_off, DropReason::IgwNoPublicAddress), opened, "every SYN");
    assert_eq!(cut_off.packets.delivered, 0);

    let public = run(&scenario(DEFAULT_SNAT, PUBLIC, ONE_NAT, ""));
    assert!(public.packets.dropped.is_empty());
    let e = public.egress.as_ref().unwrap();
    assert!(
        e.nat_gateways.iter().all(|g| g.stats.packets == 0),
        "straight out of the IGW"
    );
    assert!(e.internet_bytes_out > 0 && e.internet_bytes_in > 0);
}

#[test]
fn a_nat_gateway_in_a_subnet_without_an_internet_route_drops_and_a_blackhole_too() {
    // nat-b sits in public-b; move public-b to a table with no default route.
    let text = scenario(DEFAULT_SNAT, PRIVATE, r#"NatGateway("nat-b")"#, "").replace(
        r#"subnets: ["public-a", "public-b"], routes"#,
        r#"subnets: ["public-a"], routes"#,
    );
    let r = run(&text);
    assert!(dropped(&r, DropReason::NatGatewayNoInternetRoute) > 0);
    assert!(r.packets.delivered > 0, "AZ a still works through nat-a");

    let r = run(&scenario(DEFAULT_SNAT, PRIVATE, "Blackhole", ""));
    assert!(dropped(&r, DropReason::VpcBlackhole) > 0);
}

#[test]
fn the_overlays_masquerade_translates_pod_traffic_to_the_internet_too() {
    let text = scenario(r#"HostLocal(cluster_cidr: "10.244.0.0/16")"#, PRIVATE, ONE_NAT, "")
        .replace("network: (ipam:", "network: (mode: Overlay, ipam:");
    let r = run(&text);
    assert!(r.packets.dropped.is_empty());
    assert_eq!(
        r.egress.as_ref().unwrap().snat_connections,
        r.connections.as_ref().unwrap().opened
    );
}

#[test]
fn trace_shows_each_translation_and_where_it_stops() {
    let spec = load(&scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, ""));
    let t = trace(&spec, "t/client-0", "203.0.113.10:443").unwrap();
    assert_eq!(t.verdict, "delivered", "{t:#?}");
    let hops: Vec<&str> = t.hops.iter().map(|h| h.hop.as_str()).collect();
    assert!(hops.ends_with(&["vpc", "nat gateway", "internet"]), "{hops:?}");
    let nf = t.hops.iter().find(|h| h.hop == "netfilter").unwrap();
    assert!(nf.detail.contains("SNAT"), "{}", nf.detail);

    let spec = load(&scenario(EXTERNAL_SNAT, PRIVATE, ONE_NAT, ""));
    let t = trace(&spec, "t/client-0", "203.0.113.10:443").unwrap();
    let nf = t.hops.iter().find(|h| h.hop == "netfilter").unwrap();
    assert!(!nf.detail.contains("SNAT"), "{}", nf.detail);
    assert_eq!(t.verdict, "delivered");

    let spec = load(&scenario(EXTERNAL_SNAT, PUBLIC, ONE_NAT, ""));
    let t = trace(&spec, "t/client-0", "203.0.113.10:443").unwrap();
    assert_eq!(t.reason.as_deref(), Some("igw-no-public-address"));
}

#[test]
fn egress_policy_judges_the_pod_not_its_masqueraded_address() {
    let dir = std::env::temp_dir().join(format!("cnsim-egress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("s.ron");
    let policy = |cidr: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: out, namespace: t}}
spec:
  podSelector: {{matchLabels: {{app: client}}}}
  policyTypes: [Egress]
  egress:
  - to: [{{ipBlock: {{cidr: {cidr}}}}}]
"
        )
    };
    let extra = r#"network_policy: (manifests: ["policies.yaml"]),"#;
    std::fs::write(dir.join("policies.yaml"), policy("203.0.113.0/24")).unwrap();
    let allowed = run_variant(&load_at(&path, &scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, extra)));
    assert!(allowed.packets.dropped.is_empty(), "{:?}", allowed.packets.dropped);
    std::fs::write(dir.join("policies.yaml"), policy("198.51.100.0/24")).unwrap();
    let denied = run_variant(&load_at(&path, &scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, extra)));
    assert_eq!(
        dropped(&denied, DropReason::PolicyDenied),
        denied.connections.as_ref().unwrap().opened
    );
    assert!(denied.egress.is_none(), "nothing left the VPC");
    // `cnsim trace` judges the same source the run does: the pod, not its node's address.
    let t = trace(
        &load_at(&path, &scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, extra)),
        "t/client-0",
        "203.0.113.10:443",
    )
    .unwrap();
    assert_eq!(t.reason.as_deref(), Some("policy-denied"), "{t:#?}");
    // A denied datagram's conntrack entry is never confirmed: every later datagram of the
    // socket is judged (and denied) again, not waved through as established.
    let udp = scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, extra)
        .replace("protocol: TCP", "protocol: UDP, packet_size: \"512B\"");
    let denied = run_variant(&load_at(&path, &udp));
    assert!(denied.packets.sent > 100);
    assert_eq!(dropped(&denied, DropReason::PolicyDenied), denied.packets.sent);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn external_targets_inside_the_vpc_or_larger_than_the_internet_mtu_are_refused_with_their_field() {
    let inside = scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, "").replace("203.0.113.10:443", "10.0.16.9:443");
    let Err(err) = load_str("e.ron", "e", &inside, &[]) else {
        panic!("an address in the VPC")
    };
    let err = err.to_string();
    assert!(err.contains("traffic[0].to") && err.contains("inside the VPC"), "{err}");
    let udp =
        scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, "").replace("protocol: TCP", "protocol: UDP, packet_size: \"4000B\"");
    let Err(err) = load_str("e.ron", "e", &udp, &[]) else {
        panic!("a jumbo datagram")
    };
    let err = err.to_string();
    assert!(err.contains("traffic[0].packet_size") && err.contains("1500"), "{err}");
}

#[test]
fn excluded_cidrs_keep_the_pod_address_and_a_quiet_translation_idles_out() {
    let excluded = run(&scenario(
        r#"AwsVpcCni(exclude_snat_cidrs: ["203.0.113.0/24"])"#,
        PRIVATE,
        ONE_NAT,
        "",
    ));
    let e = excluded.egress.as_ref().unwrap();
    assert_eq!(e.snat_connections, 0, "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS");
    assert!(
        e.nat_gateways[0].stats.connections > 0,
        "the NAT gateway still translates the pod address"
    );

    // UDP sockets (one per sending pod) send for 1 s, then the run idles for 360 s: each
    // socket's translation outlives the gateway's 350 s idle timeout.
    let quiet = scenario(DEFAULT_SNAT, PRIVATE, ONE_NAT, "")
        .replace(r#"duration: "2s""#, r#"duration: "361s""#)
        .replace("protocol: TCP", r#"protocol: UDP, packet_size: "512B", stop: "1s""#);
    let r = run(&quiet);
    let nat = &r.egress.as_ref().unwrap().nat_gateways[0];
    assert_eq!(nat.stats.connections, 4, "one translation per socket");
    assert_eq!(nat.stats.idle_timeouts, 4);
    assert_eq!(nat.stats.closed, 0);
}
