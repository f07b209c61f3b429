//! End-to-end tests of `cnsim policy check | matrix | diff` on scenarios/zero-trust's manifests.
//! Expected verdicts come from reading the policies (policies.yaml says what each allows), not
//! from running the engine.

mod common;
use common::{bad_input, cnsim, cnsim_json, scratch, stderr, stdout};

const ZT: &str = "scenarios/zero-trust";

/// `policy check --format json` on zero-trust's manifests: the exit code and the answer.
fn check(from: &str, to: &str, port: &str) -> (Option<i32>, serde_json::Value) {
    check_in(&[ZT], from, to, port)
}

fn check_in(manifests: &[&str], from: &str, to: &str, port: &str) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["policy", "check", "--manifests"];
    args.extend_from_slice(manifests);
    args.extend(["--from", from, "--to", to, "--port", port, "--format", "json"]);
    let o = cnsim(&args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    (o.status.code(), v)
}

#[test]
fn zero_trust_allows_exactly_what_its_policies_say() {
    let cases = [
        // frontend -> backend on the api port, by pod and through the Service (DNAT to 8080).
        ("shop/frontend-0", "shop/backend-2", "8080", true),
        ("shop/frontend-1", "shop/svc/backend", "80", true),
        // Not the metrics port, and not the other way round.
        ("shop/frontend-0", "shop/backend-1", "9090", false),
        ("shop/backend-0", "shop/frontend-0", "80", false),
        // backend -> the database subnet on 3306 only.
        ("shop/backend-0", "10.0.64.10", "3306", true),
        ("shop/backend-0", "10.0.65.10", "3306", false),
        ("shop/backend-0", "10.0.64.10", "5432", false),
        ("shop/frontend-0", "10.0.64.10", "3306", false),
        // DNS for everyone in shop, on UDP and TCP 53, and nothing else to kube-system.
        ("shop/frontend-1", "kube-system/coredns-0", "53/udp", true),
        ("shop/backend-1", "kube-system/coredns-1", "53/tcp", true),
        ("shop/backend-1", "kube-system/coredns-1", "54/udp", false),
        // Nothing reaches into shop from outside it.
        ("kube-system/coredns-0", "shop/backend-0", "8080", false),
    ];
    for (from, to, port, allowed) in cases {
        let (code, v) = check(from, to, port);
        assert_eq!(v["allowed"], allowed, "{from} -> {to} {port}: {v}");
        assert_eq!(code, Some(if allowed { 0 } else { 1 }), "{from} -> {to} {port}");
        assert_eq!(v["schema"], 1);
    }
}

#[test]
fn check_json_explains_each_direction_and_each_service_endpoint() {
    let (_, v) = check("shop/backend-0", "shop/frontend-0", "80");
    assert_eq!(v["egress"]["allowed"], false);
    assert_eq!(v["egress"]["decision"]["kind"], "isolated");
    let isolating = v["egress"]["decision"]["policies"].as_array().unwrap();
    assert!(isolating.iter().any(|p| p == "shop/default-deny-all"), "{v}");
    assert_eq!(v["ingress"]["decision"]["kind"], "isolated");

    let (_, v) = check("shop/frontend-0", "shop/svc/backend", "80");
    let eps = v["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 3, "one verdict per backend replica: {v}");
    for e in eps {
        assert_eq!(e["port"], 8080, "judged after DNAT, on the target port");
        assert_eq!(e["explanation"]["ingress"]["decision"]["kind"], "allowed");
        assert_eq!(e["explanation"]["ingress"]["decision"]["policy"], "frontend-to-backend");
    }
}

#[test]
fn a_service_without_endpoints_is_not_reachable_and_says_why() {
    let dir = scratch("policy-no-endpoints");
    std::fs::write(
        dir.join("svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: ghost, namespace: shop}\nspec:\n  selector: {app: nothing}\n  ports: [{port: 80}]\n",
    )
    .unwrap();
    let (code, v) = check_in(&[ZT, dir.to_str().unwrap()], "shop/frontend-0", "shop/svc/ghost", "80");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["allowed"], false);
    assert!(v["reason"].as_str().unwrap().contains("no ready endpoints"), "{v}");
}

#[test]
fn bad_questions_are_exit_2_naming_what_is_wrong() {
    let bad = |args: &[&str], needle: &str| {
        let mut a = vec!["policy", "check", "--manifests", ZT];
        a.extend_from_slice(args);
        bad_input(&a, &[needle]);
    };
    bad(
        &["--from", "shop/nobody", "--to", "shop/backend-0", "--port", "80"],
        "no pod nobody in namespace shop",
    );
    bad(
        &[
            "--from",
            "shop/frontend-0",
            "--to",
            "shop/backend-0",
            "--port",
            "80/icmp",
        ],
        "PORT[/PROTO]",
    );
    bad(
        &["--from", "shop/frontend-0", "--to", "shop/svc/backend", "--port", "81"],
        "80/TCP",
    );
    bad_input(
        &[
            "policy",
            "check",
            "--manifests",
            "no/such/dir",
            "--from",
            "a/b",
            "--to",
            "a/c",
            "--port",
            "1",
        ],
        &[],
    );
}

#[test]
fn matrix_counts_every_pair_and_marks_the_denied_ones() {
    let v = cnsim_json(&[
        "policy",
        "matrix",
        "--manifests",
        ZT,
        "--pods",
        "shop/*",
        "--port",
        "8080",
        "--format",
        "json",
    ]);
    let pods: Vec<&str> = v["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(pods.len(), 5, "2 frontends and 3 backends: {pods:?}");
    let rows: Vec<&str> = v["ports"][0]["reachable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for (i, src) in pods.iter().enumerate() {
        for (j, dst) in pods.iter().enumerate() {
            // Only frontend -> backend on 8080, plus each pod to itself (cnsim's documented
            // choice: a pod reaching itself is not subject to policy).
            let want = i == j || (src.contains("frontend") && dst.contains("backend"));
            let got = rows[i].as_bytes()[j] == b'.';
            assert_eq!(got, want, "{src} -> {dst}");
        }
    }
    assert_eq!(v["ports"][0]["denied"], 25 - 5 - 6);
}

#[test]
fn diff_lists_the_flows_a_default_deny_would_break_with_both_reasons() {
    let v = cnsim_json(&[
        "policy",
        "diff",
        "--before",
        "scenarios/zero-trust/workloads.yaml",
        "--after",
        ZT,
        "--port",
        "8080",
        "--format",
        "json",
    ]);
    let changes = v["changes"].as_array().unwrap();
    // 9 pods: every ordered pair into or out of shop on 8080 that is not frontend -> backend,
    // and not a pod to itself, goes from allowed to denied.
    assert!(changes.iter().all(|c| c["before"] == true && c["after"] == false));
    assert!(!changes
        .iter()
        .any(|c| c["from"].as_str().unwrap().contains("frontend") && c["to"].as_str().unwrap().contains("backend")));
    let c = changes
        .iter()
        .find(|c| c["from"] == "shop/backend-0" && c["to"] == "shop/frontend-1")
        .expect("backend -> frontend breaks");
    assert!(c["before_reason"].as_str().unwrap().contains("not isolated"), "{c}");
    assert!(c["after_reason"].as_str().unwrap().contains("default-deny-all"), "{c}");
    let table = stdout(&cnsim(&[
        "policy",
        "diff",
        "--before",
        "scenarios/zero-trust/workloads.yaml",
        "--after",
        ZT,
        "--port",
        "8080",
    ]));
    assert!(table.starts_with(&format!("{} of ", changes.len())), "{table}");
}
