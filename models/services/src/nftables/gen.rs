//! Generation of the `ip kube-proxy` table from Services and endpoints, following kube-proxy's
//! nftables proxier (`setupNFTables` for the fixed part, `syncProxyRules` and
//! `writeServiceToEndpointRules` per service port): chain names, rule text, map elements.
//!
//! Followed: kubernetes/kubernetes `pkg/proxy/nftables/proxier.go` at b0f823e6 for the
//! per-service logic, and the base chains as `proxier_test.go` at 81810de6 (`baseRules`)
//! expects them (filter chains split into `*-pre-dnat` at priority -110 and filter priority 0).

use super::ir::*;
use crate::model::*;
use data_encoding::BASE32;
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;

pub const SERVICES: &str = "services";
pub const SERVICE_IPS: &str = "service-ips";
pub const SERVICE_NODEPORTS: &str = "service-nodeports";
pub const NODEPORT_IPS: &str = "nodeport-ips";
pub const CLUSTER_IPS: &str = "cluster-ips";
pub const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
pub const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
pub const REJECT_CHAIN: &str = "reject-chain";
pub const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
pub const FIREWALL_IPS: &str = "firewall-ips";
pub const FIREWALL_CHECK: &str = "firewall-check";
pub const MARK_MASQ: &str = "mark-for-masquerade";
pub const MASQUERADING: &str = "masquerading";

pub const FILTER_PREROUTING_PRE_DNAT: &str = "filter-prerouting-pre-dnat";
pub const FILTER_OUTPUT_PRE_DNAT: &str = "filter-output-pre-dnat";
pub const FILTER_INPUT: &str = "filter-input";
pub const FILTER_FORWARD: &str = "filter-forward";
pub const FILTER_OUTPUT: &str = "filter-output";
pub const NAT_PREROUTING: &str = "nat-prerouting";
pub const NAT_OUTPUT: &str = "nat-output";
pub const NAT_POSTROUTING: &str = "nat-postrouting";

const DEST_VERDICT: &str = "ipv4_addr . inet_proto . inet_service : verdict";
const PORT_VERDICT: &str = "inet_proto . inet_service : verdict";

/// Knobs kube-proxy takes from its configuration rather than from Services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftConfig {
    /// `1 << --masquerade-bit` (default bit 14). Printed `0x4000`, as kube-proxy's test fixture
    /// does (the real proxier formats it `%#08x`, `0x004000`: the same number).
    pub masquerade_mark: u32,
}

impl Default for NftConfig {
    fn default() -> Self {
        NftConfig {
            masquerade_mark: 0x4000,
        }
    }
}

/// kube-proxy's `hashAndTruncate`: the first 8 base32 characters of SHA-256(name), a dash,
/// the name; cut to 240 characters with "..." (never reached for valid Kubernetes names).
pub fn hash_and_truncate(name: &str) -> String {
    const BASE_MAX: usize = 256 - 16;
    let digest = Sha256::digest(name.as_bytes());
    let encoded = BASE32.encode(&digest);
    let mut out = format!("{}-{}", &encoded[..8], name);
    if out.len() > BASE_MAX {
        out.truncate(BASE_MAX - 3);
        out.push_str("...");
    }
    out
}

/// `ns/name/proto/portname`, the base of a service port's chain names.
pub fn service_chain_base(svc: &Service, p: usize) -> String {
    let port = &svc.ports[p];
    hash_and_truncate(&format!(
        "{}/{}/{}/{}",
        svc.namespace,
        svc.name,
        port.protocol.as_lower(),
        port.name
    ))
}

/// `ns/name/proto/portname__ip/port`, the base of an endpoint's chain and affinity set.
pub fn endpoint_chain_base(svc: &Service, p: usize, ep: &Endpoint) -> String {
    let port = &svc.ports[p];
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{}/{}",
        svc.namespace,
        svc.name,
        port.protocol.as_lower(),
        port.name,
        ep.ip,
        ep.port
    ))
}

fn hook(kind: &'static str, hook: &'static str, priority: i32) -> Option<Hook> {
    Some(Hook { kind, hook, priority })
}

fn container(is_map: bool, type_decl: &'static str, comment: &'static str) -> Container {
    Container {
        is_map,
        type_decl,
        comment: Some(comment),
        timeout_s: None,
        elements: Default::default(),
    }
}

/// The fixed part of the table (`setupNFTables`), with `nodeport-ips` holding the node's
/// addresses: nftables mode defaults `--nodeport-addresses` to the node's primary IPs.
pub fn base_tables(node: &NodeView, cfg: &NftConfig) -> Tables {
    let mut t = Tables::default();
    let new = || vec![Match::CtStateNew];
    let jump = |c: &str| Action::Jump(c.into());
    let base = [
        (FILTER_PREROUTING_PRE_DNAT, "filter", "prerouting", -110),
        (FILTER_OUTPUT_PRE_DNAT, "filter", "output", -110),
        (FILTER_INPUT, "filter", "input", 0),
        (FILTER_FORWARD, "filter", "forward", 0),
        (FILTER_OUTPUT, "filter", "output", 0),
        (NAT_PREROUTING, "nat", "prerouting", -100),
        (NAT_OUTPUT, "nat", "output", -100),
        (NAT_POSTROUTING, "nat", "postrouting", 100),
    ];
    // Base chains get their jumps before they go into the table (which binds the targets).
    let mut base_chains: Vec<(&str, Chain)> = base
        .iter()
        .map(|&(name, kind, h, prio)| {
            let c = Chain {
                hook: hook(kind, h, prio),
                comment: None,
                rules: vec![],
            };
            (name, c)
        })
        .collect();
    // nftablesJumpChains, in kube-proxy's order (it decides rule order within base chains).
    let jumps = [
        (NODEPORT_ENDPOINTS_CHECK, FILTER_INPUT, true),
        (SERVICE_ENDPOINTS_CHECK, FILTER_INPUT, true),
        (SERVICE_ENDPOINTS_CHECK, FILTER_FORWARD, true),
        (SERVICE_ENDPOINTS_CHECK, FILTER_OUTPUT, true),
        (FIREWALL_CHECK, FILTER_PREROUTING_PRE_DNAT, true),
        (FIREWALL_CHECK, FILTER_OUTPUT_PRE_DNAT, true),
        (SERVICES, NAT_OUTPUT, false),
        (SERVICES, NAT_PREROUTING, false),
        (MASQUERADING, NAT_POSTROUTING, false),
        (CLUSTER_IPS_CHECK, FILTER_FORWARD, true),
        (CLUSTER_IPS_CHECK, FILTER_OUTPUT, true),
    ];
    for (dst, src, ct_new) in jumps {
        let m = if ct_new { new() } else { vec![] };
        let (_, chain) = base_chains.iter_mut().find(|(n, _)| *n == src).expect("base chain");
        chain.rules.push(Rule::new(m, jump(dst)));
    }
    for (name, c) in base_chains {
        t.insert_chain(name, c);
    }
    let mark = cfg.masquerade_mark;
    let regular = |rules| Chain::regular(rules);
    t.insert_chain(MARK_MASQ, regular(vec![Rule::new(vec![], Action::MarkOr(mark))]));
    t.insert_chain(
        MASQUERADING,
        regular(vec![
            Rule::new(vec![Match::MarkClear(mark)], Action::Return),
            Rule::new(vec![], Action::MarkXor(mark)),
            Rule::new(vec![], Action::Masquerade),
        ]),
    );
    // The "drop traffic to unallocated ClusterIPs" rule needs the ServiceCIDRs, which the
    // seam does not carry; kube-proxy also omits it when it knows none.
    t.insert_chain(
        CLUSTER_IPS_CHECK,
        regular(vec![Rule::new(
            vec![Match::DaddrInSet(CLUSTER_IPS.into())],
            Action::Reject,
        )
        .commented("Reject traffic to invalid ports of ClusterIPs")]),
    );
    t.insert_chain(
        REJECT_CHAIN,
        Chain {
            hook: None,
            comment: Some("helper for @no-endpoint-services / @no-endpoint-nodeports"),
            rules: vec![Rule::new(vec![], Action::Reject)],
        },
    );
    t.insert_chain(
        SERVICE_ENDPOINTS_CHECK,
        regular(vec![Rule::new(vec![], Action::VmapDest(NO_ENDPOINT_SERVICES.into()))]),
    );
    t.insert_chain(
        NODEPORT_ENDPOINTS_CHECK,
        regular(vec![Rule::new(
            vec![Match::DaddrInSet(NODEPORT_IPS.into())],
            Action::VmapPort(NO_ENDPOINT_NODEPORTS.into()),
        )]),
    );
    t.insert_chain(
        FIREWALL_CHECK,
        regular(vec![Rule::new(vec![], Action::VmapDest(FIREWALL_IPS.into()))]),
    );
    t.insert_chain(
        SERVICES,
        regular(vec![
            Rule::new(vec![], Action::VmapDest(SERVICE_IPS.into())),
            Rule::new(
                vec![Match::DaddrInSet(NODEPORT_IPS.into())],
                Action::VmapPort(SERVICE_NODEPORTS.into()),
            ),
        ]),
    );
    let c = &mut t.containers;
    c.insert(CLUSTER_IPS.into(), container(false, "ipv4_addr", "Active ClusterIPs"));
    let mut np = container(false, "ipv4_addr", "IPs that accept NodePort traffic");
    for ip in node.node_ips.iter().filter(|ip| !ip.is_loopback()) {
        let owner = Owner {
            service: NO_SERVICE,
            port: NO_PORT,
        };
        np.elements.insert(
            Key::Addr(*ip),
            Element {
                value: None,
                comment: None,
                owner,
            },
        );
    }
    c.insert(NODEPORT_IPS.into(), np);
    c.insert(
        FIREWALL_IPS.into(),
        container(
            true,
            DEST_VERDICT,
            "destinations that are subject to LoadBalancerSourceRanges",
        ),
    );
    c.insert(
        NO_ENDPOINT_NODEPORTS.into(),
        container(
            true,
            PORT_VERDICT,
            "vmap to drop or reject packets to service nodeports with no endpoints",
        ),
    );
    c.insert(
        NO_ENDPOINT_SERVICES.into(),
        container(
            true,
            DEST_VERDICT,
            "vmap to drop or reject packets to services with no endpoints",
        ),
    );
    c.insert(
        SERVICE_IPS.into(),
        container(true, DEST_VERDICT, "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    );
    c.insert(
        SERVICE_NODEPORTS.into(),
        container(true, PORT_VERDICT, "NodePort traffic"),
    );
    t
}

/// Everything one Service owns in the table: its chains, affinity sets and map elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    pub chains: Vec<(String, Chain)>,
    pub sets: Vec<(String, Container)>,
    pub elements: Vec<(&'static str, Key, Element)>,
}

impl Fragment {
    fn elem(&mut self, map: &'static str, key: Key, value: ElemVerdict, owner: Owner) {
        self.elements.push((
            map,
            key,
            Element {
                value: Some(value),
                comment: None,
                owner,
            },
        ));
    }

    fn no_ep(&mut self, map: &'static str, key: Key, value: ElemVerdict, spn: &str, o: Owner) {
        self.elements.push((
            map,
            key,
            Element {
                value: Some(value),
                comment: Some(spn.to_string()),
                owner: o,
            },
        ));
    }

    fn chain(&mut self, name: &str) -> &mut Vec<Rule> {
        if let Some(i) = self.chains.iter().position(|(n, _)| n == name) {
            return &mut self.chains[i].1.rules;
        }
        self.chains.push((name.to_string(), Chain::regular(vec![])));
        &mut self.chains.last_mut().expect("just pushed").1.rules
    }
}

/// The objects `syncProxyRules` writes for Service `s` (nothing for a headless one).
pub fn service_fragment(set: &ServiceSet, s: usize, node: &NodeView) -> Fragment {
    let mut f = Fragment::default();
    let svc = &set.services[s];
    let Some(cluster_ip) = svc.cluster_ip else {
        return f;
    };
    let mark_masq = || Action::Jump(MARK_MASQ.into());
    let cip_owner = Owner {
        service: s as u32,
        port: NO_PORT,
    };
    f.elements.push((
        CLUSTER_IPS,
        Key::Addr(cluster_ip),
        Element {
            value: None,
            comment: None,
            owner: cip_owner,
        },
    ));
    for (p, port) in svc.ports.iter().enumerate() {
        let owner = Owner {
            service: s as u32,
            port: p as u32,
        };
        let eps = &set.endpoints[s][p];
        let cat = set.categorize(s, p, &node.name);
        // Chains and elements name endpoints by their API index; lists stay in ip:port order.
        let (cluster, local, reachable) = (
            cat.indices(&cat.cluster),
            cat.indices(&cat.local),
            cat.indices(&cat.reachable),
        );
        let spn = svc.port_name(p);
        let proto = port.protocol;
        let base = service_chain_base(svc, p);
        let cluster_chain = format!("service-{base}");
        let local_chain = format!("local-{base}");
        let ext_chain = format!("external-{base}");
        let fw_chain = format!("firewall-{base}");
        let ep_base: Vec<String> = eps.iter().map(|e| endpoint_chain_base(svc, p, e)).collect();
        let ep_chain = |i: usize| format!("endpoint-{}", ep_base[i]);
        let aff_set = |i: usize| format!("affinity-{}", ep_base[i]);

        let itp_local = svc.internal_policy_local();
        let etp_local = svc.external_policy_local();
        let uses_cluster_chain = cat.uses_cluster && !cluster.is_empty();
        let uses_local_chain = cat.uses_local && !local.is_empty();
        let has_eps = cat.has_any;
        let (internal_chain, has_internal) = if itp_local {
            (&local_chain, has_eps && !local.is_empty())
        } else {
            (&cluster_chain, has_eps)
        };
        let (ext_policy_chain, has_external) = if etp_local {
            (&local_chain, has_eps && !local.is_empty())
        } else {
            (&cluster_chain, has_eps)
        };
        let uses_ext_chain = has_eps && svc.port_externally_accessible(p);
        let reject = ElemVerdict::Goto(REJECT_CHAIN.into());
        let (int_filter, ext_filter) = if !has_eps {
            (reject.clone(), reject)
        } else {
            (ElemVerdict::Drop, ElemVerdict::Drop)
        };

        // Chains exist before any rule in them, in kube-proxy's ensureChain order.
        for &i in &reachable {
            f.chain(&ep_chain(i));
        }
        if uses_cluster_chain {
            f.chain(&cluster_chain);
        }
        if uses_local_chain {
            f.chain(&local_chain);
        }
        if uses_ext_chain {
            f.chain(&ext_chain);
        }

        let dest = |ip: Ipv4Addr| Key::Dest(ip, proto, port.port);
        if has_internal {
            let v = ElemVerdict::Goto(internal_chain.as_str().into());
            f.elem(SERVICE_IPS, dest(cluster_ip), v, owner);
        } else {
            f.no_ep(NO_ENDPOINT_SERVICES, dest(cluster_ip), int_filter, &spn, owner);
        }
        for &eip in &svc.external_ips {
            if has_eps {
                let v = ElemVerdict::Goto(ext_chain.as_str().into());
                f.elem(SERVICE_IPS, dest(eip), v, owner);
            }
            if !has_external {
                f.no_ep(NO_ENDPOINT_SERVICES, dest(eip), ext_filter.clone(), &spn, owner);
            }
        }
        let lb_ips = if svc.kind == ServiceType::LoadBalancer {
            &svc.load_balancer_ips[..]
        } else {
            &[]
        };
        let uses_fw = !lb_ips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
        if uses_fw {
            f.chain(&fw_chain);
        }
        for &lb in lb_ips {
            if has_eps {
                let v = ElemVerdict::Goto(ext_chain.as_str().into());
                f.elem(SERVICE_IPS, dest(lb), v, owner);
            }
            if uses_fw {
                let v = ElemVerdict::Goto(fw_chain.as_str().into());
                f.elem(FIREWALL_IPS, dest(lb), v, owner);
            }
        }
        if !has_external {
            for &lb in lb_ips {
                f.no_ep(NO_ENDPOINT_SERVICES, dest(lb), ext_filter.clone(), &spn, owner);
            }
        }
        if let Some(np) = port.node_port.filter(|&np| np != 0) {
            let key = Key::Port(proto, np);
            if has_eps {
                let v = ElemVerdict::Goto(ext_chain.as_str().into());
                f.elem(SERVICE_NODEPORTS, key, v, owner);
            }
            if !has_external {
                f.no_ep(NO_ENDPOINT_NODEPORTS, key, ext_filter.clone(), &spn, owner);
            }
        }

        if has_internal {
            if let Some(cidr) = node.cluster_cidr {
                // Off-cluster sources to a ClusterIP are masqueraded (they may bounce off-node).
                let m = vec![Match::DaddrEq(cluster_ip), Match::SaddrNotInNet(cidr)];
                f.chain(internal_chain).push(Rule::new(m, mark_masq()));
            }
        }
        if uses_ext_chain {
            let mut rules = Vec::new();
            if !etp_local {
                rules.push(Rule::new(vec![], mark_masq()));
            } else {
                let to_cluster = || Action::Goto(cluster_chain.as_str().into());
                if let Some(cidr) = node.cluster_cidr {
                    rules.push(
                        Rule::new(vec![Match::SaddrInNet(cidr)], to_cluster()).commented("short-circuit pod traffic"),
                    );
                }
                rules.push(Rule::new(vec![Match::FibSaddrLocal], mark_masq()).commented("masquerade local traffic"));
                rules
                    .push(Rule::new(vec![Match::FibSaddrLocal], to_cluster()).commented("short-circuit local traffic"));
                // The short-circuit target exists: a port with an external chain uses Cluster
                // endpoints, and has some, whatever its policies (`UsesClusterEndpoints`).
                debug_assert!(uses_cluster_chain, "external chain without a cluster chain");
            }
            if has_external {
                rules.push(Rule::new(vec![], Action::Goto(ext_policy_chain.as_str().into())));
            }
            f.chain(&ext_chain).extend(rules);
        }
        if uses_fw {
            let mut sources: Vec<String> = svc.load_balancer_source_ranges.iter().map(|n| n.to_string()).collect();
            let node_ip = node.node_ips.first();
            let allow_from_node = svc
                .load_balancer_source_ranges
                .iter()
                .any(|n| node_ip.is_some_and(|ip| n.contains(ip)));
            if allow_from_node {
                sources.extend(lb_ips.iter().map(|ip| ip.to_string()));
            }
            let r = Rule::new(vec![Match::SaddrNotInAnon(sources)], Action::Drop);
            f.chain(&fw_chain).push(r);
        }
        let affinity = svc.session_affinity_seconds;
        if let Some(timeout) = affinity {
            for &i in &reachable {
                f.sets.push((
                    aff_set(i),
                    Container {
                        is_map: false,
                        type_decl: "ipv4_addr",
                        comment: None,
                        timeout_s: Some(timeout),
                        elements: Default::default(),
                    },
                ));
            }
        }
        let to_endpoints = |f: &mut Fragment, chain: &str, list: &[usize]| {
            let rules = f.chain(chain);
            if affinity.is_some() {
                for &i in list {
                    let m = vec![Match::SaddrInSet(aff_set(i))];
                    rules.push(Rule::new(m, Action::Goto(ep_chain(i).into())));
                }
            }
            let targets = list.iter().map(|&i| ep_chain(i).into()).collect();
            rules.push(Rule::new(vec![], Action::Numgen(targets)));
        };
        if uses_cluster_chain {
            to_endpoints(&mut f, &cluster_chain, &cluster);
        }
        if uses_local_chain {
            to_endpoints(&mut f, &local_chain, &local);
        }
        for &i in &reachable {
            let e = &eps[i];
            let rules = f.chain(&ep_chain(i));
            // Hairpin: an endpoint reaching itself through the Service is masqueraded.
            rules.push(Rule::new(vec![Match::SaddrEq(e.ip)], mark_masq()));
            if affinity.is_some() {
                rules.push(Rule::new(vec![], Action::UpdateAffinity(aff_set(i))));
            }
            let dnat = Action::DnatTo {
                ip: e.ip,
                port: e.port,
                owner,
                index: i as u32,
            };
            rules.push(Rule::new(vec![Match::L4Proto(proto)], dnat));
        }
    }
    f
}
