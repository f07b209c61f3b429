//! Every validation rule fires on the input it is about, naming the field and the line: each
//! case edits a valid scenario once and expects one error (or warning) at a given field.

use cnsim_cluster::scenario::{load_str, Severity};

const BASE: &str = r#"Scenario(
    version: 1,
    seed: 1,
    vpc: (
        cidr: "10.0.0.0/16",
        azs: ["a", "b"],
        subnets: [
            (name: "pub", az: "a", cidr: "10.0.0.0/24", kind: Public),
            (name: "sa", az: "a", cidr: "10.0.16.0/20"),
            (name: "sb", az: "b", cidr: "10.0.32.0/20"),
        ],
        internet_gateway: "igw",
        nat_gateways: [(name: "nat", subnet: "pub")],
        route_tables: [(name: "private", subnets: ["sa", "sb"], routes: [(destination: "0.0.0.0/0", target: NatGateway("nat"))])],
    ),
    node_groups: [(name: "ng", instance_type: "m5.large", count: 2, labels: {"role": "web"})],
    namespaces: [(name: "shop")],
    workloads: [
        (namespace: "shop", name: "web", replicas: 2, ports: [(name: "http", port: 8080)]),
        (namespace: "shop", name: "api", ports: [(name: "http", port: 9000), (name: "stats", port: 9125, protocol: UDP)]),
    ],
    traffic: [(name: "f", from: "shop/web", to: "shop/api:http", rate: "10pps")],
    variants: [(name: "one"), (name: "two", set: {"node_groups.ng.count": "3"})],
)"#;

#[test]
fn the_base_is_valid() {
    let loaded = load_str("v.ron", "v", BASE, &[]).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(loaded.variants.len(), 2);
    assert_eq!(
        loaded.variants[1].scenario.node_groups[0].count, 3,
        "override by element name"
    );
    assert_eq!(loaded.variants[1].overrides[0].path, "node_groups[0].count");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// (what to replace, its replacement, the field expected, a fragment of the message, severity)
const CASES: &[(&str, &str, &str, &str, Severity)] = &[
    ("version: 1", "version: 2", "version", "not supported", Severity::Error),
    (
        "seed: 1,",
        "seed: 1, duration: \"0s\",",
        "duration",
        "out of range",
        Severity::Error,
    ),
    (
        "\"10.0.0.0/16\"",
        "\"10.0.0.0/12\"",
        "vpc.cidr",
        "/16 to /28",
        Severity::Error,
    ),
    (
        "azs: [\"a\", \"b\"]",
        "azs: [\"a\", \"b\", \"a\"]",
        "vpc.azs[2]",
        "duplicate availability zone",
        Severity::Error,
    ),
    (
        "az: \"b\"",
        "az: \"c\"",
        "vpc.subnets[2].az",
        "unknown availability zone",
        Severity::Error,
    ),
    (
        "\"10.0.32.0/20\"",
        "\"10.0.33.0/20\"",
        "vpc.subnets[2].cidr",
        "host bits",
        Severity::Error,
    ),
    (
        "\"10.0.32.0/20\"",
        "\"10.1.32.0/20\"",
        "vpc.subnets[2].cidr",
        "outside the VPC CIDR",
        Severity::Error,
    ),
    (
        "\"10.0.32.0/20\"",
        "\"10.0.16.0/21\"",
        "vpc.subnets[2].cidr",
        "overlaps subnet \"sa\"",
        Severity::Error,
    ),
    (
        "(name: \"sb\"",
        "(name: \"sa\"",
        "vpc.subnets[2].name",
        "duplicate subnet",
        Severity::Error,
    ),
    (
        "subnet: \"pub\"",
        "subnet: \"sa\"",
        "vpc.nat_gateways[0].subnet",
        "belongs in a Public subnet",
        Severity::Warning,
    ),
    (
        "subnet: \"pub\"",
        "subnet: \"nope\"",
        "vpc.nat_gateways[0].subnet",
        "unknown subnet",
        Severity::Error,
    ),
    (
        "subnets: [\"sa\", \"sb\"]",
        "subnets: [\"sa\", \"sa\"]",
        "vpc.route_tables[0].subnets[1]",
        "already associated",
        Severity::Error,
    ),
    (
        "NatGateway(\"nat\")",
        "NatGateway(\"gw\")",
        "vpc.route_tables[0].routes[0].target",
        "unknown NAT gateway",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: HostLocal(cluster_cidr: \"10.0.0.0/16\")),",
        "network.ipam.cluster_cidr",
        "overlaps VPC CIDR",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: HostLocal(node_cidr_mask: 12)),",
        "network.ipam.node_cidr_mask",
        "cannot be carved",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: HostLocal(cluster_cidr: \"10.244.0.0/24\", node_cidr_mask: 25)),",
        "network.ipam.cluster_cidr",
        "get no pod CIDR",
        Severity::Warning,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (mtu: 100),",
        "network.mtu",
        "out of range",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, fabric: (eni_tx_queue: 0),",
        "fabric.eni_tx_queue",
        "packets",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, pricing: (inter_az_usd_per_gb: -0.01),",
        "pricing.inter_az_usd_per_gb",
        "USD per GB",
        Severity::Error,
    ),
    (
        "\"m5.large\"",
        "\"m5.enormous\"",
        "node_groups[0].instance_type",
        "unknown instance type",
        Severity::Error,
    ),
    (
        "count: 2,",
        "count: 2, subnets: [\"zz\"],",
        "node_groups[0].subnets[0]",
        "unknown subnet",
        Severity::Error,
    ),
    (
        "count: 2,",
        "count: 2, max_pods: 0,",
        "node_groups[0].max_pods",
        "unusable",
        Severity::Error,
    ),
    (
        "count: 2,",
        "count: 300, subnets: [\"pub\"],",
        "vpc.subnets[0].cidr",
        "usable addresses",
        Severity::Error,
    ),
    (
        "count: 2,",
        "count: 60,",
        "node_groups",
        "default quota",
        Severity::Warning,
    ),
    (
        "{\"role\": \"web\"}",
        "{\"role\": \"we b\"}",
        "node_groups[0].labels.role",
        "label value",
        Severity::Error,
    ),
    (
        "(name: \"shop\")",
        "(name: \"Shop\")",
        "namespaces[0].name",
        "lowercase",
        Severity::Error,
    ),
    (
        "(namespace: \"shop\", name: \"api\"",
        "(namespace: \"other\", name: \"api\"",
        "workloads[1].namespace",
        "not declared",
        Severity::Error,
    ),
    (
        "name: \"api\"",
        "name: \"web\"",
        "workloads[1].name",
        "duplicate workload",
        Severity::Error,
    ),
    (
        "port: 9000)",
        "port: 0)",
        "workloads[1].ports[0].port",
        "port 0",
        Severity::Error,
    ),
    (
        "(name: \"stats\"",
        "(name: \"http\"",
        "workloads[1].ports[1].name",
        "duplicate port name",
        Severity::Error,
    ),
    (
        "(name: \"stats\"",
        "(name: \"STATS\"",
        "workloads[1].ports[1].name",
        "IANA_SVC_NAME",
        Severity::Error,
    ),
    (
        "ports: [(name: \"http\", port: 8080)]",
        "ports: [(name: \"http\", port: 8080)], node_selector: {\"role\": \"db\"}",
        "workloads[0].node_selector",
        "will stay Pending",
        Severity::Warning,
    ),
    (
        "from: \"shop/web\"",
        "from: \"shop/nope\"",
        "traffic[0].from",
        "no workload or pod",
        Severity::Error,
    ),
    (
        "from: \"shop/web\"",
        "from: \"shop/web-7\"",
        "traffic[0].from",
        "has 2 replicas",
        Severity::Error,
    ),
    (
        "to: \"shop/api:http\"",
        "to: \"shop/api:grpc\"",
        "traffic[0].to",
        "no TCP port named",
        Severity::Error,
    ),
    (
        "to: \"shop/api:http\"",
        "to: \"shop/api\"",
        "traffic[0].to",
        "has no port",
        Severity::Error,
    ),
    (
        "to: \"shop/api:http\"",
        "to: \"shop/api:stats\", protocol: UDP, packet_size: \"9500B\"",
        "traffic[0].packet_size",
        "fragmentation",
        Severity::Error,
    ),
    (
        "rate: \"10pps\"",
        "rate: \"10pps\", start: \"20s\"",
        "traffic[0].start",
        "start < stop",
        Severity::Error,
    ),
    (
        "rate: \"10pps\"",
        "rate: \"10pps\", protocol: SCTP",
        "traffic[0].protocol",
        "SCTP",
        Severity::Error,
    ),
    (
        "(name: \"two\"",
        "(name: \"one\"",
        "variants[1].name",
        "duplicate variant",
        Severity::Error,
    ),
    (
        "\"node_groups.ng.count\": \"3\"",
        "\"node_groups.nope.count\": \"3\"",
        "variants[1].set[\"node_groups.nope.count\"]",
        "no element named",
        Severity::Error,
    ),
    (
        "\"node_groups.ng.count\": \"3\"",
        "\"node_groups.ng.instance_type\": \"m9.tiny\"",
        "node_groups[0].instance_type",
        "(in variant \"two\")",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (mode: Overlay, ipam: AwsVpcCni()),",
        "network.mode",
        "no overlay mode",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(warm_ip_target: 5000)),",
        "network.ipam.warm_ip_target",
        "more than any node holds",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(max_eni: Some(0))),",
        "network.ipam.max_eni",
        "MAX_ENI 0",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(warm_ip_target: 2, warm_eni_target: 3)),",
        "network.ipam",
        "WARM_ENI_TARGET is ignored",
        Severity::Warning,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(eni_configs: [(az: \"z\", subnet: \"sa\")])),",
        "network.ipam.eni_configs[0].az",
        "unknown AZ",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(eni_configs: [(az: \"a\", subnet: \"sa\"), (az: \"a\", subnet: \"sa\"), (az: \"b\", subnet: \"sb\")])),",
        "network.ipam.eni_configs[1].az",
        "a second ENIConfig",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(eni_configs: [(az: \"a\", subnet: \"nope\"), (az: \"b\", subnet: \"sb\")])),",
        "network.ipam.eni_configs[0].subnet",
        "unknown subnet",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(eni_configs: [(az: \"a\", subnet: \"sb\"), (az: \"b\", subnet: \"sb\")])),",
        "network.ipam.eni_configs[0].subnet",
        "only from the instance",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, network: (ipam: AwsVpcCni(eni_configs: [(az: \"a\", subnet: \"sa\")])),",
        "node_groups[0]",
        "no ENIConfig for AZ b",
        Severity::Warning,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"10s\", scale: \"shop/web\", replicas: 3)],",
        "events[0].at",
        "not before the end",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", scale: \"shop/nope\", replicas: 3)],",
        "events[0].scale",
        "nope",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", scale: \"shop/web-0\", replicas: 3)],",
        "events[0].scale",
        "only a workload scales",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", scale: \"shop/web\", replicas: 300000)],",
        "events",
        "at their largest",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", node_group: \"nope\", count: 3)],",
        "events[0].node_group",
        "unknown node group \"nope\"",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", node_group: \"ng\", count: 1), (at: \"2s\", node_group: \"ng\", count: 3)],",
        "events[1].count",
        "node group \"ng\" shrank at 1s (events[0]); growing it again afterwards is not modelled",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", node_group: \"ng\", count: 4), (at: \"0.5s\", node_group: \"ng\", count: 5)],",
        "events[0].at",
        "shrinking it before they have joined is not modelled",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", scale: \"shop/web\", replicas: 3, count: 3)],",
        "events[0]",
        "sets scale, replicas, count",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", node_group: \"ng\")],",
        "events[0]",
        "either scale",
        Severity::Error,
    ),
    (
        "seed: 1,",
        "seed: 1, events: [(at: \"1s\", node_group: \"ng\", count: 9000)],",
        "vpc.subnets[1].cidr",
        "4500 nodes and NAT gateways are placed",
        Severity::Error,
    ),
];

#[test]
fn each_rule_reports_its_field_and_line() {
    for (from, to, field, fragment, severity) in CASES {
        assert!(BASE.contains(from), "case text {from:?} is not in BASE");
        let text = BASE.replacen(from, to, 1);
        let found = match load_str("v.ron", "v", &text, &[]) {
            Ok(l) => l.warnings,
            Err(d) => d.errors.into_iter().chain(d.warnings).collect(),
        };
        let hit = found
            .iter()
            .find(|d| d.field == *field && d.severity == *severity && d.to_string().contains(fragment));
        let Some(hit) = hit else {
            panic!(
                "case {from:?} -> {to:?}: expected {severity:?} at {field} containing {fragment:?}, got:\n{}",
                found.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
            );
        };
        assert!(hit.line >= 1, "{hit}");
        // The line named holds the field's text, or (for a defaulted field) its parent.
        let line_text = text.lines().nth(hit.line - 1).unwrap();
        let leaf = field
            .rsplit(['.', '['])
            .next()
            .unwrap()
            .trim_end_matches(']')
            .trim_matches('"');
        let leaf_key = leaf.split('.').next().unwrap();
        assert!(
            line_text.contains(leaf_key)
                || leaf.parse::<usize>().is_ok()
                || line_text.contains(to.split(':').next().unwrap().trim()),
            "case {from:?}: {hit} points at line {:?}",
            line_text
        );
    }
}

#[test]
fn an_igw_route_without_an_igw_is_an_error() {
    let text = BASE.replacen("internet_gateway: \"igw\",", "", 1).replacen(
        "target: NatGateway(\"nat\")",
        "target: InternetGateway",
        1,
    );
    let err = load_str("v.ron", "v", &text, &[]).unwrap_err();
    assert!(
        err.errors
            .iter()
            .any(|d| d.field == "vpc.route_tables[0].routes[0].target" && d.message.contains("declares none")),
        "{err}"
    );
}

#[test]
fn sweep_style_overrides_apply_before_variants() {
    let sets = vec![
        ("seed".to_string(), "99".to_string()),
        ("traffic.f.rate".to_string(), "20pps".to_string()),
    ];
    let loaded = load_str("v.ron", "v", BASE, &sets).unwrap();
    assert!(loaded
        .variants
        .iter()
        .all(|v| v.scenario.seed == 99 && v.scenario.traffic[0].rate.per_sec == 20));
    let bad = vec![("traffic.f.rate".to_string(), "fast".to_string())];
    let err = load_str("v.ron", "v", BASE, &bad).unwrap_err();
    assert!(err.to_string().contains("traffic[0].rate"), "{err}");
}

/// Cilium's reverse-NAT ids are 16 bits: an eBPF scenario needing more frontends is refused
/// before any engine is built, and the scenario-level count agrees with the engine's own.
#[test]
fn ebpf_frontend_capacity_is_checked_and_counted_like_the_engine() {
    let text = BASE.replacen("traffic: [", r#"kube_proxy: (mode: Ebpf), service_generators: [(namespace: "shop", count: 70000, endpoints: 1)], traffic: ["#, 1);
    let err = load_str("v.ron", "v", &text, &[]).unwrap_err();
    assert!(
        err.errors
            .iter()
            .any(|d| d.field == "services" && d.message.contains("eBPF frontends")),
        "{err}"
    );
    // Agreement with the engine on a mix of kinds, ports, external and shared LB addresses.
    let text = BASE.replacen("traffic: [", r#"kube_proxy: (mode: Ebpf),
        services: [
            (namespace: "shop", name: "a", selector: {"app": "x"}, ports: [(name: "h", port: 80), (name: "u", port: 53, protocol: UDP)]),
            (namespace: "shop", name: "b", kind: NodePort, selector: {"app": "x"}, ports: [(port: 80)], external_ips: ["203.0.113.1"]),
            (namespace: "shop", name: "c", kind: LoadBalancer, selector: {"app": "x"}, ports: [(port: 80)], external_ips: ["203.0.113.1"], load_balancer_ip: "198.51.100.1"),
            (namespace: "shop", name: "d", headless: true, selector: {"app": "x"}, ports: [(port: 80)]),
        ],
        traffic: ["#, 1);
    let loaded = load_str("v.ron", "v", &text, &[]).unwrap_or_else(|d| panic!("{d}"));
    let s = &loaded.variants[0].scenario;
    let world = cnsim_cluster::world::World::build(s);
    let (set, _) = cnsim_cluster::service_world::build(s, &world);
    let n = &world.nodes[0];
    let view = cnsim_services::NodeView {
        name: n.name.clone(),
        node_ips: vec![n.ip],
        cluster_cidr: Some(world.cluster_cidr),
    };
    assert_eq!(
        cnsim_cluster::scenario::validate_services::ebpf_frontends(s),
        cnsim_services::ebpf::frontends_needed(&set, &view)
    );
}
