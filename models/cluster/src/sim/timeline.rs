//! State sampled over simulated time for the report's time charts: conntrack occupancy, pods
//! running and pending, nodes joined (when a scale event adds nodes), addresses in use per
//! subnet and per node, and with the AWS VPC CNI
//! its pools: ENIs attached, addresses (and prefixes) held vs assigned, EC2 calls.
//!
//! Samples are taken between events, never as events: observing the run must not change it
//! (nor its digest). A sample at time t shows the state after every event at or before t.

use crate::results::Timeline;
use crate::sim::ipamd::Lifecycle;
use crate::sim::netfilter::Netfilter;
use crate::world::World;
use cnsim_ipam::{SubnetIdx, VpcCni};
use sim_core::SimTime;

/// Intervals a run's duration is cut into: samples at 0%, 1%, …, 100% of it.
pub const TIMELINE_INTERVALS: u64 = 100;

/// Per-node series are kept whole up to this many nodes; beyond it, only the busiest node and
/// the mean (a 5,000-node run would otherwise put half a million numbers in its results).
pub const PER_NODE_SERIES_MAX_NODES: usize = 64;

pub struct TimelineRecorder {
    duration: SimTime,
    /// Index of the next sample to take, 0..=TIMELINE_INTERVALS.
    next: u64,
    /// Some node joins or leaves during the run: `nodes_joined` is sampled.
    launches: bool,
    timeline: Timeline,
}

impl TimelineRecorder {
    pub fn new(world: &World, duration: SimTime) -> TimelineRecorder {
        let per_node = world.nodes.len() <= PER_NODE_SERIES_MAX_NODES;
        TimelineRecorder {
            duration,
            next: 0,
            launches: world.nodes.iter().any(|n| !n.joined_at_start() || n.leave.is_some()),
            timeline: Timeline {
                subnet_addresses_used: vec![Vec::new(); world.subnets.len()],
                node_addresses: per_node.then(|| vec![Vec::new(); world.nodes.len()]),
                node_enis: (per_node && world.vpc_pod_addresses).then(|| vec![Vec::new(); world.nodes.len()]),
                node_addresses_held: (per_node && world.vpc_pod_addresses).then(|| vec![Vec::new(); world.nodes.len()]),
                ..Timeline::default()
            },
        }
    }

    fn time_of(&self, k: u64) -> SimTime {
        let ns = u128::from(self.duration.as_nanos()) * u128::from(k) / u128::from(TIMELINE_INTERVALS);
        SimTime::from_nanos(ns as u64)
    }

    /// Takes every sample due strictly before `now`: the event at `now` has not run yet.
    pub fn before_event(&mut self, now: SimTime, world: &World, netfilter: &Netfilter, life: &Lifecycle) {
        while self.next <= TIMELINE_INTERVALS && self.time_of(self.next) < now {
            self.sample(world, netfilter, life);
        }
    }

    /// Takes the samples left once the run has reached its end and returns the timeline.
    pub fn finish(mut self, world: &World, netfilter: &Netfilter, life: &Lifecycle) -> Timeline {
        while self.next <= TIMELINE_INTERVALS {
            self.sample(world, netfilter, life);
        }
        self.timeline
    }

    fn sample(&mut self, world: &World, netfilter: &Netfilter, life: &Lifecycle) {
        let t = self.time_of(self.next);
        self.next += 1;
        let tl = &mut self.timeline;
        tl.t_ns.push(t.as_nanos());

        let (mut ct_total, mut ct_max) = (0u64, 0u64);
        for n in 0..world.nodes.len() {
            let live = netfilter.conntrack(n as u32).live_at(t.as_nanos()) as u64;
            ct_total += live;
            ct_max = ct_max.max(live);
        }
        tl.conntrack_entries.push(ct_total);
        tl.conntrack_entries_max_node.push(ct_max);

        let vpc = life.ipam.vpc_cni();
        let per_subnet: Vec<u64> = match vpc {
            Some(v) => (0..world.subnets.len())
                .map(|i| u64::from(v.subnets().in_use(i as SubnetIdx)))
                .collect(),
            // Host-local: pod addresses are never VPC addresses, so a subnet holds the primary
            // addresses of the nodes in the cluster (joined, not left).
            None => {
                let mut used = vec![0; world.subnets.len()];
                for (id, n) in world.nodes.iter().enumerate() {
                    if life.is_joined(id as u32) {
                        used[n.subnet as usize] += 1;
                    }
                }
                used
            }
        };
        if self.launches {
            let joined = (0..world.nodes.len() as u32).filter(|&n| life.is_joined(n)).count();
            tl.nodes_joined.push(joined as u32);
        }
        let mut per_node = vec![0u32; world.nodes.len()];
        let (running, pending) = life.pods.counts();
        for pod in life.pods.iter() {
            if let (Some(_), Some(n)) = (pod.ip, pod.node) {
                per_node[n as usize] += 1;
            }
        }
        tl.pods_running.push(running);
        tl.pods_pending.push(pending);
        for (series, used) in tl.subnet_addresses_used.iter_mut().zip(per_subnet) {
            series.push(used);
        }
        tl.node_addresses_max.push(per_node.iter().copied().max().unwrap_or(0));
        let sum: u64 = per_node.iter().map(|&a| u64::from(a)).sum();
        tl.node_addresses_mean_milli
            .push((sum * 1000).checked_div(per_node.len() as u64).unwrap_or(0));
        if let Some(series) = &mut tl.node_addresses {
            for (s, a) in series.iter_mut().zip(per_node) {
                s.push(a);
            }
        }
        if let Some(v) = vpc {
            sample_pools(tl, v, world.nodes.len());
        }
    }
}

/// The VPC CNI's pools at this instant, summed over nodes and per node.
fn sample_pools(tl: &mut Timeline, v: &VpcCni, nodes: usize) {
    let (mut enis, mut enis_max, mut held, mut assigned, mut prefixes) = (0u32, 0u32, 0u64, 0u64, 0u64);
    for n in 0..nodes {
        let Some(node) = v.node(n as u32) else {
            // The node never joined (its add_node failed): nothing attached, nothing held.
            push_node(tl, n, 0, 0);
            continue;
        };
        let (e, st) = (node.enis_attached(), node.stats());
        enis += e;
        enis_max = enis_max.max(e);
        held += u64::from(st.total_ips);
        assigned += u64::from(st.assigned);
        prefixes += u64::from(st.total_prefixes);
        push_node(tl, n, e, st.total_ips);
    }
    tl.enis_attached.push(enis);
    tl.enis_attached_max_node.push(enis_max);
    tl.addresses_held.push(held);
    tl.addresses_assigned.push(assigned);
    if v.config().prefix_delegation {
        tl.prefixes_held.push(prefixes);
    }
    tl.ec2_calls.push(v.ec2_calls().total());
}

fn push_node(tl: &mut Timeline, n: usize, enis: u32, held: u32) {
    if let Some(s) = &mut tl.node_enis {
        s[n].push(enis);
    }
    if let Some(s) = &mut tl.node_addresses_held {
        s[n].push(held);
    }
}
