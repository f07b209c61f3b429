//! Pins everything the iptables engine shows the outside on fixed, varied rulesets: the sync
//! accounting, the restore text of full and partial syncs, the dump, and the verdicts, work
//! and traces of lookups through both evaluators. The constants were computed from the engine
//! before its memory layout was reworked for 30,000-Service clusters; any change to them is a
//! change of output, not of representation, and needs its own justification.
//!
//! Two sizes: one below kube-proxy's large-cluster threshold (per-endpoint comments written)
//! and one above it (comments dropped). Hashes are FNV-1a 64 over the text (stable across
//! Rust versions, unlike `DefaultHasher`).

use cnsim_services::iptables::{IptablesFast, IptablesReference, ProxierConfig};
use cnsim_services::testing::{cluster_ip_services, node_view, SplitMix};
use cnsim_services::*;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `n` services with `e` endpoints, every Service feature the generator handles spread over
/// them by index.
fn varied_set(n: u32, e: u32) -> ServiceSet {
    let mut set = cluster_ip_services(n, e);
    for i in 0..n as usize {
        let s = &mut set.services[i];
        let np = 30000 + i as u16;
        match i % 12 {
            1 => {
                s.kind = ServiceType::NodePort;
                s.ports[0].node_port = Some(np);
            }
            2 => {
                s.kind = ServiceType::LoadBalancer;
                s.ports[0].node_port = Some(np);
                s.load_balancer_ips = vec![Ipv4Addr::new(198, 51, 100, i as u8)];
                s.load_balancer_source_ranges = vec!["192.0.2.0/24".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
            }
            3 => {
                s.kind = ServiceType::LoadBalancer;
                s.ports[0].node_port = Some(np);
                s.load_balancer_ips = vec![Ipv4Addr::new(198, 51, 101, i as u8)];
                s.external_traffic_policy = TrafficPolicy::Local;
            }
            4 => s.external_ips = vec![Ipv4Addr::new(203, 0, 113, i as u8)],
            5 => s.session_affinity_seconds = Some(10800),
            6 => s.internal_traffic_policy = TrafficPolicy::Local,
            7 => s.cluster_ip = None,
            8 => {
                s.kind = ServiceType::NodePort;
                s.ports[0].node_port = Some(np);
                s.external_traffic_policy = TrafficPolicy::Local;
                s.session_affinity_seconds = Some(60);
                s.ports.push(ServicePort {
                    name: "dns".into(),
                    protocol: Protocol::Udp,
                    port: 53,
                    node_port: Some(np + 10000),
                });
                let eps = set.endpoints[i][0].clone();
                set.endpoints[i].push(eps);
            }
            9 => set.endpoints[i][0].clear(),
            10 => {
                set.endpoints[i][0][0].ready = false;
                set.endpoints[i][0][0].terminating = true;
            }
            11 => {
                s.kind = ServiceType::LoadBalancer;
                s.ports[0].node_port = Some(np);
                s.load_balancer_ips = vec![Ipv4Addr::new(198, 51, 102, i as u8)];
                s.load_balancer_source_ranges = vec!["192.0.2.0/24".parse().unwrap()];
                s.external_traffic_policy = TrafficPolicy::Local;
                set.endpoints[i][0].truncate(1);
                set.endpoints[i][0][0].node = "node-0".into();
            }
            _ => {}
        }
    }
    set
}

/// Every destination the set offers, from every origin, twice (affinity), through both
/// evaluators; the verdicts and traces as text.
fn lookups(set: &ServiceSet, r: &mut IptablesReference, f: &mut IptablesFast) -> String {
    let node = node_view().node_ips[0];
    let mut out = String::new();
    let (mut rr, mut rf) = (SplitMix(11), SplitMix(11));
    let mut now = 1_000_000_000u64;
    for (s, svc) in set.services.iter().enumerate() {
        for port in &svc.ports {
            let mut dsts = vec![(svc.cluster_ip.unwrap_or(Ipv4Addr::new(172, 20, 255, 1)), port.port)];
            dsts.extend(port.node_port.map(|np| (node, np)));
            dsts.extend(port.node_port.map(|np| (Ipv4Addr::LOCALHOST, np)));
            dsts.extend(svc.external_ips.iter().map(|&ip| (ip, port.port)));
            dsts.extend(svc.load_balancer_ips.iter().map(|&ip| (ip, port.port)));
            for (dst, dport) in dsts {
                for origin in [Origin::LocalPod, Origin::Host, Origin::External] {
                    for src in [Ipv4Addr::new(10, 244, 1, 5), Ipv4Addr::new(192, 0, 2, 7), node] {
                        let pkt = Packet {
                            src,
                            dst,
                            sport: 40000,
                            dport,
                            proto: port.protocol,
                        };
                        for _ in 0..2 {
                            let (mut tr, mut tf) = (Vec::new(), Vec::new());
                            let vr = r.lookup(&pkt, origin, now, &mut rr, Some(&mut tr));
                            let vf = f.lookup(&pkt, origin, now, &mut rf, Some(&mut tf));
                            assert_eq!((vr, &tr), (vf, &tf), "service {s}: {pkt:?} from {origin:?}");
                            let _ = writeln!(out, "{s} {pkt:?} {origin:?} {vr:?} {tr:?}");
                            now += 3_000_000_000;
                        }
                    }
                }
            }
        }
    }
    out
}

/// What a run over `set` shows: full sync, lookups, then a partial sync to a changed set
/// that removes a Service and some endpoints (stale chains deleted).
fn observe(set: ServiceSet) -> Vec<(String, u64)> {
    let node = node_view();
    let mut r = IptablesReference::new(ProxierConfig::default());
    let mut f = IptablesFast::new(ProxierConfig::default());
    f.state.keep_restore_text = true;
    let st = r.full_sync(&set, &node);
    assert_eq!(st, f.full_sync(&set, &node));
    let mut seen = vec![
        (format!("full {st:?}"), 0),
        (
            "full restore".into(),
            fnv1a(f.state.last_restore_text.as_deref().unwrap()),
        ),
        ("full dump".into(), fnv1a(&f.dump())),
        ("lookups".into(), fnv1a(&lookups(&set, &mut r, &mut f))),
    ];
    assert_eq!(r.dump(), f.dump());
    let mut changed = set.clone();
    changed.services.remove(3);
    changed.endpoints.remove(3);
    changed.endpoints[0][0].truncate(1);
    changed.endpoints[4][0].pop();
    let st = r.partial_sync(&changed, &node, &[0, 2, 3, 4]);
    assert_eq!(st, f.partial_sync(&changed, &node, &[0, 2, 3, 4]));
    seen.push((format!("partial {st:?}"), 0));
    let restore = f.state.last_restore_text.as_deref().unwrap();
    assert!(
        restore.contains("\n-X KUBE-SVC-"),
        "the removed Service's chains are deleted"
    );
    seen.push(("partial restore".into(), fnv1a(restore)));
    seen.push(("partial dump".into(), fnv1a(&f.dump())));
    seen.push(("partial lookups".into(), fnv1a(&lookups(&changed, &mut r, &mut f))));
    seen
}

fn check(got: Vec<(String, u64)>, want: &[(&str, u64)]) {
    let got: Vec<(&str, u64)> = got.iter().map(|(s, h)| (s.as_str(), *h)).collect();
    assert_eq!(got, want, "iptables output changed");
}

#[test]
fn output_below_the_large_cluster_threshold_is_pinned() {
    check(
        observe(varied_set(36, 4)),
        &[
            ("full SyncStats { objects_written: 585, bytes_written: 84945 }", 0),
            ("full restore", 2460846860300536342),
            ("full dump", 6715631881095587105),
            ("lookups", 4924679107069501652),
            ("partial SyncStats { objects_written: 129, bytes_written: 18180 }", 0),
            ("partial restore", 14477063230357861545),
            ("partial dump", 2865685581215009988),
            ("partial lookups", 17900060065689134413),
        ],
    );
}

#[test]
fn output_above_the_large_cluster_threshold_is_pinned() {
    check(
        observe(varied_set(150, 9)),
        &[
            ("full SyncStats { objects_written: 4512, bytes_written: 502732 }", 0),
            ("full restore", 18323666396344196965),
            ("full dump", 14881367114172880764),
            ("lookups", 10096360610501337552),
            ("partial SyncStats { objects_written: 408, bytes_written: 52715 }", 0),
            ("partial restore", 15240422946607088226),
            ("partial dump", 3012373076465318254),
            ("partial lookups", 3337942932973337301),
        ],
    );
}

#[test]
fn output_with_duplicate_service_port_names_is_pinned() {
    // Two Services with the same namespace/name (one with some of the other's endpoints) and
    // a Service with two ports of the same name: the hashed chain names coincide, and the
    // generator writes into the same chains as kube-proxy's name-keyed maps would.
    let mut set = varied_set(24, 3);
    let mut twin = set.services[1].clone();
    twin.cluster_ip = Some(Ipv4Addr::new(172, 20, 9, 1));
    twin.ports[0].node_port = Some(31999);
    let mut eps = set.endpoints[1][0].clone();
    eps[0].ip = Ipv4Addr::new(10, 244, 9, 9);
    set.services.push(twin);
    set.endpoints.push(vec![eps]);
    let s = &mut set.services[0];
    s.ports[0].name = "web".into();
    s.ports.push(ServicePort {
        name: "web".into(),
        protocol: Protocol::Tcp,
        port: 8080,
        node_port: None,
    });
    let eps = set.endpoints[0][0].clone();
    set.endpoints[0].push(eps);
    check(
        observe(set),
        &[
            ("full SyncStats { objects_written: 358, bytes_written: 51198 }", 0),
            ("full restore", 6316493671395930786),
            ("full dump", 15142884468425132892),
            ("lookups", 6724587791029094882),
            ("partial SyncStats { objects_written: 108, bytes_written: 15016 }", 0),
            ("partial restore", 16677952726512942579),
            ("partial dump", 519847783740441595),
            ("partial lookups", 3758453681175024752),
        ],
    );
}
