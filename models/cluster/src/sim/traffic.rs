//! Traffic sources: each flow of the scenario becomes one source per running sending pod, with
//! its own named RNG stream, so adding a flow never changes the draws of another.
//!
//! In a dynamic run (`sim::ipamd`: pods start and stop during it) every pod of the flow gets
//! a source and every pod of the target is a candidate destination; a source sends only while
//! its pod runs, and a destination that does not run has no address (the packet is dropped as
//! `no-running-destination`). A static run plans only the pods running at t=0, as always.

use crate::calibration::{tcp_mss, INTERNET_MTU};
use crate::scenario::format::{Arrival, Flow, Protocol, Scenario};
use crate::scenario::refs::{self, PodSet, Target};
use crate::world::{PodId, PodPhase, World};
use sim_core::{ByteSize, PacketRate, RngStream, SimTime};

/// Linux's default net.ipv4.ip_local_port_range is 32768–60999: clients take ports from it.
pub const EPHEMERAL_FIRST: u16 = 32768;
pub const EPHEMERAL_LAST: u16 = 60999;

/// A flow resolved against the world.
#[derive(Clone, Debug)]
pub struct FlowPlan {
    pub name: String,
    pub protocol: Protocol,
    /// Destination pods that are running with an address; one is drawn per datagram or
    /// connection. Empty for a Service target (the datapath picks the endpoint).
    pub dst_pods: Vec<PodId>,
    /// A Service target: its address (the ClusterIP) and index in the world's ServiceSet.
    pub service: Option<(std::net::Ipv4Addr, usize)>,
    /// A destination beyond the VPC (`IP:PORT`): it answers TCP as a pod server would.
    pub external: Option<std::net::Ipv4Addr>,
    pub dport: u16,
    /// TCP payload per segment: the pod MTU's, or for a peer beyond the VPC the MSS it
    /// advertises from the internet's 1500-byte MTU.
    pub mss: u32,
    pub rate: PacketRate,
    pub arrival: Arrival,
    pub packet_size: ByteSize,
    pub request: ByteSize,
    pub response: ByteSize,
    pub requests: u32,
    pub start: SimTime,
    pub stop: SimTime,
    /// Sending pods declared (at their most, with scale events), and how many of them run at
    /// t=0.
    pub src_total: u32,
    pub src_running: u32,
}

/// One sending pod of one flow. Arrival times and destination choices come from separate
/// streams, so changing how many destinations a flow has leaves its arrivals alone.
pub struct Source {
    pub flow: u32,
    pub pod: PodId,
    /// Poisson gaps and the constant-rate phase.
    pub arrivals: RngStream,
    /// Which destination pod each datagram or connection goes to.
    pub destinations: RngStream,
    /// Constant arrivals: the index of the next one and the source's phase offset.
    pub next_k: u64,
    pub phase: SimTime,
}

fn pods_of(world: &World, set: PodSet) -> Vec<PodId> {
    match set {
        PodSet::Workload(w) => world.workload_pods[w].clone(),
        PodSet::Pod { workload, replica } => vec![world.workload_pods[workload][replica as usize]],
    }
}

fn running(world: &World, pods: &[PodId]) -> Vec<PodId> {
    pods.iter()
        .copied()
        .filter(|&p| world.pods[p as usize].phase == PodPhase::Running)
        .collect()
}

/// Resolves every flow and builds its sources, in flow order then pod order.
pub fn plan(s: &Scenario, world: &World, services: &cnsim_services::ServiceSet) -> (Vec<FlowPlan>, Vec<Source>) {
    let mut plans = Vec::with_capacity(s.traffic.len());
    let mut sources = Vec::new();
    for (fi, f) in s.traffic.iter().enumerate() {
        let (plan, senders) = plan_flow(s, world, services, f, super::ipamd::is_dynamic(s, world));
        for pod in senders {
            let owner = format!(
                "flow/{}/{}/{}",
                f.name, world.pods[pod as usize].namespace, world.pods[pod as usize].name
            );
            let mut arrivals = RngStream::new(s.seed, &format!("{owner}/arrivals"));
            let destinations = RngStream::new(s.seed, &format!("{owner}/destinations"));
            let interval = plan.rate.interval_of(1).as_nanos().max(1);
            // Constant-rate sources start at a random phase within one interval, so many
            // pods of one flow do not fire in lockstep.
            let phase = match plan.arrival {
                Arrival::Constant => SimTime::from_nanos(arrivals.below(interval)),
                Arrival::Poisson => SimTime::ZERO,
            };
            sources.push(Source {
                flow: fi as u32,
                pod,
                arrivals,
                destinations,
                next_k: 0,
                phase,
            });
        }
        plans.push(plan);
    }
    (plans, sources)
}

fn plan_flow(
    s: &Scenario,
    world: &World,
    services: &cnsim_services::ServiceSet,
    f: &Flow,
    dynamic: bool,
) -> (FlowPlan, Vec<PodId>) {
    let from = refs::pod_set(s, &f.from).expect("validated");
    let (dst_pods, service, external, dport) = match refs::flow_target(s, &f.to).expect("validated") {
        Target::Pods(to, port) => {
            let dport = refs::resolve_port(&s.workloads[to.workload()], &port, f.protocol).expect("validated");
            let all = pods_of(world, to);
            (if dynamic { all } else { running(world, &all) }, None, None, dport)
        }
        Target::Service { service, port } => {
            let svc = &services.services[service];
            let ip = svc.cluster_ip.expect("validation rejects flows to headless Services");
            (Vec::new(), Some((ip, service)), None, svc.ports[port].port)
        }
        Target::External(addr) => (Vec::new(), None, Some(*addr.ip()), addr.port()),
    };
    let senders_all = pods_of(world, from);
    let running_at_start = running(world, &senders_all);
    let src_running = running_at_start.len() as u32;
    let senders = if dynamic { senders_all.clone() } else { running_at_start };
    let plan = FlowPlan {
        name: f.name.clone(),
        protocol: f.protocol,
        dst_pods,
        service,
        external,
        dport,
        mss: match external {
            Some(_) => tcp_mss(world.mtu).min(tcp_mss(INTERNET_MTU)),
            None => tcp_mss(world.mtu),
        },
        rate: f.rate,
        arrival: f.arrival,
        packet_size: f.packet_size,
        request: f.request,
        response: f.response,
        requests: f.requests,
        start: f.start,
        stop: f.stop.unwrap_or(s.duration),
        src_total: senders_all.len() as u32,
        src_running,
    };
    (plan, senders)
}

impl Source {
    /// The time of this source's next arrival after `k` arrivals, or None past the flow's stop.
    pub fn next_arrival(&mut self, plan: &FlowPlan, now: SimTime) -> Option<SimTime> {
        let at = match plan.arrival {
            Arrival::Constant => {
                let t = plan.start + self.phase + plan.rate.interval_of(self.next_k);
                self.next_k += 1;
                t
            }
            Arrival::Poisson => {
                let base = if self.next_k == 0 { plan.start } else { now };
                self.next_k += 1;
                base + self.arrivals.exponential_gap(plan.rate.per_sec)
            }
        };
        (at < plan.stop).then_some(at)
    }
}
