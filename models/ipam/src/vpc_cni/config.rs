//! ipamd's settings (the aws-node environment variables) and its fixed timings.
//!
//! Owns the defaults, the precedence between targets and the per-node resolution against an
//! instance type. Every constant names its source; `CALIBRATION.md` lists them again.

use crate::catalog::{Hypervisor, InstanceType};
use crate::max_pods::{max_pods, CniVersion, MaxPodsQuery, IPS_PER_PREFIX};
use serde::Serialize;

const SECOND: u64 = 1_000_000_000;

/// ipamd's pool loop: `ipPoolMonitorInterval` (5 s), with the pool check half way through
/// (`sleepDuration = ipPoolMonitorInterval / 2`, then `updateIPPoolIfRequired`).
pub const POOL_TICK_NS: u64 = 5 * SECOND;
pub const POOL_FIRST_TICK_NS: u64 = POOL_TICK_NS / 2;
/// A released address waits this long before another pod may get it (datastore
/// `IP_COOLDOWN_PERIOD`, default 30 s).
pub const IP_COOLDOWN_NS: u64 = 30 * SECOND;
/// An ENI younger than this is never freed (datastore `minENILifeTime`, 1 minute).
pub const MIN_ENI_LIFETIME_NS: u64 = 60 * SECOND;
/// The pool shrinks at most once per `decreaseIPPoolInterval` (30 s).
pub const DECREASE_INTERVAL_NS: u64 = 30 * SECOND;
/// After InsufficientFreeAddressesInSubnet / InsufficientCidrBlocks ipamd waits
/// `insufficientCidrErrorCooldown` (120 s) before asking EC2 again.
pub const INSUFFICIENT_CIDR_COOLDOWN_NS: u64 = 120 * SECOND;
/// CreateNetworkInterface + AttachNetworkInterface until the ENI and its addresses show in
/// instance metadata. Assumption: docs/eni-and-ip-target.md says "can take up to 10 seconds";
/// ipamd's own wait step (`eniAttachTime`) is also 10 s. cnsim uses the upper figure.
pub const ENI_ATTACH_LATENCY_NS: u64 = 10 * SECOND;
/// The CNI version cnsim assumes when a max-pods value must be computed (any release ≥ 1.9).
pub const ASSUMED_CNI_VERSION: CniVersion = CniVersion { major: 1, minor: 19 };

/// Custom networking's ENIConfig for one availability zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EniConfig {
    pub az: String,
    /// The pod subnet (by name, as in the scenario's subnets).
    pub subnet: String,
    pub security_groups: Vec<String>,
}

/// The aws-node settings cnsim models. Zero means "unset", as in ipamd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpamdConfig {
    /// WARM_ENI_TARGET (default 1).
    pub warm_eni_target: u32,
    /// WARM_IP_TARGET (default unset).
    pub warm_ip_target: u32,
    /// MINIMUM_IP_TARGET (default unset).
    pub minimum_ip_target: u32,
    /// WARM_PREFIX_TARGET (default 0).
    pub warm_prefix_target: u32,
    /// ENABLE_PREFIX_DELEGATION.
    pub prefix_delegation: bool,
    /// MAX_ENI (unset: the instance's limit).
    pub max_eni: Option<u32>,
    /// AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG with one ENIConfig per AZ.
    pub eni_configs: Option<Vec<EniConfig>>,
    /// ENABLE_SUBNET_DISCOVERY (default true).
    pub subnet_discovery: bool,
    /// ENABLE_POD_ENI (security groups for pods: trunk ENI, branch ENIs).
    pub pod_eni: bool,
    /// The kubelet's max pods; None: eni-max-pods.txt, or the calculator when prefix delegation
    /// or custom networking changes the count.
    pub max_pods: Option<u32>,
}

impl Default for IpamdConfig {
    fn default() -> IpamdConfig {
        IpamdConfig {
            warm_eni_target: 1,
            warm_ip_target: 0,
            minimum_ip_target: 0,
            warm_prefix_target: 0,
            prefix_delegation: false,
            max_eni: None,
            eni_configs: None,
            subnet_discovery: true,
            pod_eni: false,
            max_pods: None,
        }
    }
}

impl IpamdConfig {
    /// WARM_IP_TARGET or MINIMUM_IP_TARGET set: they override WARM_ENI_TARGET and
    /// WARM_PREFIX_TARGET (ipamd `warmIPTargetsDefined`).
    pub fn ip_targets_defined(&self) -> bool {
        self.warm_ip_target != 0 || self.minimum_ip_target != 0
    }

    pub fn custom_networking(&self) -> bool {
        self.eni_configs.is_some()
    }

    /// Settings that are legal but that AWS documents as unsupported or wasteful.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.prefix_delegation && self.warm_prefix_target == 0 && !self.ip_targets_defined() {
            w.push("prefix delegation with WARM_PREFIX_TARGET=0 and no WARM_IP_TARGET/MINIMUM_IP_TARGET is not supported (docs/prefix-and-ip-target.md): a prefix is only added once none is free".into());
        }
        if self.ip_targets_defined() && self.warm_eni_target != 1 {
            w.push("WARM_ENI_TARGET is ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set".into());
        }
        if self.prefix_delegation && self.ip_targets_defined() && self.warm_prefix_target != 0 {
            w.push("WARM_PREFIX_TARGET is ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set".into());
        }
        w
    }
}

/// One node's limits once the settings meet its instance type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeLimits {
    /// Prefix delegation in effect (requested, and Nitro or bare metal: ipamd
    /// `IsPrefixDelegationSupported`; otherwise ipamd falls back to secondary IPs).
    pub prefix_delegation: bool,
    /// ENIs ipamd may hold: min(MAX_ENI, the default network card's ENIs), trunk included.
    pub max_enis: u32,
    /// Secondary IPs, or /28 prefixes, per ENI: IPv4 per ENI − 1 (the ENI's own address).
    pub slots_per_eni: u32,
    /// Addresses per slot: 1, or 16 with prefix delegation.
    pub slot_size: u32,
    pub max_pods: u32,
    /// Branch ENIs for security groups for pods (0: none or not trunk-capable).
    pub branch_enis: u32,
    pub notes: Vec<String>,
}

impl NodeLimits {
    pub fn resolve(config: &IpamdConfig, ty: &InstanceType) -> NodeLimits {
        let mut notes = Vec::new();
        let pd_capable = ty.hypervisor == Hypervisor::Nitro || ty.bare_metal;
        let prefix_delegation = config.prefix_delegation && pd_capable;
        if config.prefix_delegation && !pd_capable {
            notes.push(format!(
                "Prefix delegation is not supported on non-nitro instance {} hence falling back to default (secondary IP) mode",
                ty.name
            ));
        }
        let max_enis = config
            .max_eni
            .filter(|&m| m >= 1)
            .map_or(ty.max_enis, |m| m.min(ty.max_enis));
        let max_pods = config.max_pods.unwrap_or_else(|| {
            if !config.prefix_delegation && !config.custom_networking() {
                ty.eni_max_pods()
            } else {
                let q = MaxPodsQuery {
                    instance: ty,
                    cni_version: Some(ASSUMED_CNI_VERSION),
                    custom_networking: config.custom_networking(),
                    prefix_delegation: config.prefix_delegation,
                    max_eni: config.max_eni,
                    show_max_allowed: ty.default_vcpus.is_none(),
                };
                max_pods(&q).map_or(ty.eni_max_pods(), |m| m.value)
            }
        });
        let branch_enis = if config.pod_eni { ty.branch_enis.unwrap_or(0) } else { 0 };
        if config.pod_eni && branch_enis == 0 {
            notes.push(format!(
                "{} is not trunk-capable: security groups for pods unavailable",
                ty.name
            ));
        }
        NodeLimits {
            prefix_delegation,
            max_enis,
            slots_per_eni: ty.ipv4_per_eni - 1,
            slot_size: if prefix_delegation { IPS_PER_PREFIX } else { 1 },
            max_pods,
            branch_enis,
            notes,
        }
    }

    /// ipamd's `maxIPsPerENI`.
    pub fn ips_per_eni(&self) -> u32 {
        self.slots_per_eni * self.slot_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::InstanceCatalog;

    #[test]
    fn limits_resolve_with_ipamds_fallbacks() {
        let cat = InstanceCatalog::embedded();
        let pd = IpamdConfig {
            prefix_delegation: true,
            ..IpamdConfig::default()
        };
        let m5 = NodeLimits::resolve(&pd, cat.get("m5.large").unwrap());
        assert_eq!(
            (m5.prefix_delegation, m5.slots_per_eni, m5.ips_per_eni(), m5.max_pods),
            (true, 9, 144, 110)
        );
        let m4 = NodeLimits::resolve(&pd, cat.get("m4.xlarge").unwrap());
        assert!(!m4.prefix_delegation && m4.notes[0].contains("falling back"));
        let plain = NodeLimits::resolve(&IpamdConfig::default(), cat.get("c5.4xlarge").unwrap());
        assert_eq!(plain.max_pods, 234);
        let capped = IpamdConfig {
            max_eni: Some(2),
            ..IpamdConfig::default()
        };
        assert_eq!(NodeLimits::resolve(&capped, cat.get("m5.large").unwrap()).max_enis, 2);
    }

    #[test]
    fn warnings_name_the_overridden_setting() {
        let c = IpamdConfig {
            warm_ip_target: 2,
            warm_eni_target: 3,
            ..IpamdConfig::default()
        };
        assert!(c.warnings()[0].contains("WARM_ENI_TARGET is ignored"));
        let pd = IpamdConfig {
            prefix_delegation: true,
            ..IpamdConfig::default()
        };
        assert!(pd.warnings()[0].contains("not supported"));
    }
}
