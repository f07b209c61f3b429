//! End-to-end tests of `cnsim import`: manifests → a scenario that loads and runs.

mod common;
use common::{cnsim, run_json, scratch, stderr};

#[test]
fn imported_zero_trust_reproduces_its_workloads_services_and_policies() {
    let dir = scratch("import");
    let out = dir.join("nested/zt.ron");
    let o = cnsim(&[
        "import",
        "--manifests",
        "scenarios/zero-trust",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(r#"name: "backend", replicas: 3, labels: {"app": "backend", "tier": "api"}"#),
        "{text}"
    );
    assert!(text.contains(r#"target_port: "api""#), "{text}");
    // Add a flow the policies deny, and one they allow, and run it.
    let with_traffic = text.replace(
        "traffic: [],",
        r#"traffic: [
        (name: "ok", from: "shop/frontend", to: "shop/svc/backend:80", protocol: TCP, rate: "10pps"),
        (name: "denied", from: "shop/backend", to: "shop/frontend:80", protocol: TCP, rate: "10pps"),
    ],"#,
    );
    std::fs::write(&out, with_traffic).unwrap();
    let v = run_json(out.to_str().unwrap(), &[]);
    let variant = &v["variants"][0];
    assert_eq!(variant["network_policy"]["network_policies"], 5);
    let flows = variant["flows"].as_array().unwrap();
    let flow = |name: &str| flows.iter().find(|f| f["name"] == name).unwrap();
    assert_eq!(flow("ok")["dropped"], 0, "{}", flow("ok"));
    assert!(flow("ok")["delivered"].as_u64().unwrap() > 0);
    assert_eq!(flow("denied")["delivered"], 0);
    assert_eq!(flow("denied")["dropped"], flow("denied")["sent"]);
    assert!(variant["packets"]["dropped"]["policy-denied"].as_u64().unwrap() > 0);
}

#[test]
fn invalid_manifests_are_exit_2_and_write_nothing() {
    let dir = scratch("import-bad");
    std::fs::write(
        dir.join("bad.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: prod}\nspec:\n  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}}]\n",
    )
    .unwrap();
    let out = dir.join("s.ron");
    let o = cnsim(&[
        "import",
        "--manifests",
        dir.join("bad.yaml").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("bad.yaml") && err.contains("except"), "{err}");
    assert!(!out.exists());
}
