//! Every kind imported: workloads expanded with their documented names, nodes, addresses,
//! Services and EndpointSlices, endpoints resolved.

mod common;
use cnsim_manifests::{load_str, ImportOptions};
use cnsim_policy::{IntOrString, Protocol};
use common::*;
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn workload(kind: &str, api: &str, name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n{extra_spec}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - name: c\n        ports: [{{containerPort: 8080, name: http}}, {{containerPort: 53, protocol: UDP, name: dns}}]\n---\n"
    )
}

fn names(m: &cnsim_manifests::Manifests) -> Vec<String> {
    m.cluster
        .pods
        .iter()
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect()
}

#[test]
fn workloads_expand_with_documented_names() {
    let text = [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: a}}\n---\n".to_string(),
        workload("Deployment", "apps/v1", "web", "  replicas: 3\n"),
        workload("ReplicaSet", "apps/v1", "rs", ""),
        workload(
            "StatefulSet",
            "apps/v1",
            "db",
            "  replicas: 2\n  ordinals: {start: 5}\n",
        ),
        workload("Job", "batch/v1", "job", "  parallelism: 4\n  completions: 2\n"),
    ]
    .concat();
    let m = import(&text);
    assert_eq!(
        names(&m),
        [
            "shop/web-0",
            "shop/web-1",
            "shop/web-2",
            "shop/rs-0",
            "shop/db-5",
            "shop/db-6",
            "shop/job-0",
            "shop/job-1"
        ]
    );
    let web = &m.cluster.pods[0];
    assert_eq!(web.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(web.container_ports.len(), 2);
    assert_eq!(web.container_ports[1].protocol, Protocol::Udp);
    let shop = m.cluster.namespaces.iter().find(|n| n.name == "shop").unwrap();
    assert_eq!(
        shop.labels.get("kubernetes.io/metadata.name").map(String::as_str),
        Some("shop")
    );
    assert_eq!(shop.labels.get("team").map(String::as_str), Some("a"));
    assert!(m.warnings.is_empty(), "{}", list(&m.warnings));
}

#[test]
fn daemonsets_run_one_pod_per_node_and_honour_node_selector() {
    let nodes = "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {pool: a}}\nstatus: {addresses: [{type: InternalIP, address: 192.168.1.10}, {type: Hostname, address: n1}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2, labels: {pool: b}}\n---\n";
    let ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: kube-system}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n      hostNetwork: true\n      containers: [{name: c}]\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: only-a, namespace: kube-system}\nspec:\n  selector: {matchLabels: {app: only-a}}\n  template:\n    metadata: {labels: {app: only-a}}\n    spec:\n      nodeSelector: {pool: a}\n      containers: [{name: c}]\n";
    let m = import(&format!("{nodes}{ds}"));
    assert_eq!(
        names(&m),
        ["kube-system/agent-n1", "kube-system/agent-n2", "kube-system/only-a-n1"]
    );
    let agent1 = &m.cluster.pods[0];
    assert_eq!(agent1.node_name, "n1");
    assert_eq!(
        agent1.ips,
        vec![ip("192.168.1.10")],
        "hostNetwork pods get their node's address"
    );
    assert_eq!(agent1.host_ips, vec![ip("192.168.1.10")]);
    let n2 = m.cluster.nodes.iter().find(|n| n.name == "n2").unwrap();
    assert_eq!(
        n2.ips,
        vec![ip("172.18.0.1")],
        "a node without addresses gets the first of node_cidr"
    );
    assert_eq!(m.cluster.pods[1].ips, n2.ips);
}

#[test]
fn daemonsets_without_known_nodes_go_on_node_0_with_a_warning() {
    let m = import(&workload("DaemonSet", "apps/v1", "ds", ""));
    assert_eq!(names(&m), ["shop/ds-node-0"]);
    assert!(
        m.warnings.iter().any(|w| w.message.contains("node-0")),
        "{}",
        list(&m.warnings)
    );
    assert!(m.cluster.nodes.iter().any(|n| n.name == "node-0"));
}

#[test]
fn nodes_named_by_pods_are_inferred_and_feed_daemonsets() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {nodeName: worker-1, containers: [{name: c}]}\nstatus: {hostIP: 10.0.0.7, podIP: 10.244.9.9}\n---\n";
    let m = import(&format!("{pod}{}", workload("DaemonSet", "apps/v1", "ds", "")));
    assert_eq!(names(&m), ["shop/p", "shop/ds-worker-1"]);
    let node = &m.cluster.nodes[0];
    assert_eq!(
        (node.name.as_str(), node.ips.clone()),
        ("worker-1", vec![ip("10.0.0.7")])
    );
    assert_eq!(
        m.cluster.pods[0].ips,
        vec![ip("10.244.9.9")],
        "status.podIP is honoured"
    );
    assert_eq!(m.cluster.pods[1].host_ips, vec![ip("10.0.0.7")]);
}

#[test]
fn pod_addresses_are_assigned_in_order_skipping_taken_ones() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nstatus: {podIPs: [{ip: 10.244.0.2}, {ip: 'fd00::2'}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: c}\n";
    let m = import(text);
    let ips: Vec<Vec<IpAddr>> = m.cluster.pods.iter().map(|p| p.ips.clone()).collect();
    assert_eq!(
        ips,
        vec![
            vec![ip("10.244.0.1")],
            vec![ip("10.244.0.2"), ip("fd00::2")],
            vec![ip("10.244.0.3")]
        ]
    );
    // Same input, same output; and the pod CIDR is an option.
    assert_eq!(import(text), m);
    let opts = ImportOptions {
        pod_cidr: "100.64.0.0/24".parse().unwrap(),
        ..ImportOptions::default()
    };
    let m = load_str("t.yaml", text, &opts).unwrap();
    assert_eq!(m.cluster.pods[0].ips, vec![ip("100.64.0.1")]);
}

#[test]
fn undeclared_namespaces_are_created_with_a_warning() {
    let m = import("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: team-x}\n");
    let ns = m
        .cluster
        .namespaces
        .iter()
        .find(|n| n.name == "team-x")
        .expect("created");
    assert_eq!(ns.labels.len(), 1);
    let w = error_at(&m.warnings, "metadata.namespace");
    assert_eq!(w.object.as_deref(), Some("Pod team-x/a"));
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n  - {name: dns, port: 53, targetPort: dns, protocol: UDP}\n  - {name: raw, port: 9000, targetPort: 9001}\n---\n";

#[test]
fn services_get_cluster_ips_and_resolve_named_target_ports() {
    let other = "apiVersion: v1\nkind: Pod\nmetadata: {name: lonely, namespace: shop, labels: {app: web}}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: fixed, namespace: shop}\nspec: {clusterIP: 10.96.0.2, ports: [{port: 1}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: headless, namespace: shop}\nspec: {clusterIP: None, ports: [{port: 1}]}\n";
    let m = import(&format!(
        "{}{SERVICE}{other}",
        workload("Deployment", "apps/v1", "web", "  replicas: 2\n")
    ));
    let web = m.service("shop", "web").unwrap();
    assert_eq!(
        web.cluster_ips,
        vec![ip("10.96.0.3")],
        "10.96.0.1 is the kubernetes Service's, .2 is taken"
    );
    assert_eq!(m.service("shop", "fixed").unwrap().cluster_ips, vec![ip("10.96.0.2")]);
    assert!(m.service("shop", "headless").unwrap().cluster_ips.is_empty());
    assert_eq!(web.ports[0].target_port, IntOrString::String("http".into()));
    let eps = m.endpoints(web);
    let view: Vec<(String, u16, Protocol)> = eps.iter().map(|e| (e.port_name.clone(), e.port, e.protocol)).collect();
    // Two web pods have http and dns; the lonely pod has no container ports, so only the
    // numeric target port reaches it.
    assert_eq!(
        view,
        vec![
            ("http".into(), 8080, Protocol::Tcp),
            ("http".into(), 8080, Protocol::Tcp),
            ("dns".into(), 53, Protocol::Udp),
            ("dns".into(), 53, Protocol::Udp),
            ("raw".into(), 9001, Protocol::Tcp),
            ("raw".into(), 9001, Protocol::Tcp),
            ("raw".into(), 9001, Protocol::Tcp),
        ]
    );
    assert_eq!(eps[0].pod, m.cluster.pod_by_name("shop", "web-0"));
}

#[test]
fn endpoint_slices_take_precedence_over_selectors() {
    let slice = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints:\n- addresses: [10.1.2.3]\n  conditions: {ready: false}\n- addresses: [10.1.2.4]\nports: [{name: http, port: 8443, protocol: TCP}]\n";
    let m = import(&format!(
        "{}{SERVICE}{slice}",
        workload("Deployment", "apps/v1", "web", "")
    ));
    let eps = m.endpoints(m.service("shop", "web").unwrap());
    let view: Vec<(IpAddr, u16, bool)> = eps.iter().map(|e| (e.ip, e.port, e.ready)).collect();
    assert_eq!(view, vec![(ip("10.1.2.3"), 8443, false), (ip("10.1.2.4"), 8443, true)]);
    assert_eq!(m.endpoint_slices[0].service_name, "web");
}
