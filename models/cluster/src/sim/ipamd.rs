//! Pods, nodes and IPAM over a run: ipamd's timed pool, the kubelet's sandbox retries, the
//! scenario's scale events and the nodes they launch joining, as events on the run's engine
//! (`event::PodEv`). A node group event launches its nodes (`world::launch`); each joins at
//! its Ready time (`PodEv::NodeReady`): ipamd's NodeJoin, then its kube-proxy's full sync and
//! sync runner (`Model::node_ready`), and the scheduler offers it the pods that had no node.
//! A shrinking node group event drains nodes and they leave later (`sim::drain`).
//!
//! Owns the live IPAM engine (continued from the world's state at t=0), the live pod table
//! (`pods::LivePods`) and what the scheduler needs to place new pods. A run is *dynamic* when
//! the IPAM has timed behaviour (the AWS VPC CNI) or the scenario scales a workload; a static
//! run (host-local, no events) schedules nothing here, so its events are what they always were.
//!
//! How ipamd is driven (models/ipam `vpc_cni` crate doc): every node has at most one wakeup
//! that counts, at `next_wakeup(node)`; a wakeup that is no longer the node's earliest is
//! stale and does nothing. Before any CNI call on a node, the node is reconciled to now
//! (harmless when early), so an ENI whose attach completes now is seen by a pod retrying now.
//! A pod whose CNI ADD fails waits in ContainerCreating with ipamd's error and the kubelet
//! retries its sandbox after its pod-worker backoff: 10 s jittered up to 15 s
//! (`KUBELET_SYNC_BACKOFF_NS`), whatever the error, as the kubelet does not know when ipamd
//! will have an address. Container start after the address is taken as instant (assumption:
//! no sourced figure; time-to-ready is the wait for an address). Both are in
//! models/cluster/CALIBRATION.md, "Pod startup".

use super::event::{Ev, PodEv};
use super::pods::LivePods;
use crate::placement::{Placement, Placer, Slot};
use crate::scenario::format::{Labels, ScaleTarget, Scenario};
use crate::scenario::refs::{self, PodSet};
use crate::world::ipam::{sandbox_reason, IpamState};
use crate::world::{NodeId, PodId, PodPhase, World};
use cnsim_ipam::IpamError;
use sim_core::{Engine, RngStream, SimTime};

/// The kubelet's `backOffPeriod` after a failed pod sync (pkg/kubelet/kubelet.go: 10 s).
pub const KUBELET_SYNC_BACKOFF_NS: u64 = 10_000_000_000;
/// `wait.Jitter(backOffPeriod, workerBackOffPeriodJitterFactor = 0.5)` (pkg/kubelet/
/// pod_workers.go) adds up to half the period: a retry lands 10 s to 15 s after the failure.
pub const KUBELET_SYNC_BACKOFF_JITTER_NS: u64 = KUBELET_SYNC_BACKOFF_NS / 2;

/// A scale event resolved against the world.
#[derive(Clone, Copy, Debug)]
enum Scale {
    Workload {
        workload: usize,
        replicas: u32,
    },
    /// A node group grows: the nodes whose `launch` names this event join at their `ready_at`.
    NodeGroup,
}

/// Whether pods start or stop during the run: timed IPAM (the VPC CNI) or scale events.
pub fn is_dynamic(s: &Scenario, world: &World) -> bool {
    world.vpc_pod_addresses || !s.events.is_empty()
}

pub struct Lifecycle {
    pub pods: LivePods,
    pub ipam: IpamState,
    dynamic: bool,
    scales: Vec<Scale>,
    /// Per workload: the node labels its pods need.
    selectors: Vec<Labels>,
    /// Per workload: its pods get branch ENIs (security groups for pods).
    branch: Vec<bool>,
    /// Per node: the time of the wakeup that counts, if one is scheduled.
    pub(super) wake_at: Vec<Option<u64>>,
    /// Per node: when it joined (0 for the nodes at t=0); None while it has not.
    joined_at: Vec<Option<u64>>,
    /// Per node: cordoned by a scale-down (`sim::drain`), and when it left the cluster.
    pub(super) cordoned: Vec<bool>,
    pub(super) left_at: Vec<Option<u64>>,
    /// Per pod: its incarnation, bumped when it is deleted, so a sandbox retry scheduled for
    /// an earlier one is ignored.
    incarnation: Vec<u32>,
    /// Per node: why a launched node could not join (its address was taken), if so.
    pub join_failures: Vec<Option<String>>,
    /// Per node: pods scheduled to it (Running or waiting for an address).
    used: Vec<u32>,
    /// Per workload: replicas that exist now.
    replicas: Vec<u32>,
    /// The kubelet's backoff jitter, drawn in event order.
    backoff: RngStream,
    /// Sandbox retries and pods that were created during the run, for the results.
    pub sandbox_retries: u64,
    pub pods_created: u64,
    pub pods_deleted: u64,
    /// Pods a drain evicted (each also counted deleted, and its replacement created).
    pub pods_evicted: u64,
    /// Pods that became Running or that were deleted while Running, since the caller last
    /// took them (`take_changed`): what Services following pods (`sim::endpoints`) hear of.
    changed: Vec<PodId>,
}

impl Lifecycle {
    /// Starts from the world at t=0 and schedules what a dynamic run needs: each node's first
    /// ipamd wakeup, a retry for every pod still waiting for an address, every scale event.
    pub fn new(s: &Scenario, world: &World, engine: &mut Engine<Ev>) -> Lifecycle {
        let dynamic = is_dynamic(s, world);
        let mut used = vec![0u32; world.nodes.len()];
        let mut replicas = vec![0u32; world.workload_pods.len()];
        for p in &world.pods {
            if p.phase != PodPhase::NotCreated {
                replicas[p.workload] += 1;
                if let Some(n) = p.node {
                    used[n as usize] += 1;
                }
            }
        }
        let scales = s
            .events
            .iter()
            .map(|e| match e.target() {
                Some(ScaleTarget::Workload { scale, replicas }) => match refs::pod_set(s, scale) {
                    Ok(PodSet::Workload(workload)) => Scale::Workload { workload, replicas },
                    _ => unreachable!("validation: a scale event names a workload"),
                },
                Some(ScaleTarget::NodeGroup { .. }) => Scale::NodeGroup,
                None => unreachable!("validation: an event has exactly one form"),
            })
            .collect();
        let mut life = Lifecycle {
            pods: LivePods::from_world(world),
            ipam: world.ipam_start.clone(),
            dynamic,
            scales,
            selectors: s.workloads.iter().map(|w| w.node_selector.clone()).collect(),
            branch: s.network.ipam.branch_workloads(&s.workloads),
            wake_at: vec![None; world.nodes.len()],
            joined_at: world.nodes.iter().map(|n| n.joined_at_start().then_some(0)).collect(),
            join_failures: vec![None; world.nodes.len()],
            cordoned: vec![false; world.nodes.len()],
            left_at: vec![None; world.nodes.len()],
            incarnation: vec![0; world.pods.len()],
            used,
            replicas,
            backoff: RngStream::new(s.seed, "kubelet/backoff"),
            sandbox_retries: 0,
            pods_created: 0,
            pods_deleted: 0,
            pods_evicted: 0,
            changed: Vec::new(),
        };
        if !dynamic {
            return life;
        }
        for node in 0..world.nodes.len() as NodeId {
            life.arm(node, 0, engine);
        }
        // Pods whose CNI ADD failed at t=0 (World::build) retry as after any failure.
        for (id, p) in world.pods.iter().enumerate() {
            if let (PodPhase::Pending { .. }, Some(_)) = (&p.phase, p.node) {
                life.retry_sandbox(id as PodId, 0, engine);
            }
        }
        for (i, e) in s.events.iter().enumerate() {
            engine.schedule_at(e.at, Ev::Pod(PodEv::Scale { event: i as u32 }));
        }
        life
    }

    pub fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    /// The pods that started or stopped running since the last call, in the order they did.
    pub fn take_changed(&mut self) -> Vec<PodId> {
        std::mem::take(&mut self.changed)
    }

    pub fn handle(&mut self, ev: PodEv, world: &World, engine: &mut Engine<Ev>) {
        let now = engine.now().as_nanos();
        match ev {
            PodEv::NodeReady { node } => {
                self.join_node(world, node, now, engine);
            }
            PodEv::NodeLeave { node } => self.leave_node(world, node, now, engine),
            PodEv::IpamdWake { node } => {
                if self.wake_at[node as usize] != Some(now) {
                    return; // superseded by an earlier wakeup
                }
                self.wake_at[node as usize] = None;
                self.ipam.engine().reconcile(node, now);
                self.arm(node, now, engine);
            }
            PodEv::SandboxRetry { pod, life } => {
                let p = self.pods.get(pod);
                let (PodPhase::Pending { .. }, Some(node), true) =
                    (&p.phase, p.node, life == self.incarnation[pod as usize])
                else {
                    return; // deleted by a scale-down or a drain meanwhile
                };
                self.sandbox_retries += 1;
                let branch = self.branch[world.pods[pod as usize].workload];
                self.add_pod(pod, node, branch, now, engine);
            }
            PodEv::Scale { event } => {
                let Scale::Workload { workload, replicas } = self.scales[event as usize] else {
                    self.launch_nodes(world, event, engine);
                    return self.drain_nodes(world, event, now, engine);
                };
                let have = self.replicas[workload];
                if replicas > have {
                    self.scale_up(world, workload, have, replicas, now, engine);
                } else {
                    // A ReplicaSet scaled down deletes its newest pods first (pods that are not
                    // ready go before ready ones; cnsim takes the highest replica numbers).
                    for r in (replicas..have).rev() {
                        self.delete_pod(world.workload_pods[workload][r as usize], now, engine);
                    }
                }
                let scaled_down = replicas < have;
                self.replicas[workload] = replicas;
                if scaled_down {
                    self.reschedule_unplaced(world, now, engine);
                }
            }
        }
    }

    /// A node group grows: EC2 launches its new nodes now; each is Ready at its `ready_at`.
    /// (A shrinking event launches none: `sim::drain` handles it.)
    fn launch_nodes(&mut self, world: &World, event: u32, engine: &mut Engine<Ev>) {
        for (id, n) in world.nodes.iter().enumerate() {
            if let Some(l) = n.launch.filter(|l| l.event == event) {
                engine.schedule_at(l.ready_at, Ev::Pod(PodEv::NodeReady { node: id as NodeId }));
            }
        }
    }

    /// A launched node is Ready: ipamd starts on it (its primary ENI, its warm pool and their
    /// timed growth), the scheduler sees it and offers it the pods that had no node. If EC2
    /// could not give it its address (`world::launch`), it never joins. The node's kube-proxy
    /// is the caller's (`Model::run`): it syncs once the node has joined.
    fn join_node(&mut self, world: &World, node: NodeId, now: u64, engine: &mut Engine<Ev>) {
        let n = &world.nodes[node as usize];
        let instance = cnsim_ipam::InstanceCatalog::embedded()
            .get(&n.instance_type)
            .expect("validated");
        let join = cnsim_ipam::NodeJoin {
            node,
            name: &n.name,
            instance,
            primary_ip: n.ip,
            subnet: world.subnets[n.subnet as usize].cidr,
        };
        match self.ipam.engine().add_node(&join, now) {
            Ok(a) => assert_eq!(
                a.pod_prefixes.first().copied(),
                n.pod_cidr,
                "node {} gets the pod CIDR world::launch planned",
                n.name
            ),
            // Host-local's cluster CIDR was full when the world planned it: the node joins
            // without a pod CIDR, as at t=0 (`ipam_error`), and takes no pod.
            Err(_) if n.ipam_error.is_some() => {}
            Err(e) => {
                self.join_failures[node as usize] = Some(format!("EC2 launch of {} failed: {e}", n.name));
                return;
            }
        }
        self.joined_at[node as usize] = Some(now);
        self.ipam.engine().reconcile(node, now);
        self.arm(node, now, engine);
        self.reschedule_unplaced(world, now, engine);
    }

    /// Whether `node` is in the cluster now: it has joined and not left.
    pub fn is_joined(&self, node: NodeId) -> bool {
        self.joined_at[node as usize].is_some() && self.left_at[node as usize].is_none()
    }

    /// When `node` left the cluster (a scale-down terminated it); None if it has not.
    pub fn left_at(&self, node: NodeId) -> Option<u64> {
        self.left_at[node as usize]
    }

    /// When `node` joined (0: at t=0); None if it has not.
    pub fn joined_at(&self, node: NodeId) -> Option<u64> {
        self.joined_at[node as usize]
    }

    /// Schedules `node`'s next ipamd wakeup if it is earlier than the one that counts now.
    pub(super) fn arm(&mut self, node: NodeId, now: u64, engine: &mut Engine<Ev>) {
        let Some(at) = self.ipam.engine().next_wakeup(node) else {
            return;
        };
        assert!(
            at > now || now == 0,
            "ipamd on node {node} due at {at} ns after reconciling at {now} ns"
        );
        let slot = &mut self.wake_at[node as usize];
        if slot.is_none_or(|w| at < w) {
            *slot = Some(at);
            engine.schedule_at(SimTime::from_nanos(at), Ev::Pod(PodEv::IpamdWake { node }));
        }
    }

    /// The CNI ADD for `pod` on `node` (on a branch ENI of its own when `branch`): Running with
    /// an address, or a retry.
    fn add_pod(&mut self, pod: PodId, node: NodeId, branch: bool, now: u64, engine: &mut Engine<Ev>) {
        self.ipam.engine().reconcile(node, now);
        match self.ipam.assign(node, pod, now, branch) {
            Ok(ip) => {
                self.pods.set_running(pod, ip, now);
                self.changed.push(pod);
            }
            Err(e) => {
                let reason = self.explain(node, &e);
                self.pods.set_pending_reason(pod, reason);
                if !matches!(e, IpamError::Invalid { .. }) {
                    self.retry_sandbox(pod, now, engine);
                }
            }
        }
        self.arm(node, now, engine);
    }

    /// The kubelet's next try at `pod`'s sandbox, a jittered backoff after a failure at `now`.
    fn retry_sandbox(&mut self, pod: PodId, now: u64, engine: &mut Engine<Ev>) {
        let delay = KUBELET_SYNC_BACKOFF_NS + self.backoff.below(KUBELET_SYNC_BACKOFF_JITTER_NS);
        let life = self.incarnation[pod as usize];
        engine.schedule_at(
            SimTime::from_nanos(now + delay),
            Ev::Pod(PodEv::SandboxRetry { pod, life }),
        );
    }

    /// The pod's pending reason: the kubelet's event with ipamd's error, and, when EC2 refused
    /// the node's ipamd for lack of addresses, which subnet ran dry.
    fn explain(&self, node: NodeId, err: &IpamError) -> String {
        let mut reason = sandbox_reason(err);
        let Some(v) = self.ipam.vpc_cni() else {
            return reason;
        };
        let Some(n) = v.node(node) else { return reason };
        let ec2 = n.ec2();
        let code = if ec2.insufficient_free_addresses > 0 {
            "InsufficientFreeAddressesInSubnet"
        } else if ec2.insufficient_cidr_blocks > 0 {
            "InsufficientCidrBlocks"
        } else if n.enis_attached() >= n.limits().max_enis {
            reason.push_str(&format!(
                " (the node holds its {} ENIs: ipamd cannot grow the pool)",
                n.limits().max_enis
            ));
            return reason;
        } else {
            return reason;
        };
        if let Some(sn) = n.pod_subnet() {
            let subnets = v.subnets();
            reason.push_str(&format!(
                " (ipamd: EC2 {code} in subnet {} {}, {} addresses free)",
                subnets.spec(sn).name,
                subnets.spec(sn).cidr,
                subnets.available(sn)
            ));
        }
        reason
    }

    /// What the scheduler sees when it places a pod of workload `w`: every node as a slot, and
    /// where the workload's `placed` first replicas run (by zone and by node).
    fn placement_view(&self, world: &World, w: usize, placed: u32) -> (Vec<Slot>, Vec<u32>, Vec<u32>) {
        let zones = world.azs.len();
        let (mut per_zone, mut per_node) = (vec![0u32; zones], vec![0u32; world.nodes.len()]);
        for &p in &world.workload_pods[w][..placed as usize] {
            if let Some(n) = self.pods.get(p).node {
                per_zone[world.nodes[n as usize].az as usize] += 1;
                per_node[n as usize] += 1;
            }
        }
        // Branch ENIs in use per node: the placed pods of every workload that takes them.
        let mut pod_eni_used = vec![0u32; world.nodes.len()];
        if self.branch[w] {
            for (wi, pods) in world
                .workload_pods
                .iter()
                .enumerate()
                .filter(|(wi, _)| self.branch[*wi])
            {
                for &p in &pods[..self.replicas[wi] as usize] {
                    if let Some(n) = self.pods.get(p).node {
                        pod_eni_used[n as usize] += 1;
                    }
                }
            }
        }
        let selector = &self.selectors[w];
        let slots: Vec<Slot> = (0..world.nodes.len())
            .map(|id| {
                let n = &world.nodes[id];
                Slot {
                    zone: n.az as usize,
                    max_pods: n.max_pods,
                    joined: self.is_joined(id as NodeId),
                    cordoned: self.cordoned[id],
                    has_pod_cidr: world.node_addressable(id as NodeId),
                    selector_ok: selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)),
                    pod_eni_free: self.branch[w].then(|| n.pod_eni.saturating_sub(pod_eni_used[id])),
                }
            })
            .collect();
        (slots, per_zone, per_node)
    }

    fn scale_up(&mut self, world: &World, w: usize, have: u32, want: u32, now: u64, engine: &mut Engine<Ev>) {
        let (slots, per_zone, per_node) = self.placement_view(world, w, have);
        let mut placer = Placer::new(&slots, &self.used, per_zone, per_node);
        for r in have..want {
            let pod = world.workload_pods[w][r as usize];
            self.pods_created += 1;
            match placer.place(&mut self.used) {
                Placement::Node(n) => {
                    let n = n as NodeId;
                    self.pods.create(pod, Some(n), "ContainerCreating".into(), now);
                    self.add_pod(pod, n, self.branch[w], now, engine);
                }
                Placement::Pending(reason) => self.pods.create(pod, None, reason, now),
            }
        }
    }

    /// kube-scheduler retries unschedulable pods when the cluster changes: after pods are
    /// deleted or a node joins, every existing pod that has no node is offered the room,
    /// workload by workload, oldest replica first. Those that still fit nowhere keep waiting, with the
    /// scheduler's reason as it now reads. (The scheduler's own reaction time is taken as 0:
    /// an assumption, in CALIBRATION.md "Pod startup".)
    pub(super) fn reschedule_unplaced(&mut self, world: &World, now: u64, engine: &mut Engine<Ev>) {
        for w in 0..world.workload_pods.len() {
            let existing = self.replicas[w] as usize;
            let unplaced: Vec<PodId> = world.workload_pods[w][..existing]
                .iter()
                .copied()
                .filter(|&p| self.pods.get(p).node.is_none())
                .collect();
            if unplaced.is_empty() {
                continue;
            }
            let (slots, per_zone, per_node) = self.placement_view(world, w, self.replicas[w]);
            let mut placer = Placer::new(&slots, &self.used, per_zone, per_node);
            for pod in unplaced {
                match placer.place(&mut self.used) {
                    Placement::Node(n) => {
                        let n = n as NodeId;
                        self.pods.schedule(pod, n);
                        self.add_pod(pod, n, self.branch[w], now, engine);
                    }
                    Placement::Pending(reason) => self.pods.set_pending_reason(pod, reason),
                }
            }
        }
    }

    pub(super) fn delete_pod(&mut self, pod: PodId, now: u64, engine: &mut Engine<Ev>) {
        self.pods_deleted += 1;
        self.incarnation[pod as usize] += 1;
        let (node, ip) = self.pods.delete(pod);
        let Some(node) = node else { return };
        self.used[node as usize] -= 1;
        if ip.is_some() {
            self.changed.push(pod);
            let ipam = self.ipam.engine();
            ipam.reconcile(node, now);
            let released = ipam.release_pod(node, pod, now);
            assert_eq!(released.ok(), ip, "the CNI DEL returns the pod's address");
            self.arm(node, now, engine);
        }
    }
}

impl super::datapath::Model<'_> {
    /// A launched node that has joined (`Lifecycle`) starts its kube-proxy: a full sync of
    /// the Services as the API server holds them now, then its sync runner follows changes.
    pub(super) fn node_ready(&mut self, node: NodeId) {
        if !self.life.is_joined(node) {
            return; // its launch failed
        }
        let stats = self.netfilter.full_sync_node(node);
        let sync_ns = self.netfilter.sync_ns(&[stats])[0];
        if let Some(eps) = &mut self.endpoints {
            eps.node_joined(node, self.engine.now().as_nanos(), sync_ns);
        }
    }
}
