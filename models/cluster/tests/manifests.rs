//! A scenario's top-level `manifests`: the Kubernetes objects join the scenario as if they had
//! been written in it, their policies are enforced, and problems name the manifest entry.

use cnsim_cluster::run_variant;
use cnsim_cluster::scenario::{load_str, Diagnostics, LoadedScenario};
use std::path::{Path, PathBuf};

/// A scratch directory holding `app.yaml`; returns the scenario path inside it.
fn setup(name: &str, yaml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnsim-manifests-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.yaml"), yaml).unwrap();
    dir.join("s.ron")
}

fn load(path: &Path, text: &str) -> Result<LoadedScenario, Diagnostics> {
    load_str(path.to_str().unwrap(), "s", text, &[])
}

/// A namespace with a label, a Deployment (3 replicas, named ports), a bare Pod, a
/// hostNetwork DaemonSet, a NodePort Service with a named target port, and a Service without
/// a selector.
const APP: &str = "apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: web}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, tier: backend}}
    spec:
      containers:
      - name: c
        ports:
        - {name: http, containerPort: 8080}
        - {name: stats, containerPort: 9125, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop, labels: {app: debug}}
spec:
  containers: [{name: c}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostNetwork: true
      containers: [{name: c}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  type: NodePort
  selector: {app: api}
  ports: [{name: web, port: 80, targetPort: http, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: external-db, namespace: shop}
spec:
  ports: [{port: 5432}]
";

fn scenario(objects: &str, extra: &str) -> String {
    format!(
        r#"Scenario(version: 1, seed: 5, duration: "1s",
  vpc: (cidr: "10.0.0.0/16", azs: ["a"], subnets: [(name: "s", az: "a", cidr: "10.0.0.0/24")]),
  node_groups: [(name: "n", instance_type: "m5.large", count: 2)],
  {objects}
  traffic: [(name: "f", from: "shop/debug", to: "shop/svc/api:80", protocol: TCP, rate: "20pps",
             request: "1KiB", response: "4KiB")],
  {extra}
)"#
    )
}

/// The same objects spelled out in the scenario, written by hand from the YAML above.
const SPELLED_OUT: &str = r#"
  namespaces: [(name: "shop", labels: {"team": "web"})],
  workloads: [
    (namespace: "shop", name: "api", replicas: 3, labels: {"app": "api", "tier": "backend"},
     ports: [(name: "http", port: 8080), (name: "stats", port: 9125, protocol: UDP)]),
    (namespace: "shop", name: "debug", labels: {"app": "debug"}),
  ],
  services: [(namespace: "shop", name: "api", kind: NodePort, selector: {"app": "api"},
              ports: [(name: "web", port: 80, target_port: "http", node_port: 30080)])],
"#;

#[test]
fn manifest_objects_load_and_run_exactly_as_the_same_objects_written_in_the_scenario() {
    let path = setup("same", APP);
    let from_yaml = load(&path, &scenario(r#"manifests: ["app.yaml"],"#, "")).unwrap_or_else(|d| panic!("{d}"));
    let by_hand = load(&path, &scenario(SPELLED_OUT, "")).unwrap_or_else(|d| panic!("{d}"));
    let (a, b) = (&from_yaml.variants[0].scenario, &by_hand.variants[0].scenario);
    assert_eq!(a.namespaces, b.namespaces);
    assert_eq!(a.workloads, b.workloads);
    assert_eq!(a.services, b.services);
    let (ra, rb) = (run_variant(&from_yaml.variants[0]), run_variant(&by_hand.variants[0]));
    assert!(ra.packets.delivered > 0, "{:?}", ra.packets);
    assert_eq!(ra.digest, rb.digest, "the same cluster runs the same events");
    // What was not taken is said, never dropped silently.
    let warnings: Vec<String> = from_yaml.warnings.iter().map(|w| w.to_string()).collect();
    let said = |what: &str| warnings.iter().any(|w| w.contains("manifests[0]") && w.contains(what));
    assert!(said("DaemonSet shop/agent") && said("hostNetwork"), "{warnings:#?}");
    assert!(said("Service shop/external-db") && said("no selector"), "{warnings:#?}");
}

#[test]
fn manifest_objects_follow_the_scenarios_own_and_the_scenario_keeps_its_namespace_labels() {
    let path = setup("order", APP);
    let own = r#"namespaces: [(name: "shop", labels: {"team": "payments"})],
  workloads: [(namespace: "shop", name: "cache")],
  manifests: ["app.yaml"],"#;
    let loaded = load(&path, &scenario(own, "")).unwrap_or_else(|d| panic!("{d}"));
    let s = &loaded.variants[0].scenario;
    let names: Vec<&str> = s.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["cache", "api", "debug"]);
    assert_eq!(s.namespaces.len(), 1);
    assert_eq!(s.namespaces[0].labels["team"], "payments");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("Namespace shop") && w.message.contains("payments")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn a_manifest_object_clashing_with_the_scenarios_is_an_error_at_the_manifest_entry() {
    let path = setup("clash", APP);
    let text = scenario(
        r#"namespaces: [(name: "shop")],
  workloads: [(namespace: "shop", name: "api", ports: [(name: "http", port: 8080)])],
  manifests: ["app.yaml"],"#,
        "",
    );
    let err = load(&path, &text).unwrap_err();
    let line = text.lines().position(|l| l.contains("manifests:")).unwrap() + 1;
    let hit = err
        .errors
        .iter()
        .find(|d| d.field == "manifests[0]")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(hit.line, line, "{err}");
    assert!(hit.message.contains("api"), "{err}");
}

#[test]
fn the_manifests_policies_are_enforced_on_the_packet_path() {
    let deny = "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-nobody, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
";
    let path = setup("policy", &format!("{APP}{deny}"));
    let loaded = load(&path, &scenario(r#"manifests: ["app.yaml"],"#, "")).unwrap_or_else(|d| panic!("{d}"));
    let r = run_variant(&loaded.variants[0]);
    assert_eq!(r.network_policy.as_ref().map(|p| p.network_policies), Some(1));
    assert_eq!(r.packets.delivered, 0, "{:?}", r.packets);
    assert!(
        r.packets.dropped.get("policy-denied").is_some_and(|&n| n > 0),
        "{:?}",
        r.packets
    );
}

#[test]
fn an_invalid_manifest_names_the_yaml_file_and_field_at_the_manifest_entry() {
    let bad = APP.replace("containerPort: 8080", "containerPort: 80800");
    let path = setup("invalid", &bad);
    let err = load(&path, &scenario(r#"manifests: ["app.yaml"],"#, "")).unwrap_err();
    let text = err.to_string();
    assert!(err.errors.iter().all(|d| d.field == "manifests[0]"), "{text}");
    assert!(text.contains("app.yaml:") && text.contains("containerPort"), "{text}");
    let missing = load(&path, &scenario(r#"manifests: ["nope.yaml"],"#, "")).unwrap_err();
    assert!(missing.to_string().contains("nope.yaml"), "{missing}");
}

#[test]
fn a_variant_may_not_change_the_manifests_but_may_scale_their_workloads() {
    let path = setup("variant", APP);
    let refused = scenario(
        r#"manifests: ["app.yaml"],"#,
        r#"variants: [(name: "v", set: {"manifests": "[]"})],"#,
    );
    let err = load(&path, &refused).unwrap_err();
    assert!(err.to_string().contains("cannot set \"manifests\""), "{err}");
    let scaled = scenario(
        r#"manifests: ["app.yaml"],"#,
        r#"variants: [(name: "v", set: {"workloads[0].replicas": "5"})],"#,
    );
    let loaded = load(&path, &scaled).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(loaded.variants[0].scenario.workloads[0].replicas, 5);
}
