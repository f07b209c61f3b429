//! A node group scaled down: its chosen nodes (`world::terminate`) are cordoned and drained,
//! then leave the cluster.
//!
//! At the scale event (`NodeLeave::drain_at`), for each chosen node, in node order:
//! - cordon: the scheduler no longer places pods on it (`placement::Slot::cordoned`; a pod that
//!   fits nowhere reads "N node(s) were unschedulable" among its reasons);
//! - evict every pod on it (Running or still waiting for its address), in pod order: the pod
//!   is deleted as a scale-down deletes one (its address goes back to ipamd with the cooldown;
//!   Services following pods hear of it through `changed`, so endpoints update after the usual
//!   propagation and sync), and its controller's replacement, the same replica re-created
//!   (so the workload's replica count never changes), waits for the scheduler;
//! - then the scheduler places every unplaced pod on the remaining nodes
//!   (`Lifecycle::reschedule_unplaced`), or leaves it Pending with its reason.
//!
//! Modelled choices (CALIBRATION.md "Node scale-down"): every pod is evicted at once at the
//! event and deleted at once (no graceful-termination wait before its address is released and
//! its endpoint removed, as for a workload scale-down); PodDisruptionBudgets are not modelled,
//! so no eviction is ever refused or delayed; DaemonSet pods do not exist in cnsim.
//!
//! At `NodeLeave::left_at` the instance is terminated (`PodEv::NodeLeave`): the node is no
//! longer in the cluster, ipamd's state on it is removed and every address it held goes back to
//! its subnet (`IpamEngine::remove_node`), and its kube-proxy stops (`Endpoints::node_left`).
//! With host-local the node's pod CIDR stays allocated for the rest of the run: the world's VPC
//! routes and VTEP table name one node per CIDR for the whole run (a simplification:
//! kube-controller-manager frees it when the Node object is deleted).

use super::event::{Ev, PodEv};
use super::ipamd::Lifecycle;
use crate::world::{NodeId, PodId, World};
use sim_core::Engine;

/// The reason an evicted pod's replacement shows until the scheduler has looked at it.
const AWAITING_SCHEDULER: &str = "evicted by a node drain: waiting for the scheduler";

impl Lifecycle {
    /// The scale event `event` shrinks a node group: cordon and drain the nodes it removes,
    /// schedule their leaving, and place the evicted pods' replacements.
    pub(super) fn drain_nodes(&mut self, world: &World, event: u32, now: u64, engine: &mut Engine<Ev>) {
        let mut draining = vec![false; world.nodes.len()];
        for (id, n) in world.nodes.iter().enumerate() {
            let Some(leave) = n.leave.filter(|l| l.event == event) else {
                continue;
            };
            draining[id] = true;
            self.cordoned[id] = true;
            let node = id as NodeId;
            engine.schedule_at(leave.left_at, Ev::Pod(PodEv::NodeLeave { node }));
        }
        if !draining.contains(&true) {
            return; // a growth event
        }
        let evicted: Vec<PodId> = (0..self.pods.len() as PodId)
            .filter(|&p| self.pods.get(p).node.is_some_and(|n| draining[n as usize]))
            .collect();
        for pod in evicted {
            self.delete_pod(pod, now, engine);
            self.pods_evicted += 1;
            self.pods_created += 1;
            self.pods.create(pod, None, AWAITING_SCHEDULER.into(), now);
        }
        self.reschedule_unplaced(world, now, engine);
    }

    /// The drained node's instance is terminated: it leaves the cluster and ipamd's state on
    /// it goes, every address back to its subnet (host-local keeps its CIDR: module doc).
    pub(super) fn leave_node(&mut self, world: &World, node: NodeId, now: u64, engine: &mut Engine<Ev>) {
        let was_joined = self.is_joined(node);
        self.left_at[node as usize] = Some(now);
        self.wake_at[node as usize] = None; // a wakeup still queued finds nothing to do
                                            // kube-scheduler retries unschedulable pods on a node deletion: nothing new fits, but
                                            // their reasons now count one node fewer.
        self.reschedule_unplaced(world, now, engine);
        if !was_joined || !world.vpc_pod_addresses || world.nodes[node as usize].ipam_error.is_some() {
            return; // never joined (its launch failed), or host-local
        }
        let gone = self
            .ipam
            .engine()
            .remove_node(node, now)
            .expect("a joined node is in ipamd");
        assert_eq!(gone.pods_dropped, 0, "a drained node holds no pod when it leaves");
    }
}

impl super::datapath::Model<'_> {
    /// A drained node left (`Lifecycle::leave_node`): its kube-proxy stops, so it no longer
    /// counts toward "programmed on every node".
    pub(super) fn node_left(&mut self, node: NodeId) {
        if let Some(eps) = &mut self.endpoints {
            eps.node_left(node, self.engine.now().as_nanos());
        }
    }
}
