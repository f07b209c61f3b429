//! `cnsim trace` past a VPC route to a NAT gateway or the internet gateway: the same rules as
//! the run (`sim::egress`), on a fresh gateway, for one first packet.

use super::{push, source, TraceReport};
use crate::scenario::format::Scenario;
use crate::sim::egress::{has_public_address, Egress};
use crate::sim::metrics::DropReason;
use crate::sim::packet::Header;
use crate::sim::pods::LivePods;
use crate::sim::routing::{self, VpcHop, VpcNext};
use crate::world::{NodeId, World};

/// Finishes `report` for a packet the route table of `node`'s subnet sends out of the VPC.
pub(super) fn leave_vpc(
    world: &World,
    pods: &LivePods,
    s: &Scenario,
    report: &mut TraceReport,
    node: NodeId,
    mut header: Header,
    hop: VpcHop,
) {
    let n = &world.nodes[node as usize];
    let table = &world.route_tables[hop.table as usize].name;
    let drop = |report: &mut TraceReport, reason: DropReason| {
        report.verdict = "dropped".into();
        report.reason = Some(reason.as_str().into());
    };
    if let VpcNext::NatGateway(g) = hop.next {
        let nat = &world.nat_gateways[g as usize];
        let same = nat.az == n.az;
        let latency = s.fabric.one_way(nat.az, n.az);
        push(
            report,
            "vpc",
            nat.name.clone(),
            format!(
                "route table {table:?}: {} matches /{} -> NAT gateway {:?} in {} ({})",
                header.dst_ip(),
                hop.prefix_len,
                nat.name,
                world.azs[nat.az as usize],
                if same { "same AZ" } else { "cross-AZ" }
            ),
            latency.as_nanos(),
            vec![],
        );
        let out = routing::vpc_from_subnet(world, pods, nat.subnet, header.dst_ip());
        if !matches!(out.map(|r| r.next), Ok(VpcNext::InternetGateway)) {
            let nat_table = &world.route_tables[world.subnets[nat.subnet as usize].route_table as usize].name;
            push(
                report,
                "nat gateway",
                nat.name.clone(),
                format!(
                    "subnet {:?} (route table {nat_table:?}) has no route from {} to an internet gateway",
                    world.subnets[nat.subnet as usize].name,
                    header.dst_ip()
                ),
                0,
                vec![],
            );
            return drop(report, DropReason::NatGatewayNoInternetRoute);
        }
        let before = source(&header);
        let mut egress = Egress::new(world);
        if let Err(reason) = egress.nat_gateways[g as usize].outbound(&mut header, 0) {
            return drop(report, reason);
        }
        push(
            report,
            "nat gateway",
            nat.name.clone(),
            format!(
                "SNAT {before} -> {} (the gateway's address and a port of its own)",
                source(&header)
            ),
            0,
            vec![],
        );
    } else {
        push(
            report,
            "vpc",
            n.name.clone(),
            format!(
                "route table {table:?}: {} matches /{} -> internet gateway",
                header.dst_ip(),
                hop.prefix_len
            ),
            0,
            vec![],
        );
    }
    if !has_public_address(world, header.src_ip()) {
        push(
            report,
            "internet gateway",
            "igw".into(),
            match pods.by_ip(header.src_ip()) {
                Some(_) => format!(
                    "source {} is a pod address, which has no public address (external SNAT left it untranslated)",
                    header.src_ip()
                ),
                None => format!(
                    "source {} has no public address (a node outside the public subnets)",
                    header.src_ip()
                ),
            },
            0,
            vec![],
        );
        return drop(report, DropReason::IgwNoPublicAddress);
    }
    push(
        report,
        "internet",
        header.dst_ip().to_string(),
        format!(
            "from {} to {}:{} beyond the VPC: delivered",
            source(&header),
            header.dst_ip(),
            header.dport
        ),
        s.fabric.internet_latency.as_nanos(),
        vec![],
    );
}
