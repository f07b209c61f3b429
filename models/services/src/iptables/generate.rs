//! kube-proxy's iptables proxier `syncProxyRules` (kubernetes release 1.31 line) as a pure
//! function: a `ServiceSet` on a `NodeView` becomes the filter and nat tables, with each rule
//! in the order and text kube-proxy writes it, plus the jump rules kube-proxy ensures in the
//! built-in chains. Per-service chains are tagged with their service so partial syncs can
//! leave them out of the restore text.

use super::arena::ArenaStr;
use super::build::{Recycled, TableBuilder};
use super::names::*;
use super::rule::*;
use crate::model::{Categorized, DropReason, NodeView, ServiceSet};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// kube-proxy's options that change the rules. Defaults are kube-proxy's defaults on a
/// current kernel and iptables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxierConfig {
    /// `--masquerade-all`.
    pub masquerade_all: bool,
    /// `--iptables-localhost-nodeports` (default true): NodePorts answer on 127.0.0.0/8, and
    /// kube-proxy writes kubelet's KUBE-FIREWALL guard.
    pub localhost_nodeports: bool,
    /// iptables supports `MASQUERADE --random-fully` (every iptables since 1.6.2).
    pub random_fully: bool,
    /// The nfacct counters could be created (needs the nfnetlink_acct module); adds
    /// `-m nfacct` to two rules. Off by default: loading those rules needs the counters to
    /// exist first.
    pub nfacct: bool,
    /// `net.netfilter.nf_conntrack_tcp_be_liberal` is set: no INVALID drop rule.
    pub conntrack_tcp_liberal: bool,
    /// `--iptables-masquerade-bit` (default 14 → mark 0x4000).
    pub masquerade_bit: u8,
}

impl Default for ProxierConfig {
    fn default() -> Self {
        ProxierConfig {
            masquerade_all: false,
            localhost_nodeports: true,
            random_fully: true,
            nfacct: false,
            conntrack_tcp_liberal: false,
            masquerade_bit: 14,
        }
    }
}

/// Above this many endpoints kube-proxy leaves the per-endpoint comments out.
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

const LOCALHOST_NODEPORT_NFACCT: &str = "localhost_nps_accepted_pkts";
const INVALID_DROPPED_NFACCT: &str = "ct_state_invalid_dropped_pkts";

/// The generated state of one node.
#[derive(Clone, Debug)]
pub struct Ruleset {
    pub filter: Table,
    pub nat: Table,
    /// Where in nat's `write_order` kube-proxy writes its `-X` lines for stale chains (before
    /// the final KUBE-NODEPORTS jump of KUBE-SERVICES).
    pub nat_delete_at: usize,
    pub large_cluster_mode: bool,
    /// The node's addresses (`addrtype LOCAL` also covers 127.0.0.0/8).
    pub local_addrs: Vec<Ipv4Addr>,
}

impl Ruleset {
    pub fn is_local(&self, a: Ipv4Addr) -> bool {
        a.is_loopback() || self.local_addrs.contains(&a)
    }

    /// Takes the ruleset apart for the next generation to write into (`generate_into`),
    /// keeping the names of its declared nat per-service chains (for stale-chain deletion).
    pub fn recycle(self) -> (Vec<ArenaStr>, Reuse) {
        let (_, filter) = self.filter.recycle(|_| false);
        let (service_chains, nat) = self.nat.recycle(is_service_chain);
        (service_chains, Reuse { filter, nat })
    }
}

/// Service-port order: kube-proxy ranges over a Go map (a different order on every sync);
/// cnsim writes services sorted by port name and protocol, the order kube-proxy's own tests
/// normalise to. The mean position of a service in KUBE-SERVICES is the same either way.
pub fn service_port_order(set: &ServiceSet) -> Vec<(usize, usize)> {
    let mut v: Vec<(String, &'static str, usize, usize)> = Vec::new();
    for (s, svc) in set.services.iter().enumerate() {
        if svc.cluster_ip.is_none() {
            continue; // headless: kube-proxy's service tracker skips it entirely
        }
        for (p, port) in svc.ports.iter().enumerate() {
            v.push((svc.port_name(p), port.protocol.as_lower(), s, p));
        }
    }
    v.sort();
    v.into_iter().map(|(_, _, s, p)| (s, p)).collect()
}

struct Gen<'a> {
    cfg: &'a ProxierConfig,
    node: &'a NodeView,
    mark: u32,
    filter: TableBuilder,
    nat: TableBuilder,
    large: bool,
    masq_id: u32,
    probabilities: Probabilities,
    fixed: Fixed,
}

/// The fixed chains every service port writes into.
#[derive(Clone, Copy)]
struct Fixed {
    nat_services: u32,
    nat_nodeports: u32,
    filter_services: u32,
    filter_external: u32,
    filter_firewall: u32,
}

/// A previous ruleset's buffers (`Ruleset::recycle`).
#[derive(Debug, Default)]
pub struct Reuse {
    filter: Recycled,
    nat: Recycled,
}

/// Generates the whole ruleset (what a full sync writes).
pub fn generate(set: &ServiceSet, node: &NodeView, cfg: &ProxierConfig) -> Ruleset {
    generate_into(set, node, cfg, Reuse::default())
}

/// `generate`, writing into a previous ruleset's buffers.
pub fn generate_into(set: &ServiceSet, node: &NodeView, cfg: &ProxierConfig, reuse: Reuse) -> Ruleset {
    // Per-service chain names are unique unless two Service ports share a name (or two
    // hashes their first 80 bits): then the chains are found by name, as kube-proxy's maps
    // would merge them.
    generate_with(set, node, cfg, reuse, true).unwrap_or_else(|| {
        generate_with(set, node, cfg, Reuse::default(), false).expect("chains found by name are unique")
    })
}

fn generate_with(
    set: &ServiceSet,
    node: &NodeView,
    cfg: &ProxierConfig,
    reuse: Reuse,
    trust_unique: bool,
) -> Option<Ruleset> {
    set.assert_consistent();
    assert!(cfg.masquerade_bit < 32, "mark bit within 32 bits");
    let mut filter = TableBuilder::new("filter", &["INPUT", "FORWARD", "OUTPUT"], reuse.filter, trust_unique);
    let mut nat = TableBuilder::new(
        "nat",
        &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        reuse.nat,
        trust_unique,
    );
    for c in [
        KUBE_SERVICES,
        KUBE_EXTERNAL_SERVICES,
        KUBE_FORWARD,
        KUBE_NODEPORTS,
        KUBE_PROXY_FIREWALL,
    ] {
        filter.declare(c, None);
    }
    for c in [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ] {
        nat.declare(c, None);
    }
    let masq_id = nat.chain_id(KUBE_MARK_MASQ);
    let fixed = Fixed {
        nat_services: nat.chain_id(KUBE_SERVICES),
        nat_nodeports: nat.chain_id(KUBE_NODEPORTS),
        filter_services: filter.chain_id(KUBE_SERVICES),
        filter_external: filter.chain_id(KUBE_EXTERNAL_SERVICES),
        filter_firewall: filter.chain_id(KUBE_PROXY_FIREWALL),
    };
    let order = service_port_order(set);
    // Categorize first: large-cluster mode depends on the total, before any rule is written.
    let cats: Vec<Categorized<'_>> = order.iter().map(|&(s, p)| set.categorize(s, p, &node.name)).collect();
    let total_endpoints: usize = cats.iter().map(|c| c.endpoints.len()).sum();
    let mut g = Gen {
        cfg,
        node,
        mark: 1u32 << cfg.masquerade_bit,
        filter,
        nat,
        large: total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
        masq_id,
        probabilities: Probabilities::default(),
        fixed,
    };
    g.builtin_jumps();
    g.fixed_head();
    for (&(s, p), cat) in order.iter().zip(&cats) {
        g.service_port(set, s, p, cat);
    }
    drop(cats);
    let nat_delete_at = g.nat.rules_written();
    g.fixed_tail();
    let filter = g.filter.finish()?;
    let nat = g.nat.finish()?;
    filter.assert_jumps_resolve();
    nat.assert_jumps_resolve();
    Some(Ruleset {
        filter,
        nat,
        nat_delete_at,
        large_cluster_mode: g.large,
        local_addrs: node.node_ips.clone(),
    })
}

/// `"text"`, as kube-proxy quotes comments with spaces.
struct Quoted<T>(T);

impl<T: std::fmt::Display> std::fmt::Display for Quoted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

impl Gen<'_> {
    /// kube-proxy's `iptablesJumpChains`, each inserted at the top of its built-in chain with
    /// `iptables -I` (so the last one listed ends up first), above kubelet's KUBE-FIREWALL
    /// jumps, which kubelet installed before kube-proxy started (kube-proxy's own ensure of
    /// them then finds them present and leaves them where they are).
    fn builtin_jumps(&mut self) {
        const NEW: Option<&str> = Some("NEW");
        #[rustfmt::skip]
        let jumps: [(bool, &str, &str, &str, Option<&str>); 12] = [
            (false, KUBE_EXTERNAL_SERVICES, "INPUT", "kubernetes externally-visible service portals", NEW),
            (false, KUBE_EXTERNAL_SERVICES, "FORWARD", "kubernetes externally-visible service portals", NEW),
            (false, KUBE_NODEPORTS, "INPUT", "kubernetes health check service ports", None),
            (false, KUBE_SERVICES, "FORWARD", "kubernetes service portals", NEW),
            (false, KUBE_SERVICES, "OUTPUT", "kubernetes service portals", NEW),
            (false, KUBE_FORWARD, "FORWARD", "kubernetes forwarding rules", None),
            (false, KUBE_PROXY_FIREWALL, "INPUT", "kubernetes load balancer firewall", NEW),
            (false, KUBE_PROXY_FIREWALL, "OUTPUT", "kubernetes load balancer firewall", NEW),
            (false, KUBE_PROXY_FIREWALL, "FORWARD", "kubernetes load balancer firewall", NEW),
            (true, KUBE_SERVICES, "OUTPUT", "kubernetes service portals", None),
            (true, KUBE_SERVICES, "PREROUTING", "kubernetes service portals", None),
            (true, KUBE_POSTROUTING, "POSTROUTING", "kubernetes postrouting rules", None),
        ];
        // Prepending in list order = appending in reverse order.
        for (is_nat, dst, src, comment, ct) in jumps.into_iter().rev() {
            let table = if is_nat { &mut self.nat } else { &mut self.filter };
            let (src, dst) = (table.chain_id(src), table.chain_id(dst));
            let mut b = table.builtin_rule(src);
            if let Some(state) = ct {
                b = b.ctstate(CT_NEW, state, false);
            }
            b.comment(Quoted(comment)).jump(dst);
        }
        let fw = self.filter.chain_id(KUBE_FIREWALL);
        for src in ["INPUT", "OUTPUT"] {
            let src = self.filter.chain_id(src);
            self.filter.builtin_rule(src).jump(fw);
        }
    }

    fn fixed_head(&mut self) {
        let m = self.mark;
        let post = self.nat.chain_id(KUBE_POSTROUTING);
        self.nat.rule(post, None).mark(m, m, true).ret();
        self.nat.rule(post, None).mark_xor(m);
        self.nat
            .rule(post, None)
            .comment(Quoted("kubernetes service traffic requiring SNAT"))
            .masquerade(self.cfg.random_fully);
        self.nat.rule(self.masq_id, None).mark_or(m);
        if self.cfg.localhost_nodeports {
            let fw = self.filter.declare(KUBE_FIREWALL, None);
            let lo: Ipv4Net = "127.0.0.0/8".parse().expect("constant");
            self.filter
                .rule(fw, None)
                .comment(Quoted("block incoming localnet connections"))
                .dst_net(lo, false)
                .src_net(lo, true)
                .ctstate(CT_RELATED | CT_ESTABLISHED | CT_DNAT, "RELATED,ESTABLISHED,DNAT", true)
                .drop(Cause::Martian);
        }
    }

    fn fixed_tail(&mut self) {
        let np = self.nat.chain_id(KUBE_NODEPORTS);
        let services = self.nat.chain_id(KUBE_SERVICES);
        let mut b = self
            .nat
            .rule(services, None)
            .comment(Quoted(
                "kubernetes service nodeports; NOTE: this must be the last rule in this chain",
            ))
            .dst_type_local();
        if !self.cfg.localhost_nodeports {
            b = b.dst_net("127.0.0.0/8".parse().expect("constant"), true);
        }
        b.jump(np);
        let m = self.mark;
        let forward = self.filter.chain_id(KUBE_FORWARD);
        if !self.cfg.conntrack_tcp_liberal {
            let mut b = self.filter.rule(forward, None).ctstate(CT_INVALID, "INVALID", false);
            if self.cfg.nfacct {
                b = b.nfacct(INVALID_DROPPED_NFACCT);
            }
            // Never matches a first packet (always NEW); the cause is only for completeness.
            b.drop(Cause::Martian);
        }
        self.filter
            .rule(forward, None)
            .comment(Quoted("kubernetes forwarding rules"))
            .mark(m, m, false)
            .accept();
        self.filter
            .rule(forward, None)
            .comment(Quoted("kubernetes forwarding conntrack rule"))
            .ctstate(CT_RELATED | CT_ESTABLISHED, "RELATED,ESTABLISHED", false)
            .accept();
    }
}

mod service;
