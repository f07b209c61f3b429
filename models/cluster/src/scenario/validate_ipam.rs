//! Validation of the AWS VPC CNI's settings (`network.ipam: AwsVpcCni(...)`). Every rule names its field; AWS's own limits are cited where used.

use super::diag::{one_of, Finding};
use super::format::*;
use super::refs;
use std::collections::BTreeSet;

/// cnsim's limit on any warm or minimum target: no instance type holds more addresses than
/// this on one node (the largest published max pods is 737), so a larger target is a typo.
pub const MAX_IPAMD_TARGET: u32 = 4_096;

pub fn aws_vpc_cni(s: &Scenario, out: &mut Vec<Finding>) {
    let IpamConfig::AwsVpcCni {
        warm_eni_target,
        warm_ip_target,
        minimum_ip_target,
        warm_prefix_target,
        max_eni,
        eni_configs,
        pod_eni,
        security_group_policies,
        ..
    } = &s.network.ipam
    else {
        return;
    };
    if s.network.mode == NetworkMode::Overlay {
        out.push(
            Finding::error(
                "network.mode",
                "the AWS VPC CNI gives pods VPC addresses: it has no overlay mode",
            )
            .valid("network.mode: Underlay, or network.ipam: HostLocal(...) for an overlay"),
        );
    }
    let targets = [
        ("warm_eni_target", *warm_eni_target),
        ("warm_ip_target", *warm_ip_target),
        ("minimum_ip_target", *minimum_ip_target),
        ("warm_prefix_target", *warm_prefix_target),
    ];
    for (name, v) in targets {
        if v > MAX_IPAMD_TARGET {
            out.push(
                Finding::error(
                    format!("network.ipam.{name}"),
                    format!("{v} is more than any node holds"),
                )
                .valid(format!("0 to {MAX_IPAMD_TARGET}")),
            );
        }
    }
    if *max_eni == Some(0) {
        out.push(
            Finding::error("network.ipam.max_eni", "MAX_ENI 0 leaves no ENI, not even the primary")
                .valid("at least 1, or leave it unset for the instance's limit"),
        );
    }
    security_groups_for_pods(s, *pod_eni, security_group_policies, out);
    if let Some(cfg) = s.network.ipam.ipamd() {
        for w in cfg.warnings() {
            out.push(Finding::warning("network.ipam", w));
        }
    }
    let azs: Vec<&str> = s.vpc.azs.iter().map(String::as_str).collect();
    let subnet_names: Vec<&str> = s.vpc.subnets.iter().map(|x| x.name.as_str()).collect();
    let mut seen = BTreeSet::new();
    for (i, ec) in eni_configs.iter().enumerate() {
        let field = |f: &str| format!("network.ipam.eni_configs[{i}].{f}");
        if !azs.contains(&ec.az.as_str()) {
            out.push(Finding::error(field("az"), format!("unknown AZ {:?}", ec.az)).valid(one_of(&azs)));
        } else if !seen.insert(ec.az.as_str()) {
            out.push(Finding::error(
                field("az"),
                format!("a second ENIConfig for AZ {:?}: a node uses one", ec.az),
            ));
        }
        match s.vpc.subnets.iter().find(|x| x.name == ec.subnet) {
            None => out.push(
                Finding::error(field("subnet"), format!("unknown subnet {:?}", ec.subnet)).valid(one_of(&subnet_names)),
            ),
            // EC2 creates an ENI only in a subnet of the instance's AZ.
            Some(x) if x.az != ec.az && azs.contains(&ec.az.as_str()) => out.push(Finding::error(
                field("subnet"),
                format!(
                    "subnet {:?} is in AZ {:?}, not {:?}: EC2 attaches ENIs only from the instance's AZ",
                    ec.subnet, x.az, ec.az
                ),
            )),
            Some(_) => {}
        }
    }
    if !eni_configs.is_empty() {
        // Nodes in an AZ with no ENIConfig: ipamd finds none and never adds a pod ENI.
        for (gi, g) in s.node_groups.iter().enumerate() {
            let uncovered: BTreeSet<&str> = refs::group_subnets(s, g)
                .into_iter()
                .map(|k| s.vpc.subnets[k].az.as_str())
                .filter(|az| !eni_configs.iter().any(|e| e.az == *az))
                .collect();
            if !uncovered.is_empty() && g.count > 0 {
                out.push(Finding::warning(
                    format!("node_groups[{gi}]"),
                    format!(
                        "custom networking has no ENIConfig for AZ {}: nodes there get no pod addresses and their pods stay ContainerCreating",
                        uncovered.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
}

/// Security groups for pods: ENABLE_POD_ENI on trunk-capable instance types, and
/// SecurityGroupPolicy objects that name a declared namespace (and, worth a warning, a group
/// and some workload).
fn security_groups_for_pods(s: &Scenario, pod_eni: bool, policies: &[SecurityGroupPolicyDef], out: &mut Vec<Finding>) {
    if !policies.is_empty() && !pod_eni {
        out.push(
            Finding::error(
                "network.ipam.security_group_policies",
                "SecurityGroupPolicy pods get branch ENIs only with ENABLE_POD_ENI",
            )
            .valid("pod_eni: true"),
        );
    }
    if pod_eni {
        let catalog = cnsim_ipam::InstanceCatalog::embedded();
        for (gi, g) in s.node_groups.iter().enumerate() {
            // Unknown types are reported by the node group rules.
            if catalog
                .get(&g.instance_type)
                .is_some_and(|t| t.branch_enis.unwrap_or(0) == 0)
            {
                out.push(
                    Finding::error(
                        format!("node_groups[{gi}].instance_type"),
                        format!(
                            "{} cannot attach a trunk ENI (no branch ENIs in the VPC resource controller's limits): security groups for pods need a trunk-capable Nitro type",
                            g.instance_type
                        ),
                    )
                    .valid("a Nitro type such as \"m5.large\", or pod_eni: false"),
                );
            }
        }
    }
    let namespaces: Vec<&str> = s.namespaces.iter().map(|n| n.name.as_str()).collect();
    for (i, p) in policies.iter().enumerate() {
        let field = |f: &str| format!("network.ipam.security_group_policies[{i}].{f}");
        if !namespaces.contains(&p.namespace.as_str()) {
            out.push(
                Finding::error(field("namespace"), format!("unknown namespace {:?}", p.namespace))
                    .valid(one_of(&namespaces)),
            );
        }
        if p.security_groups.is_empty() {
            out.push(Finding::warning(
                field("security_groups"),
                "no security group: its pods take branch ENIs and gain no rule",
            ));
        }
        if !s.workloads.iter().any(|w| p.selects(w)) {
            out.push(Finding::warning(
                field("pod_selector"),
                format!(
                    "selects no workload in namespace {:?}: no pod gets a branch ENI from it",
                    p.namespace
                ),
            ));
        }
    }
}
