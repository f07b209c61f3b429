//! Scenario validation: every cross-field rule, all problems collected at once.
//!
//! Limits here are cnsim's own (what one run on one machine is built for, DESIGN.md "Scale")
//! or AWS's (VPC and subnet sizes, route-table size), each said where it is checked.

use super::diag::{one_of, Finding};
use super::format::*;
use super::names;
use super::refs;
use cnsim_ipam::InstanceCatalog;
use ipnet::Ipv4Net;
use sim_core::SimTime;
use std::collections::{BTreeMap, BTreeSet};

/// cnsim's limits for one run (DESIGN.md: 5,000 nodes, 150,000 pods, with headroom).
pub const MAX_NODES: u64 = 10_000;
pub const MAX_PODS: u64 = 200_000;
pub const MAX_FLOWS: usize = 100_000;
pub const MAX_DURATION: SimTime = SimTime::from_secs(24 * 3600);
/// A flow's rate per sending pod; beyond this a single pod is past any NIC's packet rate.
pub const MAX_RATE_PPS: u64 = 10_000_000;
/// AWS: a VPC or subnet CIDR block is between /16 and /28.
const AWS_MIN_PREFIX: u8 = 16;
const AWS_MAX_PREFIX: u8 = 28;
/// AWS VPC quotas (defaults): subnets per VPC, route tables per VPC, NAT gateways per AZ.
const AWS_MAX_SUBNETS: usize = 200;
const AWS_MAX_ROUTE_TABLES: usize = 200;
const AWS_MAX_NAT_GATEWAYS: usize = 5 * 32;
/// Availability zones a region has at most (us-east-1 has six; cnsim allows headroom).
const MAX_AZS: usize = 32;
/// cnsim's limit on declared workloads and on name lengths in stream names.
pub const MAX_WORKLOADS: usize = 100_000;
const MAX_FLOW_NAME: usize = 253;
/// AWS: routes per route table, by default and at most (VPC quotas page).
const AWS_ROUTES_DEFAULT: usize = 50;
const AWS_ROUTES_MAX: usize = 1000;
/// The largest TCP request or response one flow may ask for (segments are simulated one by one).
const MAX_MESSAGE: u64 = 1 << 30;
/// IPv4 + UDP headers: the smallest UDP packet.
const MIN_UDP_PACKET: u64 = 28;
/// The largest MTU a VPC carries (jumbo frames).
const MAX_MTU: u32 = 9001;
/// The smallest MTU IPv4 requires every link to carry (RFC 791).
const MIN_MTU: u32 = 576;

pub fn validate(s: &Scenario, catalog: &InstanceCatalog) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.version != SCENARIO_VERSION {
        out.push(
            Finding::error(
                "version",
                format!("scenario format version {} is not supported", s.version),
            )
            .valid(format!("{SCENARIO_VERSION}")),
        );
    }
    if s.duration == SimTime::ZERO || s.duration > MAX_DURATION {
        out.push(
            Finding::error("duration", format!("duration {} is out of range", s.duration))
                .valid(format!("more than 0s and at most {MAX_DURATION}")),
        );
    }
    vpc(s, &mut out);
    network(s, &mut out);
    fabric(&s.fabric, &mut out);
    super::validate_egress::settings(s, &mut out);
    let rate = s.pricing.inter_az_usd_per_gb;
    if !(0.0..=1.0).contains(&rate) {
        out.push(
            Finding::error("pricing.inter_az_usd_per_gb", format!("{rate} USD per GB"))
                .valid("0 to 1 USD per GB (AWS charges 0.01 in each direction)"),
        );
    }
    node_groups(s, catalog, &mut out);
    namespaces_and_workloads(s, &mut out);
    super::validate_services::services(s, &mut out);
    flows(s, &mut out);
    super::validate_events::scale_events(s, &mut out);
    variants(s, &mut out);
    out
}

fn duplicates<'a>(
    names: impl Iterator<Item = &'a str>,
    field: impl Fn(usize) -> String,
    what: &str,
    out: &mut Vec<Finding>,
) {
    let mut seen = BTreeSet::new();
    for (i, n) in names.enumerate() {
        if !seen.insert(n) {
            out.push(
                Finding::error(field(i), format!("duplicate {what} name {n:?}")).valid("names unique within the list"),
            );
        }
    }
}

fn vpc(s: &Scenario, out: &mut Vec<Finding>) {
    let v = &s.vpc;
    let cidrs: Vec<Ipv4Net> = std::iter::once(v.cidr)
        .chain(v.secondary_cidrs.iter().copied())
        .collect();
    for (i, c) in cidrs.iter().enumerate() {
        let field = if i == 0 {
            "vpc.cidr".to_string()
        } else {
            format!("vpc.secondary_cidrs[{}]", i - 1)
        };
        if !(AWS_MIN_PREFIX..=AWS_MAX_PREFIX).contains(&c.prefix_len()) {
            out.push(
                Finding::error(&field, format!("VPC CIDR {c} has a /{} prefix", c.prefix_len()))
                    .valid("a prefix from /16 to /28 (AWS VPC limits)"),
            );
        }
        if *c != c.trunc() {
            out.push(Finding::error(&field, format!("{c} has host bits set")).valid(format!("{}", c.trunc())));
        }
        for (j, d) in cidrs.iter().enumerate().take(i) {
            if overlaps(c, d) {
                out.push(Finding::error(
                    &field,
                    format!("VPC CIDR {c} overlaps VPC CIDR {d} (#{j})"),
                ));
            }
        }
    }
    for (field, n, max) in [
        ("vpc.azs", v.azs.len(), MAX_AZS),
        ("vpc.subnets", v.subnets.len(), AWS_MAX_SUBNETS),
        ("vpc.route_tables", v.route_tables.len(), AWS_MAX_ROUTE_TABLES),
        ("vpc.nat_gateways", v.nat_gateways.len(), AWS_MAX_NAT_GATEWAYS),
    ] {
        if n > max {
            out.push(Finding::error(field, format!("{n} entries")).valid(format!("at most {max} (AWS quota)")));
        }
    }
    if v.azs.is_empty() {
        out.push(
            Finding::error("vpc.azs", "a VPC needs at least one availability zone")
                .valid("e.g. [\"us-east-1a\", \"us-east-1b\"]"),
        );
    }
    duplicates(
        v.azs.iter().map(String::as_str),
        |i| format!("vpc.azs[{i}]"),
        "availability zone",
        out,
    );
    duplicates(
        v.subnets.iter().map(|x| x.name.as_str()),
        |i| format!("vpc.subnets[{i}].name"),
        "subnet",
        out,
    );
    for (i, sn) in v.subnets.iter().enumerate() {
        let f = |x: &str| format!("vpc.subnets[{i}].{x}");
        if !v.azs.contains(&sn.az) {
            out.push(
                Finding::error(
                    f("az"),
                    format!("subnet {:?} is in unknown availability zone {:?}", sn.name, sn.az),
                )
                .valid(one_of(&v.azs)),
            );
        }
        if sn.cidr != sn.cidr.trunc() {
            out.push(
                Finding::error(f("cidr"), format!("{} has host bits set", sn.cidr))
                    .valid(format!("{}", sn.cidr.trunc())),
            );
        }
        if !(AWS_MIN_PREFIX..=AWS_MAX_PREFIX).contains(&sn.cidr.prefix_len()) {
            out.push(
                Finding::error(
                    f("cidr"),
                    format!("subnet {} has a /{} prefix", sn.cidr, sn.cidr.prefix_len()),
                )
                .valid("a prefix from /16 to /28 (AWS subnet limits)"),
            );
        }
        if !cidrs.iter().any(|c| c.contains(&sn.cidr)) {
            let list: Vec<String> = cidrs.iter().map(|c| c.to_string()).collect();
            out.push(
                Finding::error(
                    f("cidr"),
                    format!(
                        "subnet {:?} ({}) is outside the VPC CIDR {}",
                        sn.name,
                        sn.cidr,
                        list.join(", ")
                    ),
                )
                .valid(format!("a CIDR inside {}", list.join(" or "))),
            );
        }
        for other in &v.subnets[..i] {
            if overlaps(&sn.cidr, &other.cidr) {
                out.push(
                    Finding::error(
                        f("cidr"),
                        format!(
                            "subnet {:?} ({}) overlaps subnet {:?} ({})",
                            sn.name, sn.cidr, other.name, other.cidr
                        ),
                    )
                    .valid("subnets that share no address"),
                );
            }
        }
    }
    let subnet_names: Vec<&str> = v.subnets.iter().map(|x| x.name.as_str()).collect();
    let nat_names: Vec<&str> = v.nat_gateways.iter().map(|n| n.name.as_str()).collect();
    duplicates(
        v.nat_gateways.iter().map(|n| n.name.as_str()),
        |i| format!("vpc.nat_gateways[{i}].name"),
        "NAT gateway",
        out,
    );
    for (i, nat) in v.nat_gateways.iter().enumerate() {
        match v.subnets.iter().find(|x| x.name == nat.subnet) {
            None => out.push(
                Finding::error(
                    format!("vpc.nat_gateways[{i}].subnet"),
                    format!("unknown subnet {:?}", nat.subnet),
                )
                .valid(one_of(&subnet_names)),
            ),
            Some(sn) if sn.kind != SubnetKind::Public => out.push(Finding::warning(
                format!("vpc.nat_gateways[{i}].subnet"),
                format!(
                    "NAT gateway {:?} is in {:?} subnet {:?}; a public NAT gateway belongs in a Public subnet",
                    nat.name, sn.kind, sn.name
                ),
            )),
            Some(_) => {}
        }
    }
    duplicates(
        v.route_tables.iter().map(|t| t.name.as_str()),
        |i| format!("vpc.route_tables[{i}].name"),
        "route table",
        out,
    );
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, t) in v.route_tables.iter().enumerate() {
        for (j, sn) in t.subnets.iter().enumerate() {
            let field = format!("vpc.route_tables[{i}].subnets[{j}]");
            if !subnet_names.contains(&sn.as_str()) {
                out.push(Finding::error(&field, format!("unknown subnet {sn:?}")).valid(one_of(&subnet_names)));
            } else if let Some(prev) = owner.insert(sn, &t.name) {
                out.push(
                    Finding::error(
                        &field,
                        format!("subnet {sn:?} is already associated with route table {prev:?}"),
                    )
                    .valid("each subnet in at most one route table (AWS)"),
                );
            }
        }
        let mut dests = BTreeSet::new();
        for (j, r) in t.routes.iter().enumerate() {
            let field = format!("vpc.route_tables[{i}].routes[{j}]");
            if !dests.insert(r.destination) {
                out.push(Finding::error(
                    format!("{field}.destination"),
                    format!("route table {:?} has two routes to {}", t.name, r.destination),
                ));
            }
            if cidrs.contains(&r.destination) {
                out.push(Finding::error(
                    format!("{field}.destination"),
                    format!("{} is the VPC CIDR: its local route cannot be replaced", r.destination),
                ));
            }
            let cluster_cidr = s.network.ipam.host_local_cidr();
            if let Some(cluster_cidr) = cluster_cidr.filter(|c| {
                s.network.mode == NetworkMode::Underlay
                    && c.contains(&r.destination.network())
                    && r.destination.prefix_len() >= c.prefix_len()
            }) {
                out.push(Finding::error(format!("{field}.destination"), format!("{} is inside the cluster CIDR {cluster_cidr}, whose node routes cnsim manages in underlay mode", r.destination)));
            }
            if r.destination != r.destination.trunc() {
                out.push(
                    Finding::error(
                        format!("{field}.destination"),
                        format!("{} has host bits set", r.destination),
                    )
                    .valid(format!("{}", r.destination.trunc())),
                );
            }
            match &r.target {
                RouteTarget::InternetGateway if v.internet_gateway.is_none() => {
                    out.push(
                        Finding::error(
                            format!("{field}.target"),
                            "route to an internet gateway, but the VPC declares none",
                        )
                        .valid("set vpc.internet_gateway: Some(\"igw\")"),
                    );
                }
                RouteTarget::NatGateway(n) if !nat_names.contains(&n.as_str()) => {
                    out.push(
                        Finding::error(format!("{field}.target"), format!("unknown NAT gateway {n:?}"))
                            .valid(one_of(&nat_names)),
                    );
                }
                _ => {}
            }
        }
        if t.routes.len() > AWS_ROUTES_MAX {
            out.push(Finding::error(
                format!("vpc.route_tables[{i}].routes"),
                format!(
                    "{} routes; AWS allows at most {AWS_ROUTES_MAX} per route table",
                    t.routes.len()
                ),
            ));
        }
    }
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Nodes over all groups at their largest (events may grow a group during the run).
fn total_nodes(s: &Scenario) -> u64 {
    super::events::node_group_largest(s).iter().map(|&c| u64::from(c)).sum()
}

fn network(s: &Scenario, out: &mut Vec<Finding>) {
    if let Some(mtu) = s.network.mtu {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            out.push(
                Finding::error("network.mtu", format!("MTU {mtu} is out of range"))
                    .valid(format!("{MIN_MTU} to {MAX_MTU}")),
            );
        }
    }
    let IpamConfig::HostLocal {
        cluster_cidr,
        node_cidr_mask,
    } = s.network.ipam
    else {
        return super::validate_ipam::aws_vpc_cni(s, out);
    };
    let config = cnsim_ipam::HostLocalConfig {
        cluster_cidr,
        node_cidr_mask,
    };
    if cluster_cidr != cluster_cidr.trunc() {
        out.push(
            Finding::error("network.ipam.cluster_cidr", format!("{cluster_cidr} has host bits set"))
                .valid(format!("{}", cluster_cidr.trunc())),
        );
    }
    match config.node_cidr_count() {
        None => out.push(
            Finding::error("network.ipam.node_cidr_mask", format!("/{node_cidr_mask} node CIDRs cannot be carved from {cluster_cidr}"))
                .valid(format!("a mask from /{} to /{}", cluster_cidr.prefix_len(), cnsim_ipam::host_local::MAX_NODE_CIDR_MASK)),
        ),
        Some(count) if count < total_nodes(s) => out.push(Finding::warning(
            "network.ipam.cluster_cidr",
            format!("{} nodes but {cluster_cidr} holds only {count} /{node_cidr_mask} node CIDRs: the other nodes get no pod CIDR and their pods stay Pending", total_nodes(s)),
        )),
        Some(_) => {}
    }
    let vpc_cidrs = std::iter::once(&s.vpc.cidr).chain(&s.vpc.secondary_cidrs);
    for c in vpc_cidrs {
        if overlaps(&cluster_cidr, c) {
            out.push(
                Finding::error(
                    "network.ipam.cluster_cidr",
                    format!(
                        "cluster CIDR {cluster_cidr} overlaps VPC CIDR {c}: pod and VPC addresses would be ambiguous"
                    ),
                )
                .valid("a range outside every VPC CIDR, e.g. 10.244.0.0/16 or 100.64.0.0/16"),
            );
        }
    }
    if s.network.mode == NetworkMode::Underlay {
        // Host-local underlay puts one VPC route per node (kubenet-style cloud routes).
        let user_routes = s.vpc.route_tables.iter().map(|t| t.routes.len()).max().unwrap_or(0);
        let nodes = total_nodes(s) as usize + user_routes;
        if nodes > AWS_ROUTES_MAX {
            out.push(Finding::error("node_groups", format!("underlay host-local (network.mode) needs one VPC route per node ({nodes}); AWS allows at most {AWS_ROUTES_MAX} routes per route table")).valid("network.mode: Overlay, or fewer nodes"));
        } else if nodes > AWS_ROUTES_DEFAULT {
            out.push(Finding::warning("node_groups", format!("underlay host-local (network.mode) needs one VPC route per node ({nodes}); the AWS default quota is {AWS_ROUTES_DEFAULT} routes per route table (raisable to {AWS_ROUTES_MAX})")));
        }
    }
}

fn fabric(f: &Fabric, out: &mut Vec<Finding>) {
    let second = SimTime::from_secs(1);
    for (field, t) in [
        ("fabric.same_az_latency", f.same_az_latency),
        ("fabric.cross_az_latency", f.cross_az_latency),
    ] {
        if t > second {
            out.push(Finding::error(field, format!("{t} is longer than any VPC path")).valid("at most 1s"));
        }
    }
    if f.eni_bandwidth.bits_per_sec == 0 {
        out.push(Finding::error("fabric.eni_bandwidth", "zero bandwidth").valid("e.g. \"10Gbps\""));
    }
    if !(1..=1_000_000).contains(&f.eni_tx_queue) {
        out.push(
            Finding::error("fabric.eni_tx_queue", format!("{} packets", f.eni_tx_queue)).valid("1 to 1000000 packets"),
        );
    }
}

fn node_groups(s: &Scenario, catalog: &InstanceCatalog, out: &mut Vec<Finding>) {
    if s.node_groups.is_empty() {
        out.push(Finding::error("node_groups", "a cluster needs at least one node group"));
    }
    duplicates(
        s.node_groups.iter().map(|g| g.name.as_str()),
        |i| format!("node_groups[{i}].name"),
        "node group",
        out,
    );
    let subnet_names: Vec<&str> = s.vpc.subnets.iter().map(|x| x.name.as_str()).collect();
    for (i, g) in s.node_groups.iter().enumerate() {
        let f = |x: &str| format!("node_groups[{i}].{x}");
        if catalog.get(&g.instance_type).is_none() {
            let near = catalog.suggest(&g.instance_type, 8);
            out.push(
                Finding::error(
                    f("instance_type"),
                    format!("unknown instance type {:?}", g.instance_type),
                )
                .valid(format!(
                    "an EC2 instance type from the catalog ({} types), e.g. {}",
                    catalog.len(),
                    one_of(&near)
                )),
            );
        }
        if let Err(e) = names::dns1123_subdomain(&g.name) {
            out.push(Finding::error(f("name"), e));
        }
        for (j, sn) in g.subnets.iter().enumerate() {
            match s.vpc.subnets.iter().find(|x| &x.name == sn) {
                None => out.push(
                    Finding::error(
                        format!("node_groups[{i}].subnets[{j}]"),
                        format!("unknown subnet {sn:?}"),
                    )
                    .valid(one_of(&subnet_names)),
                ),
                Some(x) if x.kind == SubnetKind::Pod => out.push(Finding::error(
                    format!("node_groups[{i}].subnets[{j}]"),
                    format!("subnet {sn:?} is a Pod subnet; nodes go in Private or Public subnets"),
                )),
                Some(_) => {}
            }
        }
        if g.subnets.is_empty() && !s.vpc.subnets.iter().any(|x| x.kind == SubnetKind::Private) {
            out.push(
                Finding::error(
                    f("subnets"),
                    format!(
                        "node group {:?} names no subnets and the VPC has no Private subnet to default to",
                        g.name
                    ),
                )
                .valid(one_of(&subnet_names)),
            );
        }
        if g.max_pods == Some(0) {
            out.push(
                Finding::error(f("max_pods"), "max_pods 0 leaves the node unusable")
                    .valid("1 or more (kubelet default 110)"),
            );
        }
        if g.bandwidth.is_some_and(|b| b.bits_per_sec == 0) {
            out.push(Finding::error(f("bandwidth"), "zero bandwidth").valid("e.g. \"10Gbps\""));
        }
        for (k, v) in &g.labels {
            label(&format!("node_groups[{i}].labels"), k, v, out);
        }
    }
    // Each node's primary ENI takes one subnet address (AWS reserves five per subnet), nodes
    // a scale event launches included.
    // Counted arithmetically: a group of `count` nodes over k subnets puts count/k in each,
    // plus one in the first count%k.
    let mut per_subnet = vec![0u64; s.vpc.subnets.len()];
    let largest = super::events::node_group_largest(s);
    for (g, &count) in s.node_groups.iter().zip(&largest) {
        let subnets = refs::group_subnets(s, g);
        let k = subnets.len() as u64;
        if k == 0 {
            continue;
        }
        for (j, &i) in subnets.iter().enumerate() {
            per_subnet[i] += u64::from(count) / k + u64::from((j as u64) < u64::from(count) % k);
        }
    }
    // A NAT gateway's ENI takes one address too (the world gives it the subnet's highest).
    for nat in &s.vpc.nat_gateways {
        if let Some(i) = s.vpc.subnets.iter().position(|x| x.name == nat.subnet) {
            per_subnet[i] += 1;
        }
    }
    for (i, n) in per_subnet.iter().enumerate() {
        let usable = refs::usable_addresses(&s.vpc.subnets[i].cidr);
        if *n > usable {
            out.push(
                Finding::error(
                    format!("vpc.subnets[{i}].cidr"),
                    format!(
                        "{n} nodes and NAT gateways are placed in subnet {:?} but it has {usable} usable addresses (AWS reserves 5)",
                        s.vpc.subnets[i].name
                    ),
                )
                .valid("a larger subnet, more subnets in the node groups, or fewer nodes"),
            );
        }
    }
    if total_nodes(s) > MAX_NODES {
        out.push(
            Finding::error("node_groups", format!("{} nodes in all", total_nodes(s)))
                .valid(format!("at most {MAX_NODES} nodes in one run")),
        );
    }
}

fn label(parent: &str, k: &str, v: &str, out: &mut Vec<Finding>) {
    let field = super::source_map::join(parent, &super::source_map::key_segment(k));
    if let Err(e) = names::label_key(k) {
        out.push(Finding::error(&field, format!("label key: {e}")));
    }
    if let Err(e) = names::label_value(v) {
        out.push(Finding::error(&field, format!("label value: {e}")));
    }
}

fn namespaces_and_workloads(s: &Scenario, out: &mut Vec<Finding>) {
    duplicates(
        s.namespaces.iter().map(|n| n.name.as_str()),
        |i| format!("namespaces[{i}].name"),
        "namespace",
        out,
    );
    for (i, ns) in s.namespaces.iter().enumerate() {
        if let Err(e) = names::dns1123_label(&ns.name) {
            out.push(Finding::error(format!("namespaces[{i}].name"), e));
        }
        for (k, v) in &ns.labels {
            label(&format!("namespaces[{i}].labels"), k, v, out);
        }
    }
    let ns_names: Vec<&str> = s.namespaces.iter().map(|n| n.name.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut pods: u64 = 0;
    for (i, w) in s.workloads.iter().enumerate() {
        let f = |x: &str| format!("workloads[{i}].{x}");
        if !ns_names.contains(&w.namespace.as_str()) {
            out.push(
                Finding::error(
                    f("namespace"),
                    format!("namespace {:?} is not declared in `namespaces`", w.namespace),
                )
                .valid(one_of(&ns_names)),
            );
        }
        if !seen.insert((w.namespace.as_str(), w.name.as_str())) {
            out.push(Finding::error(
                f("name"),
                format!("duplicate workload {}/{}", w.namespace, w.name),
            ));
        }
        if let Err(e) = names::dns1123_label(&w.name) {
            out.push(Finding::error(f("name"), e));
        }
        pods += u64::from(w.replicas);
        for (k, v) in &w.labels {
            label(&f("labels"), k, v, out);
        }
        let mut port_keys = BTreeSet::new();
        let mut port_names = BTreeSet::new();
        for (j, p) in w.ports.iter().enumerate() {
            let pf = format!("workloads[{i}].ports[{j}]");
            if p.port == 0 {
                out.push(Finding::error(format!("{pf}.port"), "port 0").valid("1 to 65535"));
            }
            if !port_keys.insert((p.port, p.protocol)) {
                out.push(Finding::error(
                    format!("{pf}.port"),
                    format!("duplicate container port {} {:?}", p.port, p.protocol),
                ));
            }
            if let Some(name) = &p.name {
                if let Err(e) = names::port_name(name) {
                    out.push(Finding::error(format!("{pf}.name"), e));
                }
                if !port_names.insert(name.as_str()) {
                    out.push(Finding::error(
                        format!("{pf}.name"),
                        format!("duplicate port name {name:?}"),
                    ));
                }
            }
        }
        if !w.node_selector.is_empty() {
            let largest = super::events::node_group_largest(s);
            let matches_some = s
                .node_groups
                .iter()
                .zip(&largest)
                .any(|(g, &n)| n > 0 && w.node_selector.iter().all(|(k, v)| g.labels.get(k) == Some(v)));
            if !matches_some {
                out.push(Finding::warning(
                    f("node_selector"),
                    format!(
                        "no node group carries the labels {:?}: every pod of {}/{} will stay Pending",
                        w.node_selector, w.namespace, w.name
                    ),
                ));
            }
        }
    }
    if s.workloads.len() > MAX_WORKLOADS {
        out.push(
            Finding::error("workloads", format!("{} workloads", s.workloads.len()))
                .valid(format!("at most {MAX_WORKLOADS}")),
        );
    }
    if pods > MAX_PODS {
        out.push(
            Finding::error("workloads", format!("{pods} pods in all"))
                .valid(format!("at most {MAX_PODS} pods in one run")),
        );
    }
}

fn flows(s: &Scenario, out: &mut Vec<Finding>) {
    duplicates(
        s.traffic.iter().map(|t| t.name.as_str()),
        |i| format!("traffic[{i}].name"),
        "flow",
        out,
    );
    if s.traffic.len() > MAX_FLOWS {
        out.push(Finding::error("traffic", format!("{} flows", s.traffic.len())).valid(format!("at most {MAX_FLOWS}")));
    }
    let mtu = u64::from(crate::calibration::pod_mtu(&s.network));
    for (i, fl) in s.traffic.iter().enumerate() {
        let f = |x: &str| format!("traffic[{i}].{x}");
        if fl.name.is_empty() || fl.name.len() > MAX_FLOW_NAME || fl.name.chars().any(|c| c.is_control()) {
            out.push(
                Finding::error(f("name"), format!("flow name of {} bytes", fl.name.len()))
                    .valid(format!("1 to {MAX_FLOW_NAME} printable characters")),
            );
        }
        if let Err(e) = refs::pod_set(s, &fl.from) {
            out.push(Finding::error(f("from"), e.message).valid(e.valid));
        }
        match refs::flow_target(s, &fl.to) {
            Err(e) => out.push(Finding::error(f("to"), e.message).valid(e.valid)),
            Ok(refs::Target::Pods(set, port)) => {
                if let Err(e) = refs::resolve_port(&s.workloads[set.workload()], &port, fl.protocol) {
                    out.push(Finding::error(f("to"), e.message).valid(e.valid));
                }
            }
            Ok(refs::Target::External(addr)) => super::validate_egress::external_target(s, i, addr, fl, out),
            Ok(refs::Target::Service { service, port }) => {
                let p = &s.services[service].ports[port];
                if p.protocol != fl.protocol {
                    out.push(Finding::error(
                        f("protocol"),
                        format!("the flow is {:?} but the Service port is {:?}", fl.protocol, p.protocol),
                    ));
                }
                if s.services[service].headless {
                    out.push(
                        Finding::error(f("to"), "a headless Service has no address to send to")
                            .valid("a pod of it, NAMESPACE/POD:PORT"),
                    );
                }
            }
        }
        if fl.protocol == Protocol::TCP && fl.request.0 == 0 {
            out.push(Finding::error(f("request"), "a TCP request of 0 bytes").valid("1 byte or more"));
        }
        if fl.protocol == Protocol::TCP && (fl.request.0 > MAX_MESSAGE || fl.response.0 > MAX_MESSAGE) {
            out.push(Finding::error(f("response"), "request or response larger than 1 GiB").valid("at most 1GiB"));
        }
        if fl.requests == 0 {
            out.push(Finding::error(f("requests"), "0 requests per connection").valid("1 or more"));
        }
        if fl.protocol == Protocol::SCTP {
            out.push(Finding::error(f("protocol"), "SCTP traffic is not simulated yet").valid("TCP or UDP"));
        }
        if fl.rate.per_sec > MAX_RATE_PPS {
            out.push(
                Finding::error(f("rate"), format!("{} per second per pod", fl.rate.per_sec))
                    .valid(format!("at most {MAX_RATE_PPS} per second")),
            );
        }
        if fl.protocol == Protocol::UDP && !(MIN_UDP_PACKET..=mtu).contains(&fl.packet_size.0) {
            out.push(
                Finding::error(
                    f("packet_size"),
                    format!(
                        "{}-byte packets with a {mtu}-byte pod MTU (fragmentation is not simulated)",
                        fl.packet_size.0
                    ),
                )
                .valid(format!("{MIN_UDP_PACKET} to {mtu} bytes")),
            );
        }
        let stop = fl.stop.unwrap_or(s.duration);
        if fl.start >= stop || stop > s.duration {
            out.push(
                Finding::error(
                    f("start"),
                    format!("flow runs from {} to {} in a {} scenario", fl.start, stop, s.duration),
                )
                .valid(format!("start < stop <= duration ({})", s.duration)),
            );
        }
    }
}

fn variants(s: &Scenario, out: &mut Vec<Finding>) {
    duplicates(
        s.variants.iter().map(|v| v.name.as_str()),
        |i| format!("variants[{i}].name"),
        "variant",
        out,
    );
    for (i, v) in s.variants.iter().enumerate() {
        if v.name.is_empty() || v.name.len() > 64 || v.name.chars().any(|c| c.is_control()) {
            out.push(
                Finding::error(format!("variants[{i}].name"), format!("variant name {:?}", v.name))
                    .valid("1 to 64 printable characters"),
            );
        }
    }
}
