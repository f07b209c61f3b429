//! The EC2 instance catalog: per-type network limits that IPAM arithmetic needs.
//!
//! Owns the parsing of `data/aws/instance_limits.csv` (provenance in `data/aws/SOURCES.md`),
//! embedded at compile time so a run never depends on files next to the binary.

use std::collections::BTreeMap;
use std::fmt;

/// The CSV is part of the binary: the catalog is the same on every machine.
const INSTANCE_LIMITS_CSV: &str = include_str!("../data/aws/instance_limits.csv");
const CSV_HEADER: &str =
    "instance_type,max_enis,ipv4_per_eni,ipv6_per_eni,branch_enis,default_vcpus,hypervisor,bare_metal,network_cards";

/// The hypervisor an instance type runs on; prefix delegation needs Nitro.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    Nitro,
    Xen,
    /// The EC2 API reported none (mostly bare metal types).
    Unknown,
}

/// Network limits of one EC2 instance type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceType {
    pub name: String,
    /// ENIs on the default network card (the CNI's ENILimit), not the instance total.
    pub max_enis: u32,
    pub ipv4_per_eni: u32,
    /// None: the type is absent from the 2023 EC2 table; Some(0): no IPv6.
    pub ipv6_per_eni: Option<u32>,
    /// Branch ENIs for security groups for pods. None: unknown; Some(0): not trunk-capable.
    pub branch_enis: Option<u32>,
    pub default_vcpus: Option<u32>,
    pub hypervisor: Hypervisor,
    pub bare_metal: bool,
    pub network_cards: u32,
}

impl InstanceType {
    /// AWS's published max-pods formula (eni-max-pods.txt): each ENI keeps its primary address
    /// for itself, and two host-network pods (aws-node, kube-proxy) need no pod address.
    pub fn eni_max_pods(&self) -> u32 {
        self.max_enis * (self.ipv4_per_eni - 1) + 2
    }
}

/// Every instance type cnsim knows, sorted by name.
#[derive(Clone, Debug)]
pub struct InstanceCatalog {
    types: BTreeMap<String, InstanceType>,
}

/// A malformed catalog row: only reachable if the embedded data file is edited badly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instance_limits.csv:{}: {}", self.line, self.message)
    }
}

impl std::error::Error for CatalogError {}

impl InstanceCatalog {
    /// The catalog embedded in the binary.
    pub fn embedded() -> &'static InstanceCatalog {
        static CATALOG: std::sync::OnceLock<InstanceCatalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(|| {
            InstanceCatalog::parse(INSTANCE_LIMITS_CSV)
                .expect("the embedded instance_limits.csv is checked by a unit test")
        })
    }

    /// Parses the CSV format of `data/aws/instance_limits.csv`.
    pub fn parse(csv: &str) -> Result<InstanceCatalog, CatalogError> {
        let mut lines = csv.lines().enumerate();
        match lines.next() {
            Some((_, header)) if header.trim() == CSV_HEADER => {}
            _ => {
                return Err(CatalogError {
                    line: 1,
                    message: format!("expected the header {CSV_HEADER:?}"),
                })
            }
        }
        let mut types = BTreeMap::new();
        for (index, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let row = parse_row(line).map_err(|message| CatalogError {
                line: index + 1,
                message,
            })?;
            if types.insert(row.name.clone(), row).is_some() {
                return Err(CatalogError {
                    line: index + 1,
                    message: "duplicate instance type".into(),
                });
            }
        }
        Ok(InstanceCatalog { types })
    }

    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.types.get(name)
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// All types, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &InstanceType> {
        self.types.values()
    }

    /// Up to `limit` known names close to `name`, for "did you mean" in errors: the same family
    /// (the part before the dot) first, then any name sharing the longest prefix.
    pub fn suggest(&self, name: &str, limit: usize) -> Vec<&str> {
        let family = name.split('.').next().unwrap_or(name);
        let mut same_family: Vec<&str> = self
            .types
            .keys()
            .filter(|k| k.split('.').next() == Some(family))
            .map(String::as_str)
            .collect();
        if same_family.is_empty() {
            let common = |k: &str| k.chars().zip(name.chars()).take_while(|(a, b)| a == b).count();
            let best = self.types.keys().map(|k| common(k)).max().unwrap_or(0);
            if best > 0 {
                same_family = self
                    .types
                    .keys()
                    .filter(|k| common(k) == best)
                    .map(String::as_str)
                    .collect();
            }
        }
        same_family.truncate(limit);
        same_family
    }
}

fn parse_row(line: &str) -> Result<InstanceType, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != 9 {
        return Err(format!("expected 9 fields, found {}", fields.len()));
    }
    let required = |i: usize, what: &str| -> Result<u32, String> {
        fields[i]
            .parse::<u32>()
            .map_err(|_| format!("{what}: expected a whole number, found {:?}", fields[i]))
    };
    let optional = |i: usize, what: &str| -> Result<Option<u32>, String> {
        if fields[i].is_empty() {
            Ok(None)
        } else {
            required(i, what).map(Some)
        }
    };
    let hypervisor = match fields[6] {
        "nitro" => Hypervisor::Nitro,
        "xen" => Hypervisor::Xen,
        "unknown" => Hypervisor::Unknown,
        other => return Err(format!("hypervisor: expected nitro, xen or unknown, found {other:?}")),
    };
    let bare_metal = match fields[7] {
        "true" => true,
        "false" => false,
        other => return Err(format!("bare_metal: expected true or false, found {other:?}")),
    };
    let row = InstanceType {
        name: fields[0].to_string(),
        max_enis: required(1, "max_enis")?,
        ipv4_per_eni: required(2, "ipv4_per_eni")?,
        ipv6_per_eni: optional(3, "ipv6_per_eni")?,
        branch_enis: optional(4, "branch_enis")?,
        default_vcpus: optional(5, "default_vcpus")?,
        hypervisor,
        bare_metal,
        network_cards: required(8, "network_cards")?,
    };
    if row.name.is_empty() || row.max_enis == 0 || row.ipv4_per_eni == 0 {
        return Err("instance type needs a name, at least one ENI and one IPv4 per ENI".into());
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENI_MAX_PODS_TXT: &str = include_str!("../data/aws/eni_max_pods.txt");

    #[test]
    fn embedded_catalog_parses_every_row() {
        let catalog = InstanceCatalog::embedded();
        let rows = INSTANCE_LIMITS_CSV
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(catalog.len(), rows);
        assert_eq!(rows, 1391, "SOURCES.md documents 1391 rows");
    }

    /// AWS's own published table is an independent check of both the parse and the formula.
    #[test]
    fn formula_matches_aws_published_max_pods_for_every_type() {
        let catalog = InstanceCatalog::embedded();
        let mut checked = 0;
        for line in ENI_MAX_PODS_TXT.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (name, published) = (parts.next().unwrap(), parts.next().unwrap());
            let published: u32 = published.parse().unwrap();
            let ty = catalog
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing from catalog"));
            assert_eq!(ty.eni_max_pods(), published, "{name}");
            checked += 1;
        }
        assert_eq!(checked, catalog.len());
    }

    #[test]
    fn known_rows_read_correctly() {
        let m5 = InstanceCatalog::embedded().get("m5.large").unwrap();
        assert_eq!((m5.max_enis, m5.ipv4_per_eni, m5.branch_enis), (3, 10, Some(9)));
        assert_eq!(m5.hypervisor, Hypervisor::Nitro);
        assert_eq!(m5.eni_max_pods(), 29);
    }

    #[test]
    fn malformed_rows_are_rejected_with_their_line() {
        let bad = format!("{CSV_HEADER}\na.large,3,10,10,9,2,nitro,false,1\nb.large,x,10,,,,xen,false,1\n");
        let err = InstanceCatalog::parse(&bad).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("max_enis"), "{err}");
        assert!(InstanceCatalog::parse("nope\n").is_err());
    }

    #[test]
    fn suggestions_prefer_the_same_family() {
        let s = InstanceCatalog::embedded().suggest("m5.huge", 3);
        assert!(!s.is_empty() && s.iter().all(|n| n.starts_with("m5.")), "{s:?}");
    }
}
