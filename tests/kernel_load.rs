//! The real kernel loads what `cnsim datapath dump` prints for the headline scenario: the
//! iptables dump through `iptables-restore` and the nftables dump through `nft -f`, inside a
//! throwaway network namespace (a real load, stricter than `--test`: an undefined chain fails),
//! and reads every rule back.
//!
//! Needs root, `ip netns`, iptables and nftables. Without them the test says why and passes,
//! unless CNSIM_REQUIRE_KERNEL=1 (set by .ci/run, which installs them), where it fails.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

const HEADLINE: &str = "scenarios/1000-services-iptables-vs-ipvs.ron";
const NODE: &str = "workers-0";

/// A network namespace deleted when dropped, so a failing test leaves nothing behind.
struct Netns(String);

impl Netns {
    fn create(tag: &str) -> Result<Netns, String> {
        let name = format!("cnsim-{tag}-{}", std::process::id());
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| format!("ip: {e}"))?;
        if !out.status.success() {
            return Err(format!("ip netns add: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(Netns(name))
    }

    /// Runs `cmd args` in the namespace with `stdin` as input; returns stdout.
    fn run(&self, cmd: &str, args: &[&str], stdin: &str) -> Result<String, String> {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, cmd])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{cmd}: {e}"))?;
        let mut input = child.stdin.take().expect("piped");
        let text = stdin.to_string();
        let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
        let out = child.wait_with_output().map_err(|e| format!("{cmd}: {e}"))?;
        writer
            .join()
            .expect("writer thread")
            .map_err(|e| format!("{cmd} stdin: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{cmd} {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Why the kernel test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("not running as root (network namespaces need it)".into());
    }
    for tool in ["ip", "iptables-restore", "iptables-save", "nft"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "{tool} is not installed (apt-get install iproute2 iptables nftables)"
            ));
        }
    }
    None
}

fn skip_or_fail(reason: &str) {
    if std::env::var_os("CNSIM_REQUIRE_KERNEL").is_some() {
        panic!("kernel validation required but cannot run: {reason}");
    }
    eprintln!("SKIPPED kernel load test: {reason}");
}

fn dump(mode: &str) -> String {
    let o = cnsim(&["datapath", "dump", HEADLINE, "--node", NODE, "--mode", mode]);
    assert!(o.status.success(), "dump {mode}: {}", stderr(&o));
    stdout(&o)
}

/// `-A CHAIN ...` lines per chain, from an iptables-restore or iptables-save text.
fn rules_per_chain(text: &str) -> std::collections::BTreeMap<(String, String), usize> {
    let mut table = String::new();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split_whitespace().next().unwrap_or_default().to_string();
            *out.entry((table.clone(), chain)).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn the_kernel_loads_every_iptables_rule_of_the_headline_dump() {
    if let Some(reason) = missing_prerequisite() {
        return skip_or_fail(&reason);
    }
    let text = dump("iptables");
    let ns = Netns::create("ipt").unwrap_or_else(|e| panic!("{e}"));
    ns.run("iptables-restore", &[], &text).unwrap_or_else(|e| panic!("{e}"));
    let saved = ns.run("iptables-save", &[], "").unwrap_or_else(|e| panic!("{e}"));
    let (want, got) = (rules_per_chain(&text), rules_per_chain(&saved));
    let total: usize = want.values().sum();
    assert!(total > 30_000, "the headline dump holds its rules ({total})");
    for (chain, n) in &want {
        assert_eq!(
            got.get(chain),
            Some(n),
            "chain {chain:?}: {n} rules dumped, {:?} in the kernel",
            got.get(chain)
        );
    }
}

#[test]
fn the_kernel_loads_every_nftables_rule_of_the_headline_dump() {
    if let Some(reason) = missing_prerequisite() {
        return skip_or_fail(&reason);
    }
    let text = dump("nftables");
    let ns = Netns::create("nft").unwrap_or_else(|e| panic!("{e}"));
    ns.run("nft", &["-f", "-"], &text).unwrap_or_else(|e| panic!("{e}"));
    let listed = ns
        .run("nft", &["-a", "list", "table", "ip", "kube-proxy"], "")
        .unwrap_or_else(|e| panic!("{e}"));
    let dumped_chains: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("add chain ip kube-proxy "))
        .map(|c| c.split_whitespace().next().unwrap_or_default())
        .collect();
    let listed_chains: BTreeSet<&str> = listed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("chain "))
        .map(|c| c.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(dumped_chains, listed_chains);
    // In `nft -a` output every rule line ends with its handle; chain, set and map headers too.
    let rule_lines = listed
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.contains("# handle")
                && !l.starts_with("chain ")
                && !l.starts_with("set ")
                && !l.starts_with("map ")
                && !l.starts_with("table ")
        })
        .count();
    let dumped_rules = text.lines().filter(|l| l.starts_with("add rule ")).count();
    assert!(
        dumped_rules > 20_000,
        "the headline dump holds its rules ({dumped_rules})"
    );
    assert_eq!(rule_lines, dumped_rules, "every rule of the dump is in the kernel");
}
