//! `cnsim ipam pool`: one node's warm pool through a timeline of pod counts.
//!
//! Owns the small driver around [`VpcCni`]: one node in one subnet, pod counts applied at fixed
//! steps, ipamd's ticks in between, a row after each step and after each tick that changed
//! anything (ENIs, slots, assignments or EC2 calls).
//!
//! Timing: step k happens at k × `step_interval_ns` (default 120 s: longer than an ENI attach
//! (10 s), the address cooldown (30 s), the shrink interval (30 s) and an ENI's minimum life
//! (60 s), so each step's effect on the pool shows before the next step). Pods that get no
//! address wait (ContainerCreating) and are retried after every tick, oldest first. Pods beyond
//! max pods are unschedulable. Removing pods removes waiting ones first, then the newest.

use super::config::{EniConfig, IpamdConfig};
use super::ec2::Ec2Calls;
use super::node::PoolStats;
use super::VpcCni;
use crate::catalog::InstanceType;
use crate::seam::{IpamEngine, NodeJoin, PodId};
use crate::subnet::{SubnetSpec, Subnets};
use serde::Serialize;
use std::net::Ipv4Addr;

pub const DEFAULT_STEP_INTERVAL_NS: u64 = 120_000_000_000;
/// The node's subnet, and (custom networking) the ENIConfig's pod subnet.
pub const NODE_SUBNET: &str = "10.0.0.0/16";
pub const POD_SUBNET: &str = "100.64.0.0/16";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowEvent {
    /// The pod count changed to this step's value.
    Step,
    /// An ipamd tick (or ENI attach) changed the pool.
    Reconcile,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolRow {
    pub time_ns: u64,
    pub step: usize,
    pub event: RowEvent,
    pub pods_wanted: u32,
    pub pods_running: u32,
    /// Scheduled but waiting for an address (ContainerCreating).
    pub pods_waiting: u32,
    /// Beyond max pods.
    pub pods_unschedulable: u32,
    pub enis: u32,
    pub eni_attaching: bool,
    /// Secondary IPs, or /28 prefixes with prefix delegation, held by the node.
    pub slots: u32,
    pub stats: PoolStats,
    /// Addresses held but not assigned (ipamd's "available", cooling ones included).
    pub warm: u32,
    pub cooling: u32,
    /// EC2 calls since the previous row.
    pub ec2: Ec2Calls,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolTimeline {
    pub instance_type: String,
    pub config: IpamdConfig,
    pub prefix_delegation: bool,
    pub max_pods: u32,
    pub max_enis: u32,
    pub step_interval_ns: u64,
    pub warnings: Vec<String>,
    pub rows: Vec<PoolRow>,
    pub ec2_total: Ec2Calls,
}

/// Steps one node of `instance` through `pods` (the pod count wanted at each step).
pub fn pool_timeline(
    instance: &InstanceType,
    config: &IpamdConfig,
    pods: &[u32],
    step_interval_ns: u64,
) -> PoolTimeline {
    assert!(step_interval_ns > 0);
    let mut config = config.clone();
    let custom = config.custom_networking();
    if custom {
        config.eni_configs = Some(vec![EniConfig {
            az: "az-a".into(),
            subnet: "pods-a".into(),
            security_groups: vec!["sg-pods".into()],
        }]);
    }
    let spec = |name: &str, cidr: &str| SubnetSpec {
        name: name.into(),
        cidr: cidr.parse().expect("valid constant"),
        az: "az-a".into(),
        cni_discovery_tag: false,
    };
    let subnets = Subnets::new(vec![spec("node-a", NODE_SUBNET), spec("pods-a", POD_SUBNET)]).expect("valid constants");
    let mut cni = VpcCni::new(config.clone(), subnets).expect("ENIConfig names pods-a");
    let join = NodeJoin {
        node: 0,
        name: "node-0",
        instance,
        primary_ip: Ipv4Addr::new(10, 0, 0, 4),
        subnet: NODE_SUBNET.parse().expect("valid constant"),
    };
    cni.add_node(&join, 0).expect("a fresh subnet has room for one node");
    let limits = cni.node(0).expect("added").limits().clone();
    let mut warnings = config.warnings();
    warnings.extend(limits.notes.iter().cloned());

    let mut d = Driver {
        cni,
        running: Vec::new(),
        waiting: Vec::new(),
        next_pod: 0,
        wanted: 0,
        max_pods: limits.max_pods,
        rows: Vec::new(),
        last_ec2: Ec2Calls::default(),
    };
    for (step, &want) in pods.iter().enumerate() {
        let at = step as u64 * step_interval_ns;
        d.run_ticks_until(at, step.saturating_sub(1));
        d.apply(want, at);
        d.row(at, step, RowEvent::Step);
    }
    let end = pods.len() as u64 * step_interval_ns;
    d.run_ticks_until(end, pods.len().saturating_sub(1));
    d.cni.check_invariants();
    PoolTimeline {
        instance_type: instance.name.clone(),
        config,
        prefix_delegation: limits.prefix_delegation,
        max_pods: limits.max_pods,
        max_enis: limits.max_enis,
        step_interval_ns,
        warnings,
        rows: d.rows,
        ec2_total: d.cni.ec2_calls(),
    }
}

struct Driver {
    cni: VpcCni,
    running: Vec<PodId>,
    waiting: Vec<PodId>,
    next_pod: PodId,
    wanted: u32,
    max_pods: u32,
    rows: Vec<PoolRow>,
    last_ec2: Ec2Calls,
}

impl Driver {
    fn scheduled(&self) -> u32 {
        (self.running.len() + self.waiting.len()) as u32
    }

    fn apply(&mut self, want: u32, now: u64) {
        self.wanted = want;
        let target = want.min(self.max_pods);
        while self.scheduled() > target {
            if self.waiting.pop().is_none() {
                let pod = self.running.pop().expect("scheduled > 0");
                self.cni
                    .release_pod(0, pod, now)
                    .expect("a running pod holds an address");
            }
        }
        while self.scheduled() < target {
            self.waiting.push(self.next_pod);
            self.next_pod += 1;
        }
        self.retry_waiting(now);
    }

    fn retry_waiting(&mut self, now: u64) {
        while let Some(&pod) = self.waiting.first() {
            match self.cni.assign_pod(0, pod, now) {
                Ok(_) => {
                    self.waiting.remove(0);
                    self.running.push(pod);
                }
                Err(_) => break,
            }
        }
    }

    fn run_ticks_until(&mut self, until: u64, step: usize) {
        loop {
            let at = self.cni.next_wakeup(0).expect("node 0 exists");
            if at >= until {
                return;
            }
            let before = self.cni.snapshot(0);
            self.cni.reconcile(0, at);
            self.retry_waiting(at);
            if self.cni.snapshot(0) != before || self.cni.assigned_on(0) as usize != self.running.len() {
                self.row(at, step, RowEvent::Reconcile);
            }
            self.cni.check_invariants();
        }
    }

    fn row(&mut self, time_ns: u64, step: usize, event: RowEvent) {
        let snap = self.cni.snapshot(0).expect("node 0 exists");
        let ec2 = snap.ec2.since(&self.last_ec2);
        self.last_ec2 = snap.ec2;
        self.rows.push(PoolRow {
            time_ns,
            step,
            event,
            pods_wanted: self.wanted,
            pods_running: self.running.len() as u32,
            pods_waiting: self.waiting.len() as u32,
            pods_unschedulable: self.wanted.saturating_sub(self.max_pods),
            enis: snap.enis.len() as u32,
            eni_attaching: snap.attaching.is_some(),
            slots: snap.enis.iter().map(|e| e.slots.len() as u32).sum(),
            stats: snap.stats,
            warm: snap.stats.available(),
            cooling: snap.cooling,
            ec2,
        });
    }
}
