//! The cost model: turns the work a datapath counted (rules evaluated, hash probes, map
//! lookups, random draws) into CPU time, and a sync's writes into programming time. Every
//! constant's source, and the check against published measurements, is in
//! models/services/CALIBRATION.md.

use crate::model::{Mode, SyncStats, Work};

/// Per-unit CPU costs of one lookup, in nanoseconds (integer: results stay exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupCost {
    /// Fixed cost of a NEW connection through the hook (conntrack allocation, hook entry).
    pub base_ns: u64,
    pub per_rule_ns: u64,
    pub per_hash_probe_ns: u64,
    pub per_map_lookup_ns: u64,
    pub per_random_draw_ns: u64,
}

impl LookupCost {
    pub fn ns(&self, w: &Work) -> u64 {
        self.base_ns
            + u64::from(w.rules_evaluated) * self.per_rule_ns
            + u64::from(w.hash_probes) * self.per_hash_probe_ns
            + u64::from(w.map_lookups) * self.per_map_lookup_ns
            + u64::from(w.random_draws) * self.per_random_draw_ns
    }
}

/// Programming cost of a sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncCost {
    pub base_ns: u64,
    pub per_object_ns: u64,
    pub per_byte_ns: u64,
    /// Cost that scales with what the datapath holds, not with what changed (nftables
    /// transactions re-validate the table: 141 ms at 10k Services, 1.33 s at 44k).
    pub per_programmed_service_ns: u64,
}

impl SyncCost {
    /// `services` is how many Services the datapath holds after the sync.
    pub fn ns(&self, s: &SyncStats, services: u64) -> u64 {
        self.base_ns
            + s.objects_written * self.per_object_ns
            + s.bytes_written * self.per_byte_ns
            + services * self.per_programmed_service_ns
    }
}

/// Latency the published first-packet charts include that is not datapath CPU (the flat part
/// of the nftables p50). Used only when checking the model against those charts.
pub const FIRST_PACKET_FLOOR_NS: u64 = 12_000;

/// The calibrated constants for a mode. CALIBRATION.md gives each one's source: per-rule from
/// the kube-proxy nftables blog's iptables chart (18.0 ns/rule between 5k and 30k Services);
/// IPVS base and per-probe from the same post's IPVS series (N/512 probes per lookup); bases
/// for iptables/nftables/eBPF and all random-draw costs are assumptions stated there.
pub fn lookup_cost(mode: Mode) -> LookupCost {
    match mode {
        Mode::Iptables => LookupCost {
            base_ns: 2_000,
            per_rule_ns: 18,
            per_hash_probe_ns: 50,
            per_map_lookup_ns: 60,
            per_random_draw_ns: 20,
        },
        Mode::Ipvs => LookupCost {
            base_ns: 9_600,
            per_rule_ns: 18,
            per_hash_probe_ns: 100,
            per_map_lookup_ns: 60,
            per_random_draw_ns: 20,
        },
        Mode::Nftables => LookupCost {
            base_ns: 2_000,
            per_rule_ns: 30,
            per_hash_probe_ns: 50,
            per_map_lookup_ns: 60,
            per_random_draw_ns: 20,
        },
        Mode::Ebpf => LookupCost {
            base_ns: 300,
            per_rule_ns: 18,
            per_hash_probe_ns: 40,
            per_map_lookup_ns: 40,
            per_random_draw_ns: 20,
        },
    }
}

/// Cost of a packet that matches an existing conntrack entry (assumption, CALIBRATION.md):
/// independent of the number of Services, as Tigera's keep-alive results show.
pub fn established_cost_ns(mode: Mode) -> u64 {
    match mode {
        Mode::Iptables | Mode::Nftables => 250,
        Mode::Ipvs => 350,
        Mode::Ebpf => 150,
    }
}

/// Sync costs: iptables 18 µs per restore line (kubernetes#96018: 695,992 lines in 12.77 s).
pub fn sync_cost(mode: Mode) -> SyncCost {
    match mode {
        Mode::Iptables => SyncCost {
            base_ns: 5_000_000,
            per_object_ns: 18_000,
            per_byte_ns: 0,
            per_programmed_service_ns: 0,
        },
        Mode::Ipvs => SyncCost {
            base_ns: 5_000_000,
            per_object_ns: 50_000,
            per_byte_ns: 0,
            per_programmed_service_ns: 0,
        },
        Mode::Nftables => SyncCost {
            base_ns: 10_000_000,
            per_object_ns: 18_000,
            per_byte_ns: 0,
            per_programmed_service_ns: 20_000,
        },
        Mode::Ebpf => SyncCost {
            base_ns: 500_000,
            per_object_ns: 1_000,
            per_byte_ns: 0,
            per_programmed_service_ns: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published reference points (CALIBRATION.md) that the constants alone must meet:
    /// iptables first-packet p50 for a half walk of KUBE-SERVICES, within 2x.
    #[test]
    fn iptables_first_packet_p50_is_within_2x_of_the_published_chart() {
        for (services, published_ns) in [(5_000u64, 48_800u64), (10_000, 63_300), (30_000, 273_500)] {
            let half_walk = Work {
                rules_evaluated: (services / 2) as u32,
                ..Work::default()
            };
            let predicted = FIRST_PACKET_FLOOR_NS + lookup_cost(Mode::Iptables).ns(&half_walk);
            let ratio = predicted as f64 / published_ns as f64;
            assert!(
                (0.5..=2.0).contains(&ratio),
                "{services} Services: predicted {predicted} ns vs {published_ns} ns"
            );
        }
    }

    #[test]
    fn iptables_restore_of_a_large_table_matches_the_reported_duration() {
        // kubernetes#96018: 695,992 lines restored in 12.77 s.
        let stats = SyncStats {
            objects_written: 695_992,
            bytes_written: 0,
        };
        let predicted = sync_cost(Mode::Iptables).ns(&stats, 0) as f64 / 1e9;
        assert!((12.77 / 2.0..=12.77 * 2.0).contains(&predicted), "{predicted} s");
    }
}
