//! Validation of the VPC: its CIDRs, availability zones, subnets, route tables, routes,
//! internet and NAT gateways, against AWS's rules and quotas.

use super::diag::{one_of, Finding};
use super::format::*;
use super::validate::{
    duplicates, overlaps, AWS_MAX_NAT_GATEWAYS, AWS_MAX_PREFIX, AWS_MAX_ROUTE_TABLES, AWS_MAX_SUBNETS, AWS_MIN_PREFIX,
    AWS_ROUTES_MAX, MAX_AZS,
};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};

pub fn vpc(s: &Scenario, out: &mut Vec<Finding>) {
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
