//! The first-packet lookup as Cilium's datapath performs it (`lb4_lookup_service`,
//! `lb4_local`, `__sock4_xlate_fwd` in bpf/lib/lb.h and bpf/bpf_sock.c), written once over a
//! `Maps` view so the reference (linear scans) and the fast engine (hash maps) run the same
//! steps; the comparison between them checks the map implementations.
//!
//! Every BPF map lookup counts one `Work.map_lookups`:
//! 1. the master entry (slot 0, external scope); with socket LB, a miss on a local address
//!    (a node IP or 127/8) retries the `0.0.0.0` NodePort surrogate (`sock4_wildcard_lookup`);
//! 2. from inside the node, a `two-scopes` frontend's internal-scope master;
//! 3. from outside, the source-range LPM when the frontend checks one;
//! 4. session affinity: the affinity entry, then the match map, then the backend;
//! 5. selection: random (one draw, `draw % count + 1` is the slot: slot entry, backend) or
//!    Maglev (outer map, inner table, backend). Socket LB always selects randomly: Cilium
//!    applies Maglev only to the per-packet path (Maglev docs: north-south traffic).
//!
//! Outcomes: no master → `NotAService`; a non-routable frontend (ClusterIP, the surrogate) from
//! outside → `NotAService` (the NodePort path ignores it); source range miss → `Drop`; zero
//! backends in the chosen scope → `Reject` (`--service-no-backend-response=reject`, the default
//! since Cilium 1.15: an ICMP unreachable; the `drop` alternative, used on kernels before 5.2,
//! is not modelled because the seam has no drop reason for it). Connection-tracking lookups
//! are not counted here: the cluster's conntrack table stands for Cilium's CT map.

use super::maps::*;
use super::{Algorithm, EbpfConfig};
use crate::model::*;
use std::net::Ipv4Addr;

/// Read access to the programmed maps, and the affinity map (written by the datapath).
pub(crate) trait Maps {
    fn service(&self, key: &LbKey) -> Option<LbValue>;
    fn backend(&self, id: u32) -> Option<&Backend>;
    fn src_range_ok(&self, rev_nat: u16, src: Ipv4Addr) -> bool;
    /// (service, port) of the frontend with this reverse-NAT id, which must exist.
    fn owner(&self, rev_nat: u16) -> (u32, u32);
    /// The endpoint index of `backend` among the frontend's (`LB_AFFINITY_MATCH_MAP` plus the
    /// agent's index), None if the backend is not one of its.
    fn endpoint_index(&self, rev_nat: u16, backend: u32) -> Option<u32>;
    /// Backend id at `index` of the Maglev table of (rev_nat, scope).
    fn maglev(&mut self, rev_nat: u16, scope: Scope, index: u32) -> u32;
    /// (backend id, last used ns) of (client, rev_nat).
    fn affinity(&self, client: Ipv4Addr, rev_nat: u16) -> Option<(u32, u64)>;
    fn set_affinity(&mut self, client: Ipv4Addr, rev_nat: u16, backend: u32, now_ns: u64);
    fn clear_affinity(&mut self, client: Ipv4Addr, rev_nat: u16);
}

/// Records a step when tracing; the text is only formatted then (lookups without a trace are
/// the simulator's hot path).
fn step(trace: &mut Option<&mut Vec<TraceStep>>, table: &str, chain: &str, text: impl FnOnce() -> String) {
    if let Some(t) = trace.as_deref_mut() {
        t.push(TraceStep {
            table: table.into(),
            chain: chain.into(),
            rule: 0,
            text: text(),
        });
    }
}

const SVC_MAP: &str = "cilium_lb4_services_v2";

/// Whether the connection is translated by the socket hooks (connect/sendmsg) instead of
/// per packet: socket LB on and the connection starts on this node.
pub fn socket_translated(cfg: &EbpfConfig, origin: Origin) -> bool {
    cfg.socket_lb && origin != Origin::External
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn lookup<M: Maps>(
    maps: &mut M,
    cfg: &EbpfConfig,
    node: &NodeView,
    pkt: &Packet,
    origin: Origin,
    now_ns: u64,
    rng: &mut dyn RandomSource,
    mut trace: Option<&mut Vec<TraceStep>>,
) -> Verdict {
    let mut work = Work::default();
    let socket = socket_translated(cfg, origin);
    let not_a_service = |work| Verdict {
        decision: Decision::NotAService,
        masquerade: false,
        work,
    };
    if socket {
        step(&mut trace, "cgroup/connect4", "cil_sock4_connect", || {
            "socket LB: translated at connect(), no per-packet NAT".into()
        });
    }
    let mut key = LbKey {
        addr: pkt.dst,
        port: pkt.dport,
        proto: pkt.proto,
        scope: Scope::External,
        slot: 0,
    };
    work.map_lookups += 1;
    let mut master = maps.service(&key);
    let local_addr = node.node_ips.contains(&pkt.dst) || pkt.dst.octets()[0] == 127;
    if master.is_none() && socket && local_addr {
        key.addr = Ipv4Addr::UNSPECIFIED;
        work.map_lookups += 1;
        master = maps.service(&key);
    }
    let Some(mut master) = master else {
        return not_a_service(work);
    };
    step(&mut trace, SVC_MAP, "service", || {
        format!(
            "{} 0.0.0.0:0 ({}) (0) [{}]",
            key.frontend_string(),
            master.rev_nat,
            master.flags.describe()
        )
    });
    let rev_nat = master.rev_nat;
    let (service, port) = maps.owner(rev_nat);
    if origin == Origin::External && !master.flags.routable {
        return not_a_service(work);
    }
    if origin != Origin::External && master.flags.two_scopes {
        key.scope = Scope::Internal;
        work.map_lookups += 1;
        master = maps
            .service(&key)
            .expect("a two-scopes frontend has an internal-scope master");
        step(&mut trace, SVC_MAP, "service", || {
            format!(
                "{} 0.0.0.0:0 ({}) (0) [{}]",
                key.frontend_string(),
                rev_nat,
                master.flags.describe()
            )
        });
    }
    if origin == Origin::External && master.flags.source_range {
        work.map_lookups += 1;
        let ok = maps.src_range_ok(rev_nat, pkt.src);
        step(&mut trace, "cilium_lb4_source_range", "lpm", || {
            format!("{} ({}) {}", pkt.src, rev_nat, if ok { "allow" } else { "deny" })
        });
        if !ok {
            return Verdict {
                decision: Decision::Drop {
                    service,
                    port,
                    reason: DropReason::SourceRangeDenied,
                },
                masquerade: false,
                work,
            };
        }
    }
    if master.count == 0 {
        step(&mut trace, SVC_MAP, "service", || {
            "no backends: reply ICMP destination unreachable".into()
        });
        return Verdict {
            decision: Decision::Reject {
                service,
                port,
                reason: RejectReason::NoEndpoints,
            },
            masquerade: false,
            work,
        };
    }

    let mut chosen: Option<u32> = None;
    if master.flags.affinity {
        work.map_lookups += 1;
        if let Some((b, last)) = maps.affinity(pkt.src, rev_nat) {
            let timeout = u64::from(master.affinity_timeout_s) * 1_000_000_000;
            if last.saturating_add(timeout) <= now_ns {
                maps.clear_affinity(pkt.src, rev_nat);
            } else {
                work.map_lookups += 1;
                if maps.endpoint_index(rev_nat, b).is_some() {
                    work.map_lookups += 1;
                    if maps.backend(b).is_some() {
                        chosen = Some(b);
                        step(&mut trace, "cilium_lb4_affinity", "client", || {
                            format!("{} ({}) -> backend {}", pkt.src, rev_nat, b)
                        });
                    }
                } else {
                    maps.clear_affinity(pkt.src, rev_nat);
                }
            }
        }
    }
    let id = match chosen {
        Some(b) => b,
        None if socket || cfg.algorithm == Algorithm::Random => {
            let draw = rng.next_u32();
            work.random_draws += 1;
            let slot = (draw % u32::from(master.count)) as u16 + 1;
            work.map_lookups += 1;
            let v = maps
                .service(&LbKey { slot, ..key })
                .expect("every slot up to count is programmed");
            step(&mut trace, SVC_MAP, "slot", || {
                format!(
                    "{} random {} % {} + 1 = slot {} -> backend {}",
                    key.frontend_string(),
                    draw,
                    master.count,
                    slot,
                    v.backend_id
                )
            });
            work.map_lookups += 1;
            v.backend_id
        }
        None => {
            let Algorithm::Maglev { table_size } = cfg.algorithm else {
                unreachable!("the random arm takes every other algorithm")
            };
            let h = super::maglev::flow_hash(pkt.src, pkt.sport, pkt.dport, pkt.proto, &cfg.seeds);
            let index = h % table_size;
            work.map_lookups += 2;
            let b = maps.maglev(rev_nat, key.scope, index);
            step(&mut trace, "cilium_lb4_maglev", "lut", || {
                format!("({}) hash {} % {} = {} -> backend {}", rev_nat, h, table_size, index, b)
            });
            work.map_lookups += 1;
            b
        }
    };
    // Only what the verdict needs is taken from the backend (no clone of its node name); the
    // node is compared only for traffic from outside.
    let (ip, dport, remote) = {
        let be = maps.backend(id).expect("selected backends exist");
        step(&mut trace, "cilium_lb4_backends_v3", "backend", || {
            format!("{} -> {}:{}/{}", id, be.ip, be.port, be.proto.as_k8s())
        });
        (be.ip, be.port, origin == Origin::External && be.node != node.name)
    };
    if master.flags.affinity {
        maps.set_affinity(pkt.src, rev_nat, id, now_ns);
    }
    let index = maps
        .endpoint_index(rev_nat, id)
        .expect("every backend of a frontend has an endpoint");
    // Hairpin (a pod reaching itself through the service) is source-NATed to the loopback
    // service address per packet; north-south traffic to a remote backend is SNATed to the
    // node (SNAT mode, no DSR); socket LB never rewrites packets.
    let masquerade = !socket && (ip == pkt.src || remote);
    Verdict {
        decision: Decision::Dnat {
            service,
            port,
            index,
            ip,
            dport,
        },
        masquerade,
        work,
    }
}
