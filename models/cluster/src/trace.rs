//! `cnsim trace`: one packet, hop by hop, with why. It runs the same netfilter path (conntrack,
//! the service datapath with its rule trace), the same routing decisions and the same hop
//! costs as the simulation, for a single first packet, and says at each hop what matched.

mod beyond;

use crate::calibration::{
    NODE_ROUTING, UDP_IP_HEADER_BYTES, VETH_TRAVERSAL, VXLAN_DECAP, VXLAN_ENCAP, VXLAN_OVERHEAD_BYTES,
};
use crate::scenario::refs;
use crate::scenario::VariantSpec;
use crate::sim::metrics::DropReason;
use crate::sim::netfilter::Netfilter;
use crate::sim::netfilter::{judged_header, NfOutcome};
use crate::sim::packet::{tcp_flags, Header, PROTO_TCP, PROTO_UDP};
use crate::sim::pods::LivePods;
use crate::sim::policy::PacketPolicy;
use crate::sim::routing::{self, Egress, VpcNext};
use crate::sim::timeline::TimelineRecorder;
use crate::sim::{proxy, tcp, traffic::EPHEMERAL_FIRST};
use crate::world::{PodPhase, VpcTarget, World};
use cnsim_services::{Origin, TraceStep};
use serde::Serialize;
use sim_core::SimTime;
use std::net::Ipv4Addr;

/// JSON schema version of `cnsim trace --format json`.
pub const TRACE_SCHEMA: u32 = 1;
/// A packet forwarded more often than this is looping (cannot happen with VPC routing, but a
/// trace must end whatever the input).
const MAX_NODE_VISITS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleHit {
    pub table: String,
    pub chain: String,
    pub rule: u32,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceHop {
    pub hop: String,
    pub node: String,
    pub detail: String,
    pub latency_ns: u64,
    /// Rules or map entries that matched on this hop, in order.
    pub matched: Vec<RuleHit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    pub schema: u32,
    pub variant: String,
    pub from: String,
    pub to: String,
    /// The run time the trace was taken at (`--at`); absent for the cluster at t=0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ns: Option<u64>,
    /// "delivered", "dropped" or "rejected".
    pub verdict: String,
    /// The endpoint chosen (`IP:PORT`) when a Service translated the packet; the pod reached
    /// otherwise.
    pub backend: Option<String>,
    pub reason: Option<String>,
    pub hops: Vec<TraceHop>,
    pub latency_ns: u64,
}

/// A parsed `--to`: destination address, port and protocol, and how to name it.
struct Target {
    ip: Ipv4Addr,
    port: u16,
    proto: u8,
}

fn proto_of(text: Option<&str>, default: u8) -> Result<u8, String> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("tcp") => Ok(PROTO_TCP),
        Some("udp") => Ok(PROTO_UDP),
        Some(other) => Err(format!("protocol {other:?}: valid: tcp or udp")),
    }
}

fn proto_of_scenario(p: crate::scenario::format::Protocol) -> u8 {
    match p {
        crate::scenario::format::Protocol::UDP => PROTO_UDP,
        _ => PROTO_TCP,
    }
}

fn push(report: &mut TraceReport, hop: &str, node: String, detail: String, latency: u64, matched: Vec<RuleHit>) {
    report.latency_ns += latency;
    report.hops.push(TraceHop {
        hop: hop.into(),
        node,
        detail,
        latency_ns: latency,
        matched,
    });
}

/// `NS/POD`, `NS/svc/NAME` or an IP, each with optional `:PORT[/PROTO]`.
fn parse_target(
    spec: &VariantSpec,
    world: &World,
    pods: &LivePods,
    set: &cnsim_services::ServiceSet,
    to: &str,
) -> Result<Target, String> {
    let s = &spec.scenario;
    let (who, rest) = match to.rsplit_once(':') {
        Some((w, r)) if !w.is_empty() => (w, Some(r)),
        _ => (to, None),
    };
    let (port_text, proto_text) = match rest {
        Some(r) => match r.split_once('/') {
            Some((p, pr)) => (Some(p), Some(pr)),
            None => (Some(r), None),
        },
        None => (None, None),
    };
    if let Ok(ip) = who.parse::<Ipv4Addr>() {
        let port = port_text
            .ok_or("an IP target needs a port: IP:PORT[/PROTO]")?
            .parse::<u16>()
            .map_err(|_| "port: valid: 1 to 65535")?;
        return Ok(Target {
            ip,
            port,
            proto: proto_of(proto_text, PROTO_TCP)?,
        });
    }
    if let Some((ns, name)) = who.split_once("/svc/") {
        let si = s
            .services
            .iter()
            .position(|x| x.namespace == ns && x.name == name)
            .ok_or_else(|| format!("no Service {ns}/{name}"))?;
        let svc = &set.services[si];
        let ip = svc
            .cluster_ip
            .ok_or_else(|| format!("Service {ns}/{name} is headless: it has no address to trace to"))?;
        let port = match port_text {
            None => &svc.ports[0],
            Some(p) => svc
                .ports
                .iter()
                .find(|x| x.name == p || p.parse::<u16>() == Ok(x.port))
                .ok_or_else(|| format!("Service {ns}/{name} has no port {p:?}"))?,
        };
        let default = match port.protocol {
            cnsim_services::Protocol::Udp => PROTO_UDP,
            _ => PROTO_TCP,
        };
        return Ok(Target {
            ip,
            port: port.port,
            proto: proto_of(proto_text, default)?,
        });
    }
    let set_ref = refs::pod_set_within(s, who, |w| world.workload_pods[w].len() as u32)
        .map_err(|e| format!("{}; valid: {}", e.message, e.valid))?;
    let refs::PodSet::Pod { workload, replica } = set_ref else {
        return Err(format!("{who:?} names a workload: trace one pod of it, e.g. {who}-0"));
    };
    let id = world.workload_pods[workload][replica as usize];
    let ip = pods
        .ip(id)
        .ok_or_else(|| format!("{who} has no address: {:?}", pods.get(id).phase))?;
    let w = &s.workloads[workload];
    let (port, default) = match port_text {
        Some(p) => match p.parse::<u16>() {
            Ok(n) => (
                n,
                w.ports
                    .iter()
                    .find(|c| c.port == n)
                    .map_or(PROTO_TCP, |c| proto_of_scenario(c.protocol)),
            ),
            Err(_) => {
                let c = w
                    .ports
                    .iter()
                    .find(|c| c.name.as_deref() == Some(p))
                    .ok_or_else(|| format!("{who} has no port named {p:?}"))?;
                (c.port, proto_of_scenario(c.protocol))
            }
        },
        None => {
            let c = w
                .ports
                .first()
                .ok_or_else(|| format!("{who} declares no ports: give one, {who}:PORT"))?;
            (c.port, proto_of_scenario(c.protocol))
        }
    };
    Ok(Target {
        ip,
        port,
        proto: proto_of(proto_text, default)?,
    })
}

fn hits(steps: Vec<TraceStep>) -> Vec<RuleHit> {
    steps
        .into_iter()
        .map(|t| RuleHit {
            table: t.table,
            chain: t.chain,
            rule: t.rule,
            text: t.text,
        })
        .collect()
}

fn endpoint(h: &Header) -> String {
    format!("{}:{}", Ipv4Addr::from(h.dst), h.dport)
}

fn source(h: &Header) -> String {
    format!("{}:{}", Ipv4Addr::from(h.src), h.sport)
}

/// The cluster a trace runs in: each node's netfilter (conntrack and the service rules it has
/// synced), the pods as they are, NetworkPolicy, and the time.
struct Snapshot {
    nf: Netfilter,
    pods: LivePods,
    policy: Option<PacketPolicy>,
    now: SimTime,
}

impl Snapshot {
    /// The world as built, at t=0: what `World::build` placed and addressed.
    fn at_start(spec: &VariantSpec, world: &World) -> Snapshot {
        let (set, _) = crate::service_world::build(&spec.scenario, world);
        Snapshot {
            nf: proxy::netfilter(&spec.scenario, world, set).0,
            pods: LivePods::from_world(world),
            policy: PacketPolicy::build(world, &spec.scenario, spec.policies.clone()),
            now: SimTime::ZERO,
        }
    }

    /// The run itself up to `at`: pods started and stopped, ipamd's addresses, Services
    /// following pods as each node has synced them, conntrack as the traffic left it.
    fn during_run(spec: &VariantSpec, world: &World, at: SimTime) -> Snapshot {
        let (mut model, _) = crate::sim::model(spec, world);
        let mut timeline = TimelineRecorder::new(world, spec.scenario.duration);
        model.run(at, &mut timeline);
        Snapshot {
            nf: model.netfilter,
            pods: model.life.pods,
            policy: model.policy,
            now: at,
        }
    }
}

/// Traces the first packet of a connection from pod `from` to `to`, in the cluster at t=0.
pub fn trace(spec: &VariantSpec, from: &str, to: &str) -> Result<TraceReport, String> {
    trace_at(spec, from, to, None)
}

/// As [`trace`], in the cluster as the run has it at `at` (`cnsim trace --at`): pods that
/// started later (or waited for an address), Services as each node had synced them then.
pub fn trace_at(spec: &VariantSpec, from: &str, to: &str, at: Option<SimTime>) -> Result<TraceReport, String> {
    let s = &spec.scenario;
    if let Some(t) = at.filter(|&t| t > s.duration) {
        return Err(format!("--at {t} is past the run's duration ({})", s.duration));
    }
    let world = World::build(s);
    let Snapshot {
        mut nf,
        pods,
        policy,
        now,
    } = match at {
        Some(t) => Snapshot::during_run(spec, &world, t),
        None => Snapshot::at_start(spec, &world),
    };
    let target = parse_target(spec, &world, &pods, nf.services(), to)?;
    let refs::PodSet::Pod { workload, replica } =
        refs::pod_set_within(s, from, |w| world.workload_pods[w].len() as u32)
            .map_err(|e| format!("--from: {}; valid: {}", e.message, e.valid))?
    else {
        return Err(format!(
            "--from {from:?} names a workload: trace one pod of it, e.g. {from}-0"
        ));
    };
    let src_pod = pods.get(world.workload_pods[workload][replica as usize]);
    let (Some(src_ip), Some(mut node), PodPhase::Running) = (src_pod.ip, src_pod.node, &src_pod.phase) else {
        let when = at.map_or("at t=0 (--at TIME traces later in the run)".to_string(), |t| {
            format!("at {t}")
        });
        return Err(format!(
            "--from {from}: the pod is not running {when} ({:?})",
            src_pod.phase
        ));
    };
    let (flags, len) = if target.proto == PROTO_TCP {
        (tcp_flags::SYN, tcp::SYN_LEN)
    } else {
        (0, 512u16.max(UDP_IP_HEADER_BYTES as u16))
    };
    let mut header = Header {
        src: u32::from(src_ip),
        dst: u32::from(target.ip),
        sport: EPHEMERAL_FIRST,
        dport: target.port,
        proto: target.proto,
        flags,
        len,
    };
    let proto = if target.proto == PROTO_TCP { "tcp" } else { "udp" };
    let mut report = TraceReport {
        schema: TRACE_SCHEMA,
        variant: spec.name.clone(),
        from: from.to_string(),
        to: to.to_string(),
        at_ns: at.map(SimTime::as_nanos),
        verdict: "delivered".into(),
        backend: None,
        reason: None,
        hops: Vec::new(),
        latency_ns: 0,
    };
    let name = |n: u32| world.nodes[n as usize].name.clone();
    push(
        &mut report,
        "pod eth0 -> veth",
        name(node),
        format!(
            "{from} {src_ip}:{} -> {}:{}/{proto}",
            header.sport, target.ip, target.port
        ),
        VETH_TRAVERSAL.as_nanos(),
        vec![],
    );
    let mut origin = Origin::LocalPod;
    let mut encapsulated = false;
    for _ in 0..MAX_NODE_VISITS {
        if encapsulated {
            push(
                &mut report,
                "vxlan decap",
                name(node),
                "VXLAN decapsulated".into(),
                VXLAN_DECAP.as_nanos(),
                vec![],
            );
        }
        let before = header;
        let mut steps = Vec::new();
        match nf.process(node, &mut header, origin, now.as_nanos(), Some(&mut steps)) {
            NfOutcome::Pass {
                created,
                translated,
                cpu_ns,
                work,
                snat,
            } => {
                let new = created.is_some();
                let mut detail = format!(
                    "conntrack {}; {} rules, {} hash probes, {} map lookups",
                    if new { "NEW" } else { "ESTABLISHED" },
                    work.rules_evaluated,
                    work.hash_probes,
                    work.map_lookups
                );
                if translated && header.dst != before.dst {
                    let who = pods
                        .by_ip(header.dst_ip())
                        .map(|p| {
                            format!(
                                " ({}/{})",
                                world.pods[p as usize].namespace, world.pods[p as usize].name
                            )
                        })
                        .unwrap_or_default();
                    detail.push_str(&format!(
                        "; DNAT {}:{} -> {}{who}",
                        before.dst_ip(),
                        before.dport,
                        endpoint(&header)
                    ));
                    report.backend = Some(endpoint(&header));
                }
                if let Some((src, sport)) = snat {
                    detail.push_str(&format!(
                        "; SNAT {}:{sport} -> {} (masqueraded to the node's primary address, random port)",
                        Ipv4Addr::from(src),
                        source(&header)
                    ));
                }
                push(&mut report, "netfilter", name(node), detail, cpu_ns, hits(steps));
                // NetworkPolicy judges the first packet here, after DNAT (sim/policy.rs).
                if let (true, Some(p)) = (new, &policy) {
                    // The pod's own source, as the run judges it (before masquerading).
                    let conn = p.connection(&pods, &judged_header(&header, snat));
                    let v = p.judge(&conn);
                    for dir in PacketPolicy::enforced_at(&pods, &conn, node, origin) {
                        let e = p.explain(&conn, &v, dir);
                        push(
                            &mut report,
                            &format!("policy {dir}"),
                            name(node),
                            e.to_string(),
                            0,
                            vec![],
                        );
                        if !e.allowed {
                            report.verdict = "dropped".into();
                            report.reason = Some(DropReason::PolicyDenied.as_str().into());
                            return Ok(report);
                        }
                    }
                }
            }
            outcome => {
                let (verdict, reason) = match outcome {
                    NfOutcome::Reject(r) => (
                        "rejected",
                        format!(
                            "{}: rejected with ICMP port unreachable / TCP RST",
                            DropReason::from(r).as_str()
                        ),
                    ),
                    NfOutcome::Drop(r) => ("dropped", DropReason::from(r).as_str().to_string()),
                    NfOutcome::InsertClash => ("dropped", DropReason::ConntrackInsertFailed.as_str().to_string()),
                    _ => ("dropped", DropReason::ConntrackTableFull.as_str().to_string()),
                };
                push(&mut report, "netfilter", name(node), reason.clone(), 0, hits(steps));
                report.verdict = verdict.into();
                report.reason = Some(reason);
                return Ok(report);
            }
        }
        match routing::egress_in(&world, &pods, node, header.dst_ip()) {
            Egress::LocalPod => {
                let Some(pod) = pods.by_ip(header.dst_ip()) else {
                    report.verdict = "dropped".into();
                    report.reason = Some("node-no-such-pod".into());
                    push(
                        &mut report,
                        "route",
                        name(node),
                        format!("no pod has {} on this node", header.dst_ip()),
                        NODE_ROUTING.as_nanos(),
                        vec![],
                    );
                    return Ok(report);
                };
                let p = &world.pods[pod as usize];
                push(
                    &mut report,
                    "route -> veth",
                    name(node),
                    format!("{} is local pod {}/{}", header.dst_ip(), p.namespace, p.name),
                    (NODE_ROUTING + VETH_TRAVERSAL).as_nanos(),
                    vec![],
                );
                if report.backend.is_none() {
                    report.backend = Some(endpoint(&header));
                }
                return Ok(report);
            }
            Egress::Eni { encapsulate } => {
                let wire = u64::from(header.len)
                    + if encapsulate {
                        u64::from(VXLAN_OVERHEAD_BYTES)
                    } else {
                        0
                    };
                let ser = world.nodes[node as usize].bandwidth.serialization_time(wire).as_nanos();
                let encap = if encapsulate { VXLAN_ENCAP.as_nanos() } else { 0 };
                let how = if encapsulate { "VXLAN-encapsulated, " } else { "" };
                push(
                    &mut report,
                    "route -> eni",
                    name(node),
                    format!(
                        "out of the ENI {} ({how}{wire} bytes on the wire)",
                        world.nodes[node as usize].ip
                    ),
                    NODE_ROUTING.as_nanos() + encap + ser,
                    vec![],
                );
                let outer = routing::outer_destination(&world, header.dst_ip(), encapsulate);
                match routing::vpc_in(&world, &pods, node, outer) {
                    Err(reason) => {
                        let table = &world.route_tables
                            [world.subnets[world.nodes[node as usize].subnet as usize].route_table as usize]
                            .name;
                        push(
                            &mut report,
                            "vpc",
                            name(node),
                            format!("route table {table:?}: {} for {outer}", reason.as_str()),
                            0,
                            vec![],
                        );
                        report.verdict = "dropped".into();
                        report.reason = Some(reason.as_str().into());
                        return Ok(report);
                    }
                    Ok(hop) => {
                        let far = match hop.next {
                            VpcNext::Node(far) => far,
                            _ => {
                                beyond::leave_vpc(&world, &pods, s, &mut report, node, header, hop);
                                return Ok(report);
                            }
                        };
                        let (a, b) = (world.nodes[node as usize].az, world.nodes[far as usize].az);
                        let latency = s.fabric.one_way(a, b);
                        let target = match hop.target {
                            VpcTarget::Local => "local".to_string(),
                            VpcTarget::NodeEni(n) => format!("eni of {}", name(n)),
                            other => format!("{other:?}"),
                        };
                        let table = &world.route_tables[hop.table as usize].name;
                        let zone = if a == b { "same AZ" } else { "cross-AZ" };
                        push(
                            &mut report,
                            "vpc",
                            name(far),
                            format!(
                                "route table {table:?}: {outer} matches /{} -> {target}; {zone} ({} -> {})",
                                hop.prefix_len, world.azs[a as usize], world.azs[b as usize]
                            ),
                            latency.as_nanos(),
                            vec![],
                        );
                        node = far;
                        origin = Origin::External;
                        encapsulated = encapsulate;
                    }
                }
            }
        }
    }
    report.verdict = "dropped".into();
    report.reason = Some("forwarding loop".into());
    Ok(report)
}
