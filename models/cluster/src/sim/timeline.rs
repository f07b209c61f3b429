//! State sampled over simulated time for the report's time charts: conntrack occupancy, pods
//! running and pending, addresses in use per subnet and per node.
//!
//! Samples are taken between events, never as events: observing the run must not change it
//! (nor its digest). A sample at time t shows the state after every event at or before t.

use crate::results::Timeline;
use crate::sim::netfilter::Netfilter;
use crate::world::{PodPhase, World};
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
    /// The subnet each pod's address is in, if it has one in a subnet of the VPC.
    pod_subnet: Vec<Option<u16>>,
    /// Node primary addresses per subnet: they are assigned for the whole run.
    node_addresses_per_subnet: Vec<u64>,
    timeline: Timeline,
}

impl TimelineRecorder {
    pub fn new(world: &World, duration: SimTime) -> TimelineRecorder {
        let subnet_of = |ip: std::net::Ipv4Addr| {
            world
                .subnets
                .iter()
                .position(|s| s.cidr.contains(&ip))
                .map(|i| i as u16)
        };
        let pod_subnet = world.pods.iter().map(|p| p.ip.and_then(subnet_of)).collect();
        let mut node_addresses_per_subnet = vec![0; world.subnets.len()];
        for n in &world.nodes {
            node_addresses_per_subnet[n.subnet as usize] += 1;
        }
        let per_node = world.nodes.len() <= PER_NODE_SERIES_MAX_NODES;
        TimelineRecorder {
            duration,
            next: 0,
            pod_subnet,
            node_addresses_per_subnet,
            timeline: Timeline {
                subnet_addresses_used: vec![Vec::new(); world.subnets.len()],
                node_addresses: per_node.then(|| vec![Vec::new(); world.nodes.len()]),
                ..Timeline::default()
            },
        }
    }

    fn time_of(&self, k: u64) -> SimTime {
        let ns = u128::from(self.duration.as_nanos()) * u128::from(k) / u128::from(TIMELINE_INTERVALS);
        SimTime::from_nanos(ns as u64)
    }

    /// Takes every sample due strictly before `now`: the event at `now` has not run yet.
    pub fn before_event(&mut self, now: SimTime, world: &World, netfilter: &Netfilter) {
        while self.next <= TIMELINE_INTERVALS && self.time_of(self.next) < now {
            self.sample(world, netfilter);
        }
    }

    /// Takes the samples left once the run has reached its end and returns the timeline.
    pub fn finish(mut self, world: &World, netfilter: &Netfilter) -> Timeline {
        while self.next <= TIMELINE_INTERVALS {
            self.sample(world, netfilter);
        }
        self.timeline
    }

    fn sample(&mut self, world: &World, netfilter: &Netfilter) {
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

        let mut per_subnet = self.node_addresses_per_subnet.clone();
        let mut per_node = vec![0u32; world.nodes.len()];
        let (mut running, mut pending) = (0u32, 0u32);
        for (pod, subnet) in world.pods.iter().zip(&self.pod_subnet) {
            match pod.phase {
                PodPhase::Running => running += 1,
                PodPhase::Pending { .. } => pending += 1,
            }
            if pod.ip.is_none() {
                continue;
            }
            if let Some(s) = subnet {
                per_subnet[*s as usize] += 1;
            }
            if let Some(n) = pod.node {
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
    }
}
