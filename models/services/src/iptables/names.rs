//! kube-proxy's names and numbers for the iptables proxier: the hashed per-service and
//! per-endpoint chain names, the fixed chain names, and the `statistic` probabilities as
//! kube-proxy prints them and as iptables stores them in the kernel.
//!
//! Source: kubernetes/kubernetes pkg/proxy/iptables/proxier.go (release 1.31 line:
//! `portProtoHash`, `servicePortEndpointChainName`, `computeProbability`) and iptables'
//! libxt_statistic.c (`lround(0x80000000 * probability)`).

use data_encoding::BASE32;
use sha2::{Digest, Sha256};

pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
pub const KUBE_PROXY_CANARY: &str = "KUBE-PROXY-CANARY";
/// kubelet's anti-martian chain, which kube-proxy duplicates when localhost NodePorts are on.
pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";

/// The 16 characters kube-proxy appends to a chain prefix: SHA-256 of the concatenated parts,
/// base32 (standard alphabet), truncated. Base32 turns 5 bytes into 8 characters, so the 16
/// kept are exactly the encoding of the digest's first 10 bytes. Chain names must stay within
/// 28 characters.
fn hash16(parts: &[&str]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    BASE32.encode_mut(&digest[..10], &mut out);
    out
}

/// A hashed chain name (`KUBE-SVC-` and the like, then 16 characters), held inline: a
/// generator makes one per Service port and endpoint, so they should cost no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashedName {
    buf: [u8; 25],
    len: u8,
}

impl HashedName {
    /// `prefix` is at most 9 bytes (`KUBE-SEP-`).
    fn new(prefix: &str, hash: &[u8; 16]) -> HashedName {
        let mut buf = [0u8; 25];
        let p = prefix.len();
        buf[..p].copy_from_slice(prefix.as_bytes());
        buf[p..p + 16].copy_from_slice(hash);
        HashedName {
            buf,
            len: (p + 16) as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).expect("prefix and base32 are ASCII")
    }
}

impl std::ops::Deref for HashedName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for HashedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for HashedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for HashedName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The per-service-port chains, all hashed from `servicePortName.String() + protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceChains {
    /// KUBE-SVC-*: Cluster traffic policy endpoints.
    pub svc: HashedName,
    /// KUBE-SVL-*: Local traffic policy endpoints.
    pub svl: HashedName,
    /// KUBE-EXT-*: external destinations (NodePort, LB, external IPs).
    pub ext: HashedName,
    /// KUBE-FW-*: loadBalancerSourceRanges.
    pub fw: HashedName,
}

impl ServiceChains {
    /// `port_name` is `Service::port_name` (ServicePortName.String()); `protocol` lower case.
    pub fn new(port_name: &str, protocol: &str) -> ServiceChains {
        let h = hash16(&[port_name, protocol]);
        ServiceChains {
            svc: HashedName::new("KUBE-SVC-", &h),
            svl: HashedName::new("KUBE-SVL-", &h),
            ext: HashedName::new("KUBE-EXT-", &h),
            fw: HashedName::new("KUBE-FW-", &h),
        }
    }
}

/// KUBE-SEP-*: hashed from port name, protocol and the endpoint's `ip:port` string.
pub fn endpoint_chain(port_name: &str, protocol: &str, endpoint: &str) -> HashedName {
    HashedName::new("KUBE-SEP-", &hash16(&[port_name, protocol, endpoint]))
}

/// Whether kube-proxy considers a nat chain one of its per-service chains (and so deletes it
/// with `-X` once no service uses it).
pub fn is_service_chain(name: &str) -> bool {
    ["KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-FW-", "KUBE-EXT-"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// `1/n` as kube-proxy prints it: Go's `%0.10f`, which rounds the exact binary value
/// half-to-even. Done in integers so that ties (n = 2048, 10240, ...) round as Go does
/// whatever the float formatter of the day does.
pub fn probability_text(n: u32) -> String {
    assert!(n >= 1, "a probability ladder step needs at least one endpoint");
    let v = 1.0f64 / f64::from(n);
    // v = m · 2^e exactly; scale by 10^10 and round half to even on the exact rational.
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    assert!(exp > 0, "1/n is a normal float for every u32 n");
    // value = mant · 2^(exp-1075); all 1/n ≤ 1 so the shift is non-negative.
    let shift = (1075 - exp) as u32;
    let num: u128 = u128::from(mant) * 10_000_000_000u128;
    let (q, r) = if shift >= 128 {
        (0u128, num)
    } else {
        (num >> shift, num & ((1u128 << shift) - 1))
    };
    let half = 1u128 << (shift - 1);
    let rounded = if r > half || (r == half && q % 2 == 1) {
        q + 1
    } else {
        q
    };
    format!("{}.{:010}", rounded / 10_000_000_000, rounded % 10_000_000_000)
}

/// The value iptables stores for `--probability p` (libxt_statistic: `lround(0x80000000 *
/// strtod(text))`), compared in the kernel against `get_random_u32() & 0x7FFFFFFF`.
pub fn probability_kernel(text: &str) -> u32 {
    let p: f64 = text.parse().expect("probability text is a decimal");
    assert!((0.0..=1.0).contains(&p), "probability within [0, 1]");
    (2_147_483_648.0 * p).round() as u32
}

/// One step of a probability ladder as written and as loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probability {
    /// `probability_text(n)`.
    pub text: String,
    /// `probability_kernel(text)`.
    pub kernel: u32,
}

/// `1/n` for every `n` a generation needs, computed once: every Service's ladder repeats the
/// same steps.
#[derive(Clone, Debug, Default)]
pub struct Probabilities {
    by_n: Vec<Option<Probability>>,
}

impl Probabilities {
    pub fn get(&mut self, n: u32) -> &Probability {
        let i = n as usize;
        if self.by_n.len() <= i {
            self.by_n.resize(i + 1, None);
        }
        self.by_n[i].get_or_insert_with(|| {
            let text = probability_text(n);
            let kernel = probability_kernel(&text);
            Probability { text, kernel }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_match_kube_proxy_fixtures() {
        // From proxier_test.go TestOverallIPTablesRules (ns1/svc1:p80, ns5/svc5:p80).
        assert_eq!(
            ServiceChains::new("ns1/svc1:p80", "tcp").svc,
            "KUBE-SVC-XPGD46QRK7WJZT7O"
        );
        assert_eq!(ServiceChains::new("ns5/svc5:p80", "tcp").fw, "KUBE-FW-NUKIZ6OKUXPJNT4C");
        assert_eq!(
            endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
    }

    #[test]
    fn probabilities_round_like_go() {
        assert_eq!(probability_text(1), "1.0000000000");
        assert_eq!(probability_text(2), "0.5000000000");
        assert_eq!(probability_text(3), "0.3333333333");
        assert_eq!(probability_text(6), "0.1666666667");
        // 1/2048 = 0.00048828125 exactly: a tie at the 11th digit, to even.
        assert_eq!(probability_text(2048), "0.0004882812");
        // 1/10240 is not a binary fraction: its float lies just above the tie, so it rounds up.
        assert_eq!(probability_text(10240), "0.0000976563");
        assert_eq!(probability_kernel("0.5000000000"), 0x4000_0000);
        assert_eq!(probability_kernel("1.0000000000"), 0x8000_0000);
    }
}
