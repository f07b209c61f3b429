//! Max pods per node on EKS with the AWS VPC CNI: the published `eni-max-pods.txt` formula and
//! the rules of the EKS AMI's `max-pods-calculator.sh`.
//!
//! Owns the arithmetic only; the instance limits come from [`crate::catalog`]. Every rule below is
//! a fact read from awslabs/amazon-eks-ami `templates/al2/runtime/max-pods-calculator.sh`
//! (@0a6d499e) and checked against its test cases (`test/cases/max-pods-cni-*.sh`) and the EKS
//! user guide's examples. Sources and numbers are listed in `CALIBRATION.md`.
//!
//! - Without a CNI version a node gets what bootstrap reads from `eni-max-pods.txt`:
//!   `ENIs × (IPv4 per ENI − 1) + 2`, no cap.
//! - With a CNI version the calculator's rules apply:
//!   - ENIs for pods = min(`--cni-max-eni`, ENIs of the default network card); custom networking
//!     takes one off (the primary ENI carries no pods).
//!   - Prefix delegation counts `(IPv4 per ENI − 1) × 16` per ENI, but only when the CNI is
//!     1.9.0 or later (major > 1, or major 1 and minor > 8) AND the EC2 hypervisor is `nitro`.
//!     Otherwise the calculator silently uses the secondary-IP formula; we say so in `notes`.
//!   - The result is capped at 110 when the type has 30 vCPUs or fewer, 250 above 30 (the script
//!     tests `CPU_COUNT -gt 30`), unless `--show-max-allowed`.
//!
//! Departures, each deliberate: `--cni-max-eni 0` is refused (the script would print 2, or a
//! negative number with custom networking); a leading `v` in the version is accepted (the script
//! would read `v1` as 0 and silently drop prefix delegation; EKS users strip it with `sed`).

use crate::catalog::{Hypervisor, InstanceType};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Addresses in one /28 prefix (ipamd `GetPrefixDelegationDefaults`, the calculator's
/// `IPS_PER_PREFIX`).
pub const IPS_PER_PREFIX: u32 = 16;
/// Host-network pods that need no pod address: aws-node and kube-proxy.
pub const HOST_NETWORK_PODS: u32 = 2;
/// The calculator's `MAX_POD_CEILING_FOR_LOW_CPU`.
pub const MAX_PODS_CAP_LOW_CPU: u32 = 110;
/// The calculator's `MAX_POD_CEILING_FOR_HIGH_CPU`.
pub const MAX_PODS_CAP_HIGH_CPU: u32 = 250;
/// Above this many vCPUs the high ceiling applies (`CPU_COUNT -gt 30`).
pub const HIGH_CPU_THRESHOLD_VCPUS: u32 = 30;
/// First CNI release with prefix delegation (v1.9.0 release notes).
pub const PREFIX_DELEGATION_MIN_CNI: CniVersion = CniVersion { major: 1, minor: 9 };

/// A VPC CNI version as the calculator reads it: only major and minor matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CniVersion {
    pub major: u32,
    pub minor: u32,
}

impl CniVersion {
    /// The calculator's test: `major > 1 || (major == 1 && minor > 8)`.
    pub fn supports_prefix_delegation(self) -> bool {
        self >= PREFIX_DELEGATION_MIN_CNI
    }
}

impl fmt::Display for CniVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for CniVersion {
    type Err = MaxPodsError;

    /// Accepts what EKS prints: `1.9.0`, `1.19.2-eksbuild.1`, `v1.19.2-eksbuild.1`.
    fn from_str(text: &str) -> Result<CniVersion, MaxPodsError> {
        let bad = || MaxPodsError::BadCniVersion { text: text.to_string() };
        let trimmed = text.trim();
        let body = trimmed.strip_prefix('v').unwrap_or(trimmed);
        // The script splits on '.', so "1.9.0-eksbuild.1" gives major "1", minor "9".
        let mut parts = body.split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        Ok(CniVersion { major, minor })
    }
}

/// How pod addresses are counted per ENI slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressMode {
    SecondaryIp,
    PrefixDelegation,
}

/// Where the number comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxPodsSource {
    /// The published table (bootstrap without the calculator).
    EniMaxPodsTxt,
    /// `max-pods-calculator.sh` rules.
    Calculator,
}

/// What to compute, with the calculator's flags.
#[derive(Clone, Debug)]
pub struct MaxPodsQuery<'a> {
    pub instance: &'a InstanceType,
    /// None: the eni-max-pods.txt value; the calculator refuses to run without a version.
    pub cni_version: Option<CniVersion>,
    pub custom_networking: bool,
    pub prefix_delegation: bool,
    /// `--cni-max-eni`.
    pub max_eni: Option<u32>,
    /// `--show-max-allowed`: no 110/250 cap.
    pub show_max_allowed: bool,
}

impl<'a> MaxPodsQuery<'a> {
    /// The plain published value for `instance`.
    pub fn plain(instance: &'a InstanceType) -> MaxPodsQuery<'a> {
        MaxPodsQuery {
            instance,
            cni_version: None,
            custom_networking: false,
            prefix_delegation: false,
            max_eni: None,
            show_max_allowed: false,
        }
    }
}

/// The answer, with the arithmetic spelled out for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MaxPods {
    pub instance_type: String,
    /// What the kubelet's `--max-pods` would be.
    pub value: u32,
    /// The formula before any cap.
    pub formula_value: u32,
    pub mode: AddressMode,
    pub enis_for_pods: u32,
    pub ipv4_per_eni: u32,
    /// The ceiling that applied, if the calculator applied one.
    pub cap: Option<u32>,
    pub source: MaxPodsSource,
    /// Rules that changed the answer silently in the real script (e.g. prefix delegation dropped).
    pub notes: Vec<String>,
    /// Each step of the arithmetic, in order.
    pub working: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaxPodsError {
    /// A calculator flag was given without `--cni-version` (the script exits 1).
    NeedsCniVersion {
        flag: &'static str,
    },
    BadCniVersion {
        text: String,
    },
    /// `--cni-max-eni 0` gives no ENI to pods.
    MaxEniZero,
    /// The cap depends on vCPUs, and the catalog has none for this type.
    UnknownVcpus {
        instance_type: String,
    },
}

impl fmt::Display for MaxPodsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxPodsError::NeedsCniVersion { flag } => write!(
                f,
                "{flag} needs a CNI version (max-pods-calculator.sh: \"You must specify a CNI Version to use. Example - 1.7.5\")"
            ),
            MaxPodsError::BadCniVersion { text } => {
                write!(f, "CNI version {text:?}: expected MAJOR.MINOR[.PATCH][-eksbuild.N], e.g. 1.19.2")
            }
            MaxPodsError::MaxEniZero => f.write_str("--cni-max-eni must be at least 1"),
            MaxPodsError::UnknownVcpus { instance_type } => write!(
                f,
                "{instance_type}: vCPU count unknown, so the 110/250 cap cannot be chosen; use --show-max-allowed"
            ),
        }
    }
}

impl std::error::Error for MaxPodsError {}

/// Max pods for one query.
pub fn max_pods(query: &MaxPodsQuery<'_>) -> Result<MaxPods, MaxPodsError> {
    let ty = query.instance;
    let Some(version) = query.cni_version else {
        let flag = if query.custom_networking {
            Some("--custom-networking")
        } else if query.prefix_delegation {
            Some("--prefix-delegation")
        } else if query.max_eni.is_some() {
            Some("--max-eni")
        } else if query.show_max_allowed {
            Some("--show-max-allowed")
        } else {
            None
        };
        if let Some(flag) = flag {
            return Err(MaxPodsError::NeedsCniVersion { flag });
        }
        let value = ty.eni_max_pods();
        return Ok(MaxPods {
            instance_type: ty.name.clone(),
            value,
            formula_value: value,
            mode: AddressMode::SecondaryIp,
            enis_for_pods: ty.max_enis,
            ipv4_per_eni: ty.ipv4_per_eni,
            cap: None,
            source: MaxPodsSource::EniMaxPodsTxt,
            notes: Vec::new(),
            working: vec![
                format!(
                    "{}: {} ENIs, {} IPv4 per ENI (eni-max-pods.txt formula, no cap)",
                    ty.name, ty.max_enis, ty.ipv4_per_eni
                ),
                format!(
                    "{} × ({} − 1) + {} = {value}",
                    ty.max_enis, ty.ipv4_per_eni, HOST_NETWORK_PODS
                ),
            ],
        });
    };

    let mut working = vec![format!(
        "{}: {} ENIs on the default network card, {} IPv4 per ENI, hypervisor {}, vCPUs {}; CNI {version}",
        ty.name,
        ty.max_enis,
        ty.ipv4_per_eni,
        hypervisor_name(ty.hypervisor),
        ty.default_vcpus.map_or("unknown".to_string(), |v| v.to_string())
    )];
    let mut notes = Vec::new();

    let mut enis = ty.max_enis;
    if let Some(max_eni) = query.max_eni {
        if max_eni == 0 {
            return Err(MaxPodsError::MaxEniZero);
        }
        enis = enis.min(max_eni);
        working.push(format!("ENIs for pods = min({max_eni}, {}) = {enis}", ty.max_enis));
    }
    if query.custom_networking {
        // The primary ENI keeps the node's subnet; pods only get the ENIConfig subnet's ENIs.
        working.push(format!(
            "custom networking: the primary ENI carries no pods, {enis} − 1 = {}",
            enis - 1
        ));
        enis -= 1;
    }

    let mode = if query.prefix_delegation {
        let nitro = ty.hypervisor == Hypervisor::Nitro;
        let supported = version.supports_prefix_delegation();
        if nitro && supported {
            AddressMode::PrefixDelegation
        } else {
            let why = match (supported, nitro) {
                (false, _) => format!("CNI {version} is older than {PREFIX_DELEGATION_MIN_CNI}.0"),
                (true, false) => format!(
                    "the hypervisor is {} (the calculator needs \"nitro\"; ipamd itself also accepts bare metal)",
                    hypervisor_name(ty.hypervisor)
                ),
                (true, true) => unreachable!("handled above"),
            };
            notes.push(format!("prefix delegation ignored: {why}; secondary IP formula used"));
            AddressMode::SecondaryIp
        }
    } else {
        AddressMode::SecondaryIp
    };

    let slots = ty.ipv4_per_eni - 1;
    let formula_value = match mode {
        AddressMode::SecondaryIp => {
            let v = enis * slots + HOST_NETWORK_PODS;
            working.push(format!(
                "secondary IPs: {enis} × ({} − 1) + {HOST_NETWORK_PODS} = {v}",
                ty.ipv4_per_eni
            ));
            v
        }
        AddressMode::PrefixDelegation => {
            let v = enis * (slots * IPS_PER_PREFIX) + HOST_NETWORK_PODS;
            working.push(format!(
                "prefix delegation: {enis} × (({} − 1) × {IPS_PER_PREFIX}) + {HOST_NETWORK_PODS} = {v}",
                ty.ipv4_per_eni
            ));
            v
        }
    };

    if query.show_max_allowed {
        working.push(format!("--show-max-allowed: no cap, {formula_value}"));
        return Ok(MaxPods {
            instance_type: ty.name.clone(),
            value: formula_value,
            formula_value,
            mode,
            enis_for_pods: enis,
            ipv4_per_eni: ty.ipv4_per_eni,
            cap: None,
            source: MaxPodsSource::Calculator,
            notes,
            working,
        });
    }

    let vcpus = ty.default_vcpus.ok_or_else(|| MaxPodsError::UnknownVcpus {
        instance_type: ty.name.clone(),
    })?;
    let cap = if vcpus > HIGH_CPU_THRESHOLD_VCPUS {
        MAX_PODS_CAP_HIGH_CPU
    } else {
        MAX_PODS_CAP_LOW_CPU
    };
    let value = formula_value.min(cap);
    working.push(format!(
        "cap: {vcpus} vCPUs {} {HIGH_CPU_THRESHOLD_VCPUS} → {cap}; min({cap}, {formula_value}) = {value}",
        if vcpus > HIGH_CPU_THRESHOLD_VCPUS { ">" } else { "≤" }
    ));
    Ok(MaxPods {
        instance_type: ty.name.clone(),
        value,
        formula_value,
        mode,
        enis_for_pods: enis,
        ipv4_per_eni: ty.ipv4_per_eni,
        cap: Some(cap),
        source: MaxPodsSource::Calculator,
        notes,
        working,
    })
}

fn hypervisor_name(h: Hypervisor) -> &'static str {
    match h {
        Hypervisor::Nitro => "nitro",
        Hypervisor::Xen => "xen",
        Hypervisor::Unknown => "none reported",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::InstanceCatalog;

    const ENI_MAX_PODS_TXT: &str = include_str!("../data/aws/eni_max_pods.txt");

    fn ty(name: &str) -> &'static InstanceType {
        InstanceCatalog::embedded().get(name).unwrap()
    }

    fn calc(name: &str, version: &str, custom: bool, pd: bool) -> MaxPods {
        max_pods(&MaxPodsQuery {
            instance: ty(name),
            cni_version: Some(version.parse().unwrap()),
            custom_networking: custom,
            prefix_delegation: pd,
            max_eni: None,
            show_max_allowed: false,
        })
        .unwrap()
    }

    /// Every one of AWS's 1,391 published entries equals the plain answer.
    #[test]
    fn plain_value_equals_every_entry_of_eni_max_pods_txt() {
        let mut checked = 0;
        for line in ENI_MAX_PODS_TXT.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (name, published) = (parts.next().unwrap(), parts.next().unwrap());
            let answer = max_pods(&MaxPodsQuery::plain(ty(name))).unwrap();
            assert_eq!(answer.value, published.parse::<u32>().unwrap(), "{name}");
            assert_eq!(answer.source, MaxPodsSource::EniMaxPodsTxt);
            checked += 1;
        }
        assert_eq!(checked, 1391);
    }

    /// EKS user guide, "Amazon EKS recommended maximum Pods": m5.large with 1.9.0-eksbuild.1
    /// gives 29, 20 with custom networking, 110 with prefix delegation.
    #[test]
    fn user_guide_m5_large_examples() {
        assert_eq!(calc("m5.large", "1.9.0-eksbuild.1", false, false).value, 29);
        assert_eq!(calc("m5.large", "1.9.0-eksbuild.1", true, false).value, 20);
        let pd = calc("m5.large", "1.9.0-eksbuild.1", false, true);
        assert_eq!((pd.value, pd.formula_value, pd.cap), (110, 434, Some(110)));
        assert_eq!(pd.mode, AddressMode::PrefixDelegation);
    }

    /// amazon-eks-ami test/cases: max-pods-cni-1-11-2.sh (234), -delegation.sh (250),
    /// max-pods-cni-1-7-5.sh (m4.xlarge, 58); issue #1368: c5.4xlarge with 1.11.4 gives 110.
    #[test]
    fn eks_ami_test_cases() {
        assert_eq!(calc("m5.8xlarge", "1.11.2", false, false).value, 234);
        let pd = calc("m5.8xlarge", "1.11.2", false, true);
        assert_eq!((pd.value, pd.formula_value), (250, 3714));
        assert_eq!(calc("m4.xlarge", "1.7.5", false, false).value, 58);
        let c5 = calc("c5.4xlarge", "1.11.4-eksbuild.1", false, false);
        assert_eq!((c5.value, c5.formula_value), (110, 234));
    }

    #[test]
    fn prefix_delegation_needs_cni_1_9_and_nitro() {
        let old = calc("m5.large", "1.8.0", false, true);
        assert_eq!((old.value, old.mode), (29, AddressMode::SecondaryIp));
        assert!(old.notes[0].contains("older than 1.9.0"), "{:?}", old.notes);
        let xen = calc("m4.xlarge", "1.19.0", false, true);
        assert_eq!((xen.value, xen.mode), (58, AddressMode::SecondaryIp));
        assert!(xen.notes[0].contains("xen"));
        assert_eq!(calc("m5.large", "2.0", false, true).mode, AddressMode::PrefixDelegation);
        assert_eq!(calc("m5.large", "v1.19.2-eksbuild.1", false, true).value, 110);
    }

    #[test]
    fn max_eni_and_custom_networking_stack_in_the_scripts_order() {
        let q = |max_eni, custom| MaxPodsQuery {
            instance: ty("m5.8xlarge"),
            cni_version: Some("1.12.0".parse().unwrap()),
            custom_networking: custom,
            prefix_delegation: false,
            max_eni,
            show_max_allowed: true,
        };
        // min(3, 8) = 3 ENIs, then custom networking leaves 2: 2 × 29 + 2.
        assert_eq!(max_pods(&q(Some(3), true)).unwrap().value, 60);
        assert_eq!(max_pods(&q(Some(30), false)).unwrap().value, 234);
        // One ENI and custom networking: no pod ENI at all, the script prints 2.
        assert_eq!(max_pods(&q(Some(1), true)).unwrap().value, 2);
        assert_eq!(max_pods(&q(Some(0), false)), Err(MaxPodsError::MaxEniZero));
    }

    #[test]
    fn show_max_allowed_removes_the_cap_and_unknown_vcpus_need_it() {
        let q = |name, show| MaxPodsQuery {
            instance: ty(name),
            cni_version: Some("1.12.0".parse().unwrap()),
            custom_networking: false,
            prefix_delegation: true,
            max_eni: None,
            show_max_allowed: show,
        };
        assert_eq!(max_pods(&q("m5.large", true)).unwrap().value, 434);
        assert!(matches!(
            max_pods(&q("c7i.32xlarge", false)),
            Err(MaxPodsError::UnknownVcpus { .. })
        ));
        assert_eq!(max_pods(&q("c7i.32xlarge", true)).unwrap().value, 15 * 49 * 16 + 2);
    }

    #[test]
    fn calculator_flags_without_a_version_are_refused_and_versions_parse_strictly() {
        let mut q = MaxPodsQuery::plain(ty("m5.large"));
        q.prefix_delegation = true;
        let err = max_pods(&q).unwrap_err();
        assert!(
            err.to_string().contains("--prefix-delegation needs a CNI version"),
            "{err}"
        );
        assert!("1".parse::<CniVersion>().is_err());
        assert!("one.two".parse::<CniVersion>().is_err());
        assert_eq!(
            "1.10.4".parse::<CniVersion>().unwrap(),
            CniVersion { major: 1, minor: 10 }
        );
        assert!(!"1.8.9".parse::<CniVersion>().unwrap().supports_prefix_delegation());
    }

    #[test]
    fn working_shows_each_step() {
        let pd = calc("m5.large", "1.9.0", true, true);
        let text = pd.working.join("\n");
        assert!(text.contains("3 − 1 = 2"), "{text}");
        assert!(text.contains("2 × ((10 − 1) × 16) + 2 = 290"), "{text}");
        assert!(text.contains("min(110, 290) = 110"), "{text}");
    }

    /// Every catalog type gets an answer in every mode that needs no vCPU count.
    #[test]
    fn every_catalog_type_computes() {
        for ty in InstanceCatalog::embedded().iter() {
            for (custom, pd) in [(false, false), (true, false), (false, true), (true, true)] {
                let q = MaxPodsQuery {
                    instance: ty,
                    cni_version: Some(CniVersion { major: 1, minor: 19 }),
                    custom_networking: custom,
                    prefix_delegation: pd,
                    max_eni: None,
                    show_max_allowed: ty.default_vcpus.is_none(),
                };
                let got = max_pods(&q).unwrap();
                assert!(
                    got.value >= HOST_NETWORK_PODS && got.value <= got.formula_value,
                    "{}",
                    ty.name
                );
            }
        }
    }
}
