//! The pods of a run as they are now: phase, node, address, and how long each waited for its
//! address. The world holds the cluster at t=0 and never changes; this table starts from it and
//! is what the packet path, the timeline and the results read.
//!
//! Invariant (asserted): an address is held by at most one pod, and a pod holds an address
//! exactly when it is Running.

use super::routing::PodAddresses;
use crate::world::{NodeId, PodId, PodPhase, World};
use rustc_hash::FxHashMap;
use sim_core::Histogram;
use std::net::Ipv4Addr;

#[derive(Clone, Debug)]
pub struct LivePod {
    pub phase: PodPhase,
    pub node: Option<NodeId>,
    pub ip: Option<Ipv4Addr>,
    /// When the pod was created (its sandbox first asked for an address).
    pub created_ns: u64,
}

pub struct LivePods {
    pods: Vec<LivePod>,
    /// Looked up, never iterated: its order cannot leak into a run.
    by_ip: FxHashMap<u32, PodId>,
    /// Created → Running, for every pod that became Running (at t=0 included).
    pub time_to_ready: Histogram,
}

impl LivePods {
    pub fn from_world(world: &World) -> LivePods {
        let mut by_ip = FxHashMap::default();
        let mut time_to_ready = Histogram::new();
        let pods = world
            .pods
            .iter()
            .enumerate()
            .map(|(id, p)| {
                if let (Some(ip), PodPhase::Running) = (p.ip, &p.phase) {
                    let clash = by_ip.insert(u32::from(ip), id as PodId);
                    assert!(clash.is_none(), "{ip} given to two pods at t=0");
                    time_to_ready.record(0);
                }
                LivePod {
                    phase: p.phase.clone(),
                    node: p.node,
                    ip: p.ip,
                    created_ns: 0,
                }
            })
            .collect();
        LivePods {
            pods,
            by_ip,
            time_to_ready,
        }
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn get(&self, pod: PodId) -> &LivePod {
        &self.pods[pod as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &LivePod> {
        self.pods.iter()
    }

    pub fn is_running(&self, pod: PodId) -> bool {
        self.pods[pod as usize].phase == PodPhase::Running
    }

    /// Every pod waiting (unschedulable, or for its address), with why, in pod order.
    pub fn pending(&self) -> impl Iterator<Item = (PodId, &str)> + '_ {
        self.pods.iter().enumerate().filter_map(|(id, p)| match &p.phase {
            PodPhase::Pending { reason } => Some((id as PodId, reason.as_str())),
            PodPhase::Running | PodPhase::NotCreated => None,
        })
    }

    /// The pod's address while it runs.
    pub fn ip(&self, pod: PodId) -> Option<Ipv4Addr> {
        let p = &self.pods[pod as usize];
        p.ip.filter(|_| p.phase == PodPhase::Running)
    }

    pub fn by_ip(&self, ip: Ipv4Addr) -> Option<PodId> {
        self.by_ip.get(&u32::from(ip)).copied()
    }

    /// A new pod, scheduled to `node` (or unschedulable: `node` None) and waiting for its
    /// sandbox: Pending with `reason`.
    pub fn create(&mut self, pod: PodId, node: Option<NodeId>, reason: String, now_ns: u64) {
        let p = &mut self.pods[pod as usize];
        assert_eq!(p.phase, PodPhase::NotCreated, "pod {pod} created twice");
        *p = LivePod {
            phase: PodPhase::Pending { reason },
            node,
            ip: None,
            created_ns: now_ns,
        };
    }

    /// The scheduler found a node for a pending pod that had none.
    pub fn schedule(&mut self, pod: PodId, node: NodeId) {
        let p = &mut self.pods[pod as usize];
        assert!(
            matches!(p.phase, PodPhase::Pending { .. }) && p.node.is_none(),
            "pod {pod} is not waiting for a node"
        );
        p.node = Some(node);
        p.phase = PodPhase::Pending {
            reason: "ContainerCreating".into(),
        };
    }

    pub fn set_pending_reason(&mut self, pod: PodId, reason: String) {
        let p = &mut self.pods[pod as usize];
        assert!(matches!(p.phase, PodPhase::Pending { .. }), "pod {pod} is not pending");
        p.phase = PodPhase::Pending { reason };
    }

    /// The CNI gave the pending pod `ip`: it runs from now.
    pub fn set_running(&mut self, pod: PodId, ip: Ipv4Addr, now_ns: u64) {
        let p = &mut self.pods[pod as usize];
        assert!(matches!(p.phase, PodPhase::Pending { .. }), "pod {pod} is not pending");
        let clash = self.by_ip.insert(u32::from(ip), pod);
        assert!(clash.is_none(), "{ip} given to pod {pod} while another pod holds it");
        p.phase = PodPhase::Running;
        p.ip = Some(ip);
        self.time_to_ready.record(now_ns - p.created_ns);
    }

    /// The pod is deleted (scaled down): it gives up its node and address. Returns what it held.
    pub fn delete(&mut self, pod: PodId) -> (Option<NodeId>, Option<Ipv4Addr>) {
        let p = &mut self.pods[pod as usize];
        assert_ne!(p.phase, PodPhase::NotCreated, "pod {pod} deleted twice");
        if let Some(ip) = p.ip {
            assert_eq!(self.by_ip.remove(&u32::from(ip)), Some(pod));
        }
        let held = (p.node.take(), p.ip.take());
        p.phase = PodPhase::NotCreated;
        held
    }

    /// (running, pending): pods that exist, by phase.
    pub fn counts(&self) -> (u32, u32) {
        let mut c = (0, 0);
        for p in &self.pods {
            match p.phase {
                PodPhase::Running => c.0 += 1,
                PodPhase::Pending { .. } => c.1 += 1,
                PodPhase::NotCreated => {}
            }
        }
        c
    }
}

impl PodAddresses for LivePods {
    fn pod_node(&self, ip: Ipv4Addr) -> Option<NodeId> {
        self.by_ip(ip).and_then(|p| self.pods[p as usize].node)
    }
}
