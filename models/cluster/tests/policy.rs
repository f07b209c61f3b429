//! NetworkPolicy on the packet path: first packets judged after DNAT, egress at the source and
//! ingress at the destination, replies and later packets carried by conntrack.

use cnsim_cluster::results::VariantResult;
use cnsim_cluster::run_variant;
use cnsim_cluster::scenario::load_str;
use std::path::{Path, PathBuf};

/// A scratch directory holding `policies.yaml`, and the scenario's path inside it.
fn setup(name: &str, policies: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnsim-policy-path-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policies.yaml"), policies).unwrap();
    dir.join("s.ron")
}

/// Client and server on different nodes; TCP through a Service (so the verdict must be on the
/// backend after DNAT), 10 connections a second for 1 s.
fn scenario(extra: &str) -> String {
    format!(
        r#"Scenario(version: 1, seed: 3, duration: "1s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a"], subnets: [(name: "s", az: "a", cidr: "10.0.0.0/24")]),
  node_groups: [
    (name: "n0", instance_type: "m5.large", count: 1, labels: {{"n": "0"}}),
    (name: "n1", instance_type: "m5.large", count: 1, labels: {{"n": "1"}}),
  ],
  namespaces: [(name: "t")],
  workloads: [
    (namespace: "t", name: "client", labels: {{"app": "client"}}, node_selector: {{"n": "0"}}),
    (namespace: "t", name: "server", labels: {{"app": "server"}}, node_selector: {{"n": "1"}},
     ports: [(name: "web", port: 8080)]),
  ],
  services: [(namespace: "t", name: "server", selector: {{"app": "server"}}, ports: [(port: 80, target_port: "web")])],
  network_policy: (manifests: ["policies.yaml"]),
  traffic: [(name: "f", from: "t/client", to: "t/svc/server:80", protocol: TCP, rate: "10pps",
             request: "1KiB", response: "4KiB")],
  {extra}
)"#
    )
}

fn run(path: &Path, text: &str) -> VariantResult {
    let loaded = load_str(path.to_str().unwrap(), "s", text, &[]).unwrap_or_else(|d| panic!("{d}"));
    run_variant(&loaded.variants[0])
}

const SERVER_INGRESS_FROM_CLIENT_ON: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-in, namespace: t}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: PORT}]
";

#[test]
fn allowed_connections_complete_though_the_servers_egress_is_isolated() {
    // The server may send nothing on its own (Egress isolated, no egress rule), but its
    // replies belong to admitted connections and pass: policy is stateful.
    let path = setup("allowed", &SERVER_INGRESS_FROM_CLIENT_ON.replace("PORT", "8080"));
    let r = run(&path, &scenario(""));
    let c = r.connections.as_ref().unwrap();
    assert!(c.opened >= 5, "{c:?}");
    assert_eq!(c.completed, c.opened, "every connection completes: {:?}", r.packets);
    assert!(r.packets.dropped.is_empty(), "{:?}", r.packets.dropped);
    let np = r.network_policy.as_ref().unwrap();
    assert_eq!(np.network_policies, 1);
    // One judgement at the client's node (egress) and one at the server's (ingress) per
    // connection: later packets and replies are never judged.
    assert_eq!(np.evaluated, 2 * c.opened);
}

#[test]
fn the_verdict_is_on_the_backend_port_after_dnat() {
    // Allowing the Service port (80) is not allowing the backend's 8080: every SYN is dropped
    // at the server's node, on ingress, counted under the policy that isolates it.
    let path = setup("dnat", &SERVER_INGRESS_FROM_CLIENT_ON.replace("PORT", "80"));
    let r = run(&path, &scenario(""));
    let c = r.connections.as_ref().unwrap();
    assert_eq!(c.completed, 0);
    assert_eq!(r.packets.dropped.get("policy-denied"), Some(&c.opened));
    assert_eq!(r.packets.dropped.len(), 1);
    let np = r.network_policy.as_ref().unwrap();
    assert_eq!(
        np.denied_by.keys().collect::<Vec<_>>(),
        ["ingress: isolated by t/server-in and no rule allows it"]
    );
    assert_eq!(np.denied_by.values().sum::<u64>(), c.opened);
}

#[test]
fn egress_is_denied_at_the_source_before_the_packet_leaves() {
    let deny_egress = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-out, namespace: t}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
";
    let path = setup("egress", deny_egress);
    let r = run(&path, &scenario(""));
    let c = r.connections.as_ref().unwrap();
    assert_eq!(r.packets.dropped.get("policy-denied"), Some(&c.opened));
    // Nothing crossed to the server's node.
    let server_node = r.nodes.iter().find(|n| n.name == "n1-0").unwrap();
    assert_eq!(server_node.rx_packets, 0);
    let np = r.network_policy.as_ref().unwrap();
    assert!(
        np.denied_by
            .keys()
            .all(|k| k.starts_with("egress: isolated by t/client-out")),
        "{np:?}"
    );
}

#[test]
fn bad_manifests_fail_the_scenario_naming_both_files() {
    let bad = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: t}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: 80, endPort: 70}]
";
    let path = setup("bad", bad);
    let err = load_str(path.to_str().unwrap(), "s", &scenario(""), &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("network_policy.manifests[0]"), "{text}");
    assert!(text.contains("policies.yaml"), "{text}");
    assert!(text.contains("endPort"), "{text}");
}

#[test]
fn a_missing_manifest_or_a_device_is_a_located_error() {
    let path = setup("missing", "");
    let text = scenario("").replace("[\"policies.yaml\"]", "[\"nope.yaml\", \"/dev/zero\"]");
    let err = load_str(path.to_str().unwrap(), "s", &text, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("network_policy.manifests[0]") && err.contains("nope.yaml"),
        "{err}"
    );
    assert!(
        err.contains("network_policy.manifests[1]") && err.contains("not a file or a directory"),
        "{err}"
    );
}

#[test]
fn with_the_vpc_cni_policy_sees_pods_by_the_addresses_they_get_during_the_run() {
    // Pod addresses are handed out by ipamd after t=0: the policy must still know the server
    // by its address, so a selector-based rule admits the client and isolates the rest.
    let path = setup("vpc-cni", &SERVER_INGRESS_FROM_CLIENT_ON.replace("PORT", "8080"));
    let text = scenario("network: (ipam: AwsVpcCni()),");
    let r = run(&path, &text);
    assert!(r.vpc_cni.is_some(), "the run uses the VPC CNI");
    let c = r.connections.as_ref().unwrap();
    assert!(c.opened >= 5, "{c:?}");
    assert_eq!(c.completed, c.opened, "{:?}", r.packets.dropped);
    assert!(
        !r.packets.dropped.contains_key("policy-denied"),
        "{:?}",
        r.packets.dropped
    );
    let path = setup("vpc-cni-deny", &SERVER_INGRESS_FROM_CLIENT_ON.replace("PORT", "9999"));
    let r = run(&path, &text);
    let c = r.connections.as_ref().unwrap();
    assert_eq!(r.packets.dropped.get("policy-denied"), Some(&c.opened));
    let np = r.network_policy.as_ref().unwrap();
    assert_eq!(
        np.denied_by.keys().collect::<Vec<_>>(),
        ["ingress: isolated by t/server-in and no rule allows it"]
    );
}

#[test]
fn ip_blocks_match_pods_by_the_addresses_the_vpc_cni_gives_them_during_the_run() {
    // Custom networking: the pods' subnet is 10.0.128.0/19 and no pod has an address at t=0.
    // The server admits that subnet by ipBlock, which matches pods by address (the API's
    // reading): the client's connections pass once it is addressed.
    let allow_pod_subnet = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-in, namespace: t}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.128.0/19}}]
    ports: [{port: 8080}]
";
    let path = setup("vpc-ipblock", allow_pod_subnet);
    let text = scenario(r#"network: (ipam: AwsVpcCni(eni_configs: [(az: "a", subnet: "pods")])),"#)
        .replace(
            r#"subnets: [(name: "s", az: "a", cidr: "10.0.0.0/24")]"#,
            r#"subnets: [(name: "s", az: "a", cidr: "10.0.0.0/24"), (name: "pods", az: "a", cidr: "10.0.128.0/19", kind: Pod)]"#,
        )
        .replace(r#"duration: "1s""#, r#"duration: "30s""#);
    let r = run(&path, &text);
    let ready = r.pod_startup.as_ref().unwrap().time_to_ready_ns.p50.unwrap();
    assert!(ready > 0, "the premise: pods are addressed after t=0");
    let c = r.connections.as_ref().unwrap();
    assert!(c.completed > 0, "{c:?} {:?}", r.packets.dropped);
    assert!(
        !r.packets.dropped.contains_key("policy-denied"),
        "{:?}",
        r.packets.dropped
    );
    // The same policy with the Cilium reading (ipBlock never matches pods) denies them all.
    let cilium = text.replace(
        r#"network_policy: (manifests: ["policies.yaml"]),"#,
        r#"network_policy: (manifests: ["policies.yaml"], ip_block_matches_pods: false),"#,
    );
    let r = run(&path, &cilium);
    assert_eq!(r.connections.as_ref().unwrap().completed, 0);
    assert!(
        r.packets.dropped.get("policy-denied").is_some_and(|&n| n > 0),
        "{:?}",
        r.packets.dropped
    );
}
