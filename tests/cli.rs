//! End-to-end tests of the `cnsim` binary: the JSON contract of DESIGN.md, determinism across
//! runs and threads, and the bad-input rules (exit 2, file:line:column and field named).

mod common;

use common::*;

const QUICKSTART: &str = "scenarios/quickstart.ron";

#[test]
fn run_json_holds_the_contracted_fields_in_scenario_order() {
    let j = run_json(QUICKSTART, &[]);
    assert_eq!(j["schema"], 1);
    assert_eq!(j["scenario"], "quickstart");
    assert_eq!(j["seed"], 42);
    assert!(j["cnsim_version"].is_string());
    let variants = j["variants"].as_array().unwrap();
    let names: Vec<&str> = variants.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["underlay", "overlay"]);
    for v in variants {
        assert!(v["digest"].as_str().unwrap().starts_with("v2:"));
        assert!(v["events"].as_u64().unwrap() > 0);
        let nodes = v["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 5);
        for n in nodes {
            for k in ["name", "az", "instance_type"] {
                assert!(n[k].is_string(), "node field {k}");
            }
        }
        let p = &v["packets"];
        let sent = p["sent"].as_u64().unwrap();
        let delivered = p["delivered"].as_u64().unwrap();
        let dropped: u64 = p["dropped"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_u64().unwrap())
            .sum();
        let in_flight = p["in_flight"].as_u64().unwrap();
        // Every packet sent is accounted for exactly once.
        assert_eq!(sent, delivered + dropped + in_flight, "{v}");
        assert!(delivered > 30_000, "the quickstart delivers its traffic");
        let l = &v["latency_ns"];
        let (p50, p90, p99, max) = (
            l["p50"].as_u64().unwrap(),
            l["p90"].as_u64().unwrap(),
            l["p99"].as_u64().unwrap(),
            l["max"].as_u64().unwrap(),
        );
        assert!(p50 <= p90 && p90 <= p99 && p99 <= max);
    }
    // The data node group is pinned to two AZs; every AZ of the scenario holds a node.
    let azs: std::collections::BTreeSet<&str> = variants[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["az"].as_str().unwrap())
        .collect();
    assert_eq!(azs.len(), 3);
}

#[test]
fn the_same_seed_replays_bit_exactly_and_another_seed_does_not() {
    let a = run_json(QUICKSTART, &[]);
    let b = run_json(QUICKSTART, &[]);
    assert_eq!(a, b, "two runs of the same scenario and seed differ");
    let c = run_json(QUICKSTART, &["--seed", "43"]);
    assert_eq!(c["seed"], 43);
    assert_ne!(a["variants"][0]["digest"], c["variants"][0]["digest"]);
}

#[test]
fn verify_passes_and_prints_one_digest_per_run_and_variant() {
    let o = cnsim(&["verify", QUICKSTART, "--runs", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let digests: std::collections::BTreeSet<&str> = out
        .lines()
        .filter(|l| l.contains("underlay"))
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(out.lines().filter(|l| l.starts_with("run ")).count(), 6);
    assert_eq!(digests.len(), 1, "{out}");
}

#[test]
fn table_output_names_every_variant_and_the_digest() {
    let o = cnsim(&["run", QUICKSTART]);
    assert!(o.status.success());
    let out = stdout(&o);
    let j = run_json(QUICKSTART, &[]);
    for v in j["variants"].as_array().unwrap() {
        assert!(out.contains(v["name"].as_str().unwrap()));
        assert!(out.contains(v["digest"].as_str().unwrap()), "table lacks the digest");
    }
    for label in [
        "latency p50",
        "latency p99",
        "dropped",
        "cross-AZ bytes",
        "events/s (wall)",
    ] {
        assert!(out.contains(label), "table lacks {label}");
    }
}

/// Writes a copy of quickstart with each `from` replaced by its `to` and runs it.
fn run_broken(name: &str, edits: &[(&str, &str)]) -> (i32, String, String) {
    let mut text = std::fs::read_to_string(root().join(QUICKSTART)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "fixture text {from:?} not in quickstart");
        text = text.replacen(from, to, 1);
    }
    let dir = scratch(name);
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(&path, text).unwrap();
    let o = cnsim(&["run", path.to_str().unwrap()]);
    (o.status.code().unwrap_or(-1), stderr(&o), path.display().to_string())
}

fn line_of(path: &str, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn malformed_ron_is_exit_2_with_file_line_and_field() {
    let (code, err, path) = run_broken("malformed", &[("seed: 42,", "seed: 42")]);
    assert_eq!(code, 2, "{err}");
    let line = line_of(&path, "duration:");
    assert!(err.contains(&format!("{path}:{line}:")), "{err}");
    assert!(err.contains("seed"), "names the field before the syntax error: {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn unknown_instance_type_is_exit_2_with_suggestions() {
    let (code, err, path) = run_broken("instance", &[("\"m5.large\"", "\"m5.hugeish\"")]);
    assert_eq!(code, 2, "{err}");
    let line = line_of(&path, "m5.hugeish");
    assert!(err.contains(&format!("{path}:{line}:")), "{err}");
    assert!(err.contains("node_groups[0].instance_type"), "{err}");
    assert!(err.contains("\"m5.large\""), "suggests real types: {err}");
}

#[test]
fn subnet_outside_the_vpc_is_exit_2() {
    let (code, err, path) = run_broken("outside", &[("\"10.0.48.0/20\"", "\"10.9.48.0/20\"")]);
    assert_eq!(code, 2, "{err}");
    let line = line_of(&path, "10.9.48.0/20");
    assert!(err.contains(&format!("{path}:{line}:")), "{err}");
    assert!(
        err.contains("vpc.subnets[5].cidr") && err.contains("outside the VPC CIDR"),
        "{err}"
    );
}

#[test]
fn overlapping_subnets_are_exit_2_and_every_error_is_listed() {
    // Two problems at once: an overlap and an unknown AZ. Both are reported.
    let (code, err, path) = run_broken(
        "overlap",
        &[
            ("\"10.0.32.0/20\"", "\"10.0.16.0/21\""),
            (
                "az: \"us-east-1c\", cidr: \"10.0.2.0/24\"",
                "az: \"us-east-1z\", cidr: \"10.0.2.0/24\"",
            ),
        ],
    );
    assert_eq!(code, 2, "{err}");
    let line = line_of(&path, "10.0.16.0/21");
    assert!(
        err.contains(&format!(":{line}:"))
            && err.contains("vpc.subnets[4].cidr")
            && err.contains("overlaps subnet \"private-a\""),
        "{err}"
    );
    assert!(err.contains("vpc.subnets[2].az") && err.contains("us-east-1z"), "{err}");
    assert!(err.contains("2 errors"), "{err}");
}

#[test]
fn a_bad_variant_override_names_the_variant_and_its_line() {
    let (code, err, path) = run_broken(
        "variant",
        &[("\"network.mode\": \"Overlay\"", "\"network.mode\": \"Overlayy\"")],
    );
    assert_eq!(code, 2, "{err}");
    let line = line_of(&path, "Overlayy");
    assert!(err.contains(&format!("{path}:{line}:")), "{err}");
    assert!(
        err.contains("(in variant \"overlay\")") && err.contains("Underlay"),
        "{err}"
    );
}

#[test]
fn out_dir_gets_results_json_and_survives_a_failed_run() {
    let dir = scratch("out");
    let out = dir.join("report");
    let o = cnsim(&["run", QUICKSTART, "--out", out.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success());
    let written = std::fs::read(out.join("results.json")).unwrap();
    assert_eq!(written, o.stdout, "results.json equals the printed JSON");
    // A bad scenario must not touch the earlier output.
    let bad = dir.join("bad.ron");
    std::fs::write(&bad, "Scenario(").unwrap();
    let o = cnsim(&["run", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(out.join("results.json")).unwrap(), written);
}

#[test]
fn usage_errors_are_exit_2_and_help_is_exit_0() {
    assert_eq!(cnsim(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(cnsim(&["run"]).status.code(), Some(2));
    assert_eq!(cnsim(&["verify", QUICKSTART, "--runs", "0"]).status.code(), Some(2));
    assert_eq!(cnsim(&["--help"]).status.code(), Some(0));
    assert_eq!(cnsim(&["run", "does/not/exist.ron"]).status.code(), Some(2));
}

const HEADLINE: &str = "scenarios/1000-services-iptables-vs-ipvs.ron";

#[test]
fn trace_json_holds_the_contracted_fields() {
    let j = cnsim_json(&[
        "trace",
        HEADLINE,
        "--from",
        "app/client-0",
        "--to",
        "bulk/svc/svc-7:80",
        "--format",
        "json",
    ]);
    assert_eq!(j["schema"], 1);
    assert_eq!(j["verdict"], "delivered");
    let backend = j["backend"].as_str().unwrap();
    assert!(
        backend.starts_with("10.244.") && backend.ends_with(":8080"),
        "{backend}"
    );
    assert!(j["reason"].is_null());
    let hops = j["hops"].as_array().unwrap();
    assert!(hops.len() >= 4);
    for h in hops {
        for k in ["hop", "node", "detail"] {
            assert!(h[k].is_string(), "hop field {k}: {h}");
        }
    }
    // Every variant traces; an unknown one says which exist.
    for v in ["iptables", "ipvs", "nftables", "ebpf"] {
        let o = cnsim(&[
            "trace",
            HEADLINE,
            "--from",
            "app/client-0",
            "--to",
            "bulk/svc/svc-7:80",
            "--variant",
            v,
        ]);
        assert!(
            o.status.success() && stdout(&o).contains("verdict: delivered"),
            "{v}: {}",
            stderr(&o)
        );
    }
    bad_input(
        &[
            "trace",
            HEADLINE,
            "--from",
            "app/client-0",
            "--to",
            "bulk/svc/svc-7:80",
            "--variant",
            "bpf",
        ],
        &["iptables, ipvs, nftables, ebpf"],
    );
}

#[test]
fn datapath_dump_prints_each_modes_own_format() {
    let cases = [
        ("iptables", "-A KUBE-SERVICES"),
        ("nftables", "add table ip kube-proxy"),
        ("ipvs", "-A -t 172.20."),
        ("ebpf", "SERVICE ADDRESS"),
    ];
    for (mode, needle) in cases {
        let o = cnsim(&["datapath", "dump", HEADLINE, "--node", "workers-1", "--mode", mode]);
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains(needle), "{mode} dump lacks {needle:?}");
        assert!(text.lines().count() > 1000, "{mode}: 1000 Services make a long dump");
    }
    // Names the valid nodes.
    bad_input(
        &["datapath", "dump", HEADLINE, "--node", "nope", "--mode", "iptables"],
        &["workers-0"],
    );
}
