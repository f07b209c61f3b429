//! The real kernel accepts what cnsim generates: the dump of a varied ruleset (ClusterIP,
//! NodePort, LoadBalancer with source ranges, externalTrafficPolicy Local, external IPs,
//! affinity, a Service without endpoints, one with Local internal policy) is loaded with
//! `iptables-restore` inside a throwaway network namespace — a real load, stricter than
//! `--test` (every jump must land on a chain, every match module must accept its options) —
//! and `iptables-save` there must hold as many rules in every chain as the dump.
//!
//! Needs root, `ip netns` and iptables; without them the test prints why and passes without
//! checking, unless CNSIM_REQUIRE_KERNEL=1 (set by .ci/run, which installs them).

use cnsim_services::iptables::{IptablesFast, ProxierConfig};
use cnsim_services::testing::{cluster_ip_services, node_view};
use cnsim_services::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

fn varied_set() -> ServiceSet {
    let mut set = cluster_ip_services(12, 3);
    let s = &mut set.services;
    s[1].kind = ServiceType::NodePort;
    s[1].ports[0].node_port = Some(30001);
    s[2].kind = ServiceType::LoadBalancer;
    s[2].ports[0].node_port = Some(30002);
    s[2].load_balancer_ips = vec![Ipv4Addr::new(198, 51, 100, 2)];
    s[2].load_balancer_source_ranges = vec!["192.0.2.0/24".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    s[3].kind = ServiceType::LoadBalancer;
    s[3].ports[0].node_port = Some(30003);
    s[3].load_balancer_ips = vec![Ipv4Addr::new(198, 51, 100, 3)];
    s[3].external_traffic_policy = TrafficPolicy::Local;
    s[4].external_ips = vec![Ipv4Addr::new(203, 0, 113, 4)];
    s[5].session_affinity_seconds = Some(10800);
    s[6].internal_traffic_policy = TrafficPolicy::Local;
    s[7].cluster_ip = None; // headless
    s[8].kind = ServiceType::NodePort;
    s[8].ports[0].node_port = Some(30008);
    s[8].external_traffic_policy = TrafficPolicy::Local;
    s[8].ports.push(ServicePort {
        name: "dns".into(),
        protocol: Protocol::Udp,
        port: 53,
        node_port: Some(30053),
    });
    let eps8 = set.endpoints[8][0].clone();
    set.endpoints[8].push(eps8);
    set.endpoints[9][0].clear(); // no endpoints: REJECT
    set.endpoints[10][0][0].ready = false;
    set.endpoints[10][0][0].terminating = true;
    set
}

fn run(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(s.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{:?} failed: {}", args, String::from_utf8_lossy(&out.stderr)))
    }
}

/// Rules per (table, chain) in save/restore text.
fn rules_per_chain(text: &str) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    let mut table = String::new();
    for l in text.lines() {
        if let Some(t) = l.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(r) = l.strip_prefix("-A ") {
            let chain = r.split(' ').next().unwrap().to_string();
            *m.entry((table.clone(), chain)).or_insert(0) += 1;
        }
    }
    m
}

/// Skips with the reason, unless CNSIM_REQUIRE_KERNEL is set (as .ci/run sets it): then the
/// missing prerequisite is a failure.
fn skip(reason: &str) {
    if std::env::var_os("CNSIM_REQUIRE_KERNEL").is_some() {
        panic!("kernel validation required but cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

#[test]
fn kernel_loads_every_rule_of_the_dump() {
    let set = varied_set();
    let mut dp = IptablesFast::new(ProxierConfig::default());
    dp.full_sync(&set, &node_view());
    let dump = dp.dump();
    if run(&["iptables-restore", "--version"], None).is_err() {
        return skip("iptables-restore is not installed (apt-get install iptables)");
    }
    let ns = format!("cnsim-ipt-test-{}", std::process::id());
    if let Err(e) = run(&["ip", "netns", "add", &ns], None) {
        return skip(&format!("cannot create a network namespace (needs root): {e}"));
    }
    let loaded = run(&["ip", "netns", "exec", &ns, "iptables-restore"], Some(&dump));
    let saved = loaded.and_then(|_| run(&["ip", "netns", "exec", &ns, "iptables-save"], None));
    let _ = run(&["ip", "netns", "del", &ns], None);
    let saved = saved.unwrap_or_else(|e| panic!("{e}\n--- dump ---\n{dump}"));
    assert_eq!(rules_per_chain(&saved), rules_per_chain(&dump), "{saved}");
    assert!(dump.contains("--probability 0.3333333333"), "a ladder was loaded");
    assert!(dump.contains("--rcheck --seconds 10800 --reap"), "affinity was loaded");
}
