//! Maglev consistent hashing as Cilium computes it (pkg/maglev) and as its datapath indexes it
//! (bpf/lib/lb.h, bpf/lib/hash.h): the lookup table of prime size M, its population, the flow
//! hash, and a measure of how many entries move when a backend goes away.
//!
//! Table population follows the Maglev paper (Eisenbud et al., NSDI 2016, §3.4): each backend
//! has a permutation of the M slots given by `offset` and `skip` from two hashes of its name;
//! backends take turns claiming their next unclaimed slot until the table is full. Cilium's
//! choices, followed here:
//! - the two hashes are the halves of MurmurHash3 x64_128 (pkg/murmur3, the reference
//!   algorithm) of the backend's hash string `[IP:PORT/PROTO,State:active]`, seeded with the
//!   first 4 bytes of the base64 cluster seed (default `JLfvgnHc2kaSUFaI`);
//!   `offset = h1 % M`, `skip = h2 % (M-1) + 1`;
//! - backends are sorted by that string first, so every node builds the same table;
//! - backend weights change how often a backend gets a turn (Cilium's Envoy-inspired scheme);
//!   Kubernetes endpoints all carry the same weight, for which the turns are plain
//!   round-robin, but the general rule is kept so Cilium's own reproducibility vector applies.
//!
//! The flow hash is `jhash_3words(saddr, dport << 16 | sport, nexthdr, seed)` (the destination
//! address is left out on purpose, so one client maps to the same backend on every VIP of a
//! service), with the words as a little-endian host reads them from the packet and the seed
//! taken from bytes 4..8 of the cluster seed. The table index is that hash % M.

use crate::model::Protocol;
use std::net::Ipv4Addr;

/// `--bpf-lb-maglev-table-size` default.
pub const DEFAULT_TABLE_SIZE: u32 = 16_381;
/// The sizes Cilium accepts (primes, roughly doubling).
pub const SUPPORTED_TABLE_SIZES: [u32; 10] = [251, 509, 1021, 2039, 4093, 8191, 16_381, 32_749, 65_521, 131_071];
/// `--bpf-lb-maglev-hash-seed` default (12 bytes, base64).
pub const DEFAULT_HASH_SEED: &str = "JLfvgnHc2kaSUFaI";

/// The three 32-bit seeds Cilium derives from the cluster-wide seed, big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub murmur: u32,
    pub jhash0: u32,
    pub jhash1: u32,
}

impl Seeds {
    /// Decodes a base64 seed of exactly 12 bytes, as the agent requires.
    pub fn from_base64(seed: &str) -> Option<Seeds> {
        let d = data_encoding::BASE64.decode(seed.as_bytes()).ok()?;
        if d.len() != 12 {
            return None;
        }
        let w = |i: usize| u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
        Some(Seeds {
            murmur: w(0),
            jhash0: w(4),
            jhash1: w(8),
        })
    }
}

impl Default for Seeds {
    fn default() -> Seeds {
        Seeds::from_base64(DEFAULT_HASH_SEED).expect("the default seed decodes")
    }
}

/// MurmurHash3 x64_128 (Appleby's reference), returning (h1, h2).
pub fn murmur3_x64_128(data: &[u8], seed: u32) -> (u64, u64) {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let fmix = |mut k: u64| {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    };
    let (mut h1, mut h2) = (u64::from(seed), u64::from(seed));
    let blocks = data.len() / 16;
    for b in 0..blocks {
        let word = |o: usize| u64::from_le_bytes(data[b * 16 + o..b * 16 + o + 8].try_into().expect("8 bytes"));
        let k1 = word(0).wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        let k2 = word(8).wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = &data[blocks * 16..];
    let (mut k1, mut k2) = (0u64, 0u64);
    for (i, &byte) in tail.iter().enumerate() {
        if i < 8 {
            k1 ^= u64::from(byte) << (8 * i);
        } else {
            k2 ^= u64::from(byte) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

/// Linux's `jhash_3words`.
pub fn jhash_3words(a: u32, b: u32, c: u32, initval: u32) -> u32 {
    let iv = initval.wrapping_add(0xdead_beef).wrapping_add(3 << 2);
    let (mut a, mut b, mut c) = (a.wrapping_add(iv), b.wrapping_add(iv), c.wrapping_add(iv));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c.wrapping_sub(b.rotate_left(24))
}

/// IANA protocol number (the tuple's `nexthdr`).
pub fn proto_number(p: Protocol) -> u32 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// `hash_from_tuple_v4` of a flow.
pub fn flow_hash(src: Ipv4Addr, sport: u16, dport: u16, proto: Protocol, seeds: &Seeds) -> u32 {
    // Network-order fields loaded as little-endian words, as on x86/arm64.
    let saddr = u32::from_le_bytes(src.octets());
    let ports = (u32::from(dport.swap_bytes()) << 16) | u32::from(sport.swap_bytes());
    jhash_3words(saddr, ports, proto_number(proto), seeds.jhash0)
}

/// The string Cilium hashes and sorts a backend by (`BackendInfo.setHashString`).
pub fn backend_hash_string(ip: Ipv4Addr, port: u16, proto: Protocol) -> String {
    format!("[{ip}:{port}/{},State:active]", proto.as_k8s())
}

fn offset_skip(name: &str, m: u64, seeds: &Seeds) -> (u64, u64) {
    let (h1, h2) = murmur3_x64_128(name.as_bytes(), seeds.murmur);
    (h1 % m, h2 % (m - 1) + 1)
}

/// A backend as the table sees it: its hash string, the id the table stores, its weight.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableBackend {
    pub name: String,
    pub id: u32,
    pub weight: u16,
}

fn sorted(backends: &[TableBackend]) -> Vec<&TableBackend> {
    let mut v: Vec<&TableBackend> = backends.iter().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Whose turn it is to claim a slot: backend `n % N`, unless weights are in use and that
/// backend is ahead of its share, in which case the turn passes on (computeLookupTable).
struct Turns {
    weights: Vec<u64>,
    sum: u64,
    counters: Vec<f64>,
    used: bool,
}

impl Turns {
    fn new(b: &[&TableBackend]) -> Turns {
        let l = b.len() as u64;
        let weights: Vec<u64> = b.iter().map(|x| u64::from(x.weight)).collect();
        let sum: u64 = weights.iter().sum();
        Turns {
            counters: weights.iter().map(|&w| w as f64 / l as f64).collect(),
            used: sum / l > 1,
            weights,
            sum,
        }
    }

    fn pick(&mut self, n: u64) -> usize {
        let l = self.weights.len();
        let mut i = (n % l as u64) as usize;
        if self.used {
            // Float counter truncated to an integer, as Cilium compares them.
            while (n + 1) * self.weights[i] < self.counters[i] as u64 {
                i = (i + 1) % l;
            }
            self.counters[i] += self.sum as f64;
        }
        i
    }
}

fn check_m(m: u32) {
    assert!(
        SUPPORTED_TABLE_SIZES.contains(&m),
        "Maglev table size {m} is not one Cilium supports"
    );
}

/// The table as the paper writes it out: the whole N×M permutation matrix first, then the
/// round-robin fill. Kept as the reference for `lookup_table`.
pub fn lookup_table_reference(backends: &[TableBackend], m: u32, seeds: &Seeds) -> Vec<u32> {
    check_m(m);
    if backends.is_empty() {
        return Vec::new();
    }
    let b = sorted(backends);
    let mu = u64::from(m);
    let perm: Vec<Vec<u64>> = b
        .iter()
        .map(|x| {
            let (offset, skip) = offset_skip(&x.name, mu, seeds);
            (0..mu).map(|j| (offset + j * skip) % mu).collect()
        })
        .collect();
    let mut next = vec![0usize; b.len()];
    let mut entry: Vec<Option<u32>> = vec![None; m as usize];
    let mut turns = Turns::new(&b);
    for n in 0..mu {
        let i = turns.pick(n);
        let mut c = perm[i][next[i]];
        while entry[c as usize].is_some() {
            next[i] += 1;
            c = perm[i][next[i]];
        }
        entry[c as usize] = Some(b[i].id);
        next[i] += 1;
    }
    entry.into_iter().map(|e| e.expect("every slot is filled")).collect()
}

/// The same table without materialising the permutations: backend i's j-th preference is
/// `(offset_i + j·skip_i) mod M`, advanced incrementally.
pub fn lookup_table(backends: &[TableBackend], m: u32, seeds: &Seeds) -> Vec<u32> {
    check_m(m);
    if backends.is_empty() {
        return Vec::new();
    }
    let b = sorted(backends);
    let mu = u64::from(m);
    // (current preference, skip) per backend.
    let mut cur: Vec<(u64, u64)> = b.iter().map(|x| offset_skip(&x.name, mu, seeds)).collect();
    const EMPTY: u32 = u32::MAX;
    let mut entry = vec![EMPTY; m as usize];
    let mut turns = Turns::new(&b);
    for n in 0..mu {
        let i = turns.pick(n);
        let (mut c, skip) = cur[i];
        while entry[c as usize] != EMPTY {
            c = (c + skip) % mu;
        }
        entry[c as usize] = b[i].id;
        cur[i] = ((c + skip) % mu, skip);
    }
    assert!(entry.iter().all(|&e| e != EMPTY), "Maglev table not full");
    entry
}

/// How a table changes when one backend is removed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Disruption {
    /// Share of all M entries that point somewhere else afterwards (ideal: 1/N).
    pub changed: f64,
    /// Share of the entries that did not point to the removed backend but moved anyway
    /// (ideal: 0; Maglev trades a little of this for balance).
    pub collateral: f64,
}

/// Builds the table for `backends`, removes `backends[removed]`, and compares the tables.
pub fn removal_disruption(backends: &[TableBackend], removed: usize, m: u32, seeds: &Seeds) -> Disruption {
    assert!(removed < backends.len() && backends.len() >= 2);
    let before = lookup_table(backends, m, seeds);
    let mut rest = backends.to_vec();
    let gone = rest.remove(removed).id;
    let after = lookup_table(&rest, m, seeds);
    let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    let kept: Vec<(u32, u32)> = before
        .iter()
        .zip(&after)
        .filter(|(a, _)| **a != gone)
        .map(|(a, b)| (*a, *b))
        .collect();
    let collateral = kept.iter().filter(|(a, b)| a != b).count();
    Disruption {
        changed: changed as f64 / f64::from(m),
        collateral: collateral as f64 / kept.len().max(1) as f64,
    }
}
