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
use std::collections::BTreeSet;

/// cnsim's limits for one run (DESIGN.md: 5,000 nodes, 150,000 pods, with headroom).
pub const MAX_NODES: u64 = 10_000;
pub const MAX_PODS: u64 = 200_000;
pub const MAX_FLOWS: usize = 100_000;
pub const MAX_DURATION: SimTime = SimTime::from_secs(24 * 3600);
/// A flow's rate per sending pod; beyond this a single pod is past any NIC's packet rate.
pub const MAX_RATE_PPS: u64 = 10_000_000;
/// AWS: a VPC or subnet CIDR block is between /16 and /28.
pub(super) const AWS_MIN_PREFIX: u8 = 16;
pub(super) const AWS_MAX_PREFIX: u8 = 28;
/// AWS VPC quotas (defaults): subnets per VPC, route tables per VPC, NAT gateways per AZ.
pub(super) const AWS_MAX_SUBNETS: usize = 200;
pub(super) const AWS_MAX_ROUTE_TABLES: usize = 200;
pub(super) const AWS_MAX_NAT_GATEWAYS: usize = 5 * 32;
/// Availability zones a region has at most (us-east-1 has six; cnsim allows headroom).
pub(super) const MAX_AZS: usize = 32;
/// cnsim's limit on declared workloads and on name lengths in stream names.
pub const MAX_WORKLOADS: usize = 100_000;
pub(super) const MAX_FLOW_NAME: usize = 253;
/// AWS: routes per route table, by default and at most (VPC quotas page).
const AWS_ROUTES_DEFAULT: usize = 50;
pub(super) const AWS_ROUTES_MAX: usize = 1000;
/// The largest TCP request or response one flow may ask for (segments are simulated one by one).
pub(super) const MAX_MESSAGE: u64 = 1 << 30;
/// IPv4 + UDP headers: the smallest UDP packet.
pub(super) const MIN_UDP_PACKET: u64 = 28;
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
    super::validate_vpc::vpc(s, &mut out);
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
    super::validate_flows::flows(s, &mut out);
    super::validate_events::scale_events(s, &mut out);
    variants(s, &mut out);
    out
}

pub(super) fn duplicates<'a>(
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

pub(super) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
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
