//! Inputs for the report tests: small scenarios run through the real cluster model, so a
//! report is tested against results as `cnsim run` makes them.

#![allow(dead_code)]

use cnsim_cluster::results::{SweepAxis, SweepPoint, SweepResult, SWEEP_SCHEMA};
use cnsim_cluster::scenario::load_str;
use cnsim_cluster::{run_variant, RunResult, RUN_SCHEMA};

/// Two nodes in two AZs, Services from a generator, TCP clients through them.
pub const SERVICES: &str = r#"// A tiny cluster for report tests: <b>"bold"</b> & more.
Scenario(
    version: 1,
    seed: 3,
    duration: "300ms",
    vpc: (cidr: "10.0.0.0/16", azs: ["a", "b"], subnets: [
        (name: "sa", az: "a", cidr: "10.0.0.0/24"), (name: "sb", az: "b", cidr: "10.0.1.0/24")]),
    node_groups: [(name: "w", instance_type: "m5.large", count: 2)],
    namespaces: [(name: "bulk"), (name: "app")],
    service_generators: [(namespace: "bulk", prefix: "svc", count: 20, endpoints: 2, pool: 4)],
    workloads: [(namespace: "app", name: "client", replicas: 2)],
    traffic: [(name: "f", from: "app/client", to: "bulk/svc/svc-0:80", protocol: TCP, rate: "40pps",
               arrival: Poisson, request: "512B", response: "2KiB")],
    variants: [
        (name: "iptables", set: {"kube_proxy.mode": "Iptables"}),
        (name: "ebpf", description: "Cilium <eBPF> & socket LB", set: {"kube_proxy.mode": "Ebpf"}),
    ],
)
"#;

/// One node, one pod, no traffic: nothing to measure.
pub const IDLE: &str = r#"Scenario(
    version: 1,
    seed: 1,
    duration: "100ms",
    vpc: (cidr: "10.0.0.0/16", azs: ["a"], subnets: [(name: "sa", az: "a", cidr: "10.0.0.0/24")]),
    node_groups: [(name: "w", instance_type: "m5.large", count: 1)],
    namespaces: [(name: "app")],
    workloads: [(namespace: "app", name: "lonely")],
)
"#;

/// The AWS VPC CNI on one m5.large (max 29 pods) scaled past it: ENIs attach, pods wait for
/// addresses, some stay pending. Secondary IPs against /28 prefixes.
pub const VPC_CNI: &str = r#"Scenario(
    version: 1,
    seed: 5,
    duration: "30s",
    vpc: (cidr: "10.0.0.0/16", azs: ["a"], subnets: [(name: "sa", az: "a", cidr: "10.0.16.0/20")]),
    network: (ipam: AwsVpcCni()),
    node_groups: [(name: "w", instance_type: "m5.large", count: 1)],
    namespaces: [(name: "app")],
    workloads: [(namespace: "app", name: "web", replicas: 4)],
    events: [(at: "5s", scale: "app/web", replicas: 40)],
    variants: [
        (name: "secondary-ip"),
        (name: "prefix-delegation",
         set: {"network.ipam": "{\"AwsVpcCni\": {\"prefix_delegation\": true, \"warm_prefix_target\": 1}}"}),
    ],
)
"#;

/// Runs every variant of `text` with `--set`-style overrides.
pub fn run_with(text: &str, set: &[(&str, &str)]) -> RunResult {
    let extra: Vec<(String, String)> = set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let loaded = load_str("test.ron", "test", text, &extra).unwrap_or_else(|d| panic!("{d:?}"));
    RunResult {
        schema: RUN_SCHEMA,
        cnsim_version: "0.1.0-test".into(),
        scenario: loaded.name.clone(),
        seed: loaded.base.seed,
        duration_ns: loaded.base.duration.as_nanos(),
        variants: loaded.variants.iter().map(run_variant).collect(),
        scenario_file: Some("test.ron".into()),
        scenario_text: Some(text.to_string()),
    }
}

pub fn run(text: &str) -> RunResult {
    run_with(text, &[])
}

/// A sweep of SERVICES over the generator's Service count.
pub fn sweep(counts: &[&str]) -> SweepResult {
    let path = "service_generators[0].count";
    let points = counts
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let mut result = run_with(SERVICES, &[(path, c)]);
            result.scenario_file = None;
            result.scenario_text = None;
            SweepPoint {
                index: k as u32,
                values: vec![c.to_string()],
                result,
            }
        })
        .collect();
    SweepResult {
        schema: SWEEP_SCHEMA,
        cnsim_version: "0.1.0-test".into(),
        scenario: "test".into(),
        seed: 3,
        scenario_file: "test.ron".into(),
        scenario_text: SERVICES.into(),
        axes: vec![SweepAxis {
            path: path.into(),
            values: counts.iter().map(|c| c.to_string()).collect(),
        }],
        points_total: counts.len() as u32,
        shard: None,
        points,
    }
}

/// The text between the first `open` after `from` and the next `close`.
pub fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let start = s.find(open).unwrap_or_else(|| panic!("no {open:?}")) + open.len();
    let end = s[start..]
        .find(close)
        .unwrap_or_else(|| panic!("no {close:?} after {open:?}"))
        + start;
    &s[start..end]
}

/// Decodes a PNG: (width, height, RGB8 pixels).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG header");
    let mut buf = vec![0; dec.output_buffer_size().expect("a buffer size")];
    let info = dec.next_frame(&mut buf).expect("PNG pixels");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}
