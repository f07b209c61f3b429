//! Services follow pods: EndpointSlices and each node's service datapath over a run.
//!
//! Owns the live endpoint table of every selector-based Service (the pods behind each
//! `ServiceSet::endpoints[s][p]`, in pod order), the log of endpoint changes, and each node's
//! kube-proxy sync runner. The service set itself lives in `Netfilter` (what the API server
//! holds); each node's engine holds what that node last synced.
//!
//! The path of a change (timings in models/cluster/CALIBRATION.md, "Endpoint propagation"):
//! 1. A pod becomes Running (it has its address) or is deleted (`sim::ipamd`).
//! 2. After `ENDPOINT_PROPAGATION` the EndpointSlice controller has written the slice and every
//!    node's kube-proxy has seen it (`EpEv::SliceUpdate`). The controller reconciles the pod as it
//!    is then: a Running pod is an endpoint (with its current address), any other is not. Only
//!    Ready pods are endpoints; cnsim's pods are Ready once Running. Services with an explicit
//!    `endpoints` list keep that list.
//! 3. Each node's sync runner coalesces changes: a sync starts no sooner than `min_sync_period`
//!    after the previous one started (and not before it ended) and re-programs the changed
//!    Services with the engine's `partial_sync` (`EpEv::NodeSync`). Until then the node keeps
//!    sending to the endpoints it knows.
//!
//! With the removal of a UDP endpoint, kube-proxy's sync deletes the conntrack entries that
//! translate to it (`CleanStaleEntries`, pkg/proxy/conntrack/cleanup.go), so UDP sockets pick a
//! live endpoint on their next datagram; TCP entries are left to the connections. In eBPF mode
//! nothing is flushed (Cilium's own CT handling is not modelled).
//!
//! Simplification: the new rules take effect when the sync starts, not when it commits, so a
//! node answers with them early by the sync's modelled time (reported as `sync_ns`). The
//! "programmed on every node" latency uses the commit time (start + modelled sync time).
//! kube-proxy's periodic resync (`syncPeriod`, 30 s) changes nothing here and is not modelled.
//!
//! A run whose pods never change behind a Service schedules no event here.

use super::event::{EpEv, Ev};
use super::metrics::DropReason;
use super::netfilter::Netfilter;
use super::packet::Header;
use super::pods::LivePods;
use crate::scenario::format::Scenario;
use crate::service_world::{self, EndpointPods};
use crate::world::{NodeId, PodId, World};
use sim_core::{Engine, Histogram, SimTime};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// Why a packet meeting `reason` is dropped: a client's packet to a Service (`to_service`)
/// that went to an endpoint whose pod is gone (its node had not synced the removal when the
/// connection was translated) is `ServiceStaleEndpoint`, not the address error it meets.
pub fn stale_or(pods: &LivePods, to_service: bool, h: &Header, reason: DropReason) -> DropReason {
    let no_pod = matches!(reason, DropReason::NodeNoSuchPod | DropReason::VpcNoSuchAddress);
    if no_pod && to_service && pods.by_ip(h.dst_ip()).is_none() {
        DropReason::ServiceStaleEndpoint
    } else {
        reason
    }
}

/// One port of one Service that a workload's pods serve, on `target` (the resolved port).
#[derive(Clone, Copy, Debug)]
struct Serves {
    service: u32,
    port: u32,
    target: u16,
}

/// A change the slice state took: when its pod changed (Running or deleted), whether the pod
/// is an endpoint after it, the Services it touched (ascending) and the UDP endpoints it
/// removed. One log for every node: a node's next sync programs the entries after its
/// `covered` mark, so nothing is copied per node.
#[derive(Clone, Debug)]
struct Applied {
    pod_changed_ns: u64,
    add: bool,
    services: Vec<u32>,
    gone_udp: Vec<(Ipv4Addr, u16)>,
}

/// One node's kube-proxy sync runner.
#[derive(Clone, Debug, Default)]
struct Runner {
    /// The node is in the cluster: one a scale event launches has no runner until it joins.
    joined: bool,
    /// A `NodeSync` is scheduled.
    scheduled: bool,
    /// The earliest time the next sync may start.
    next_allowed_ns: u64,
    /// How many applied changes the node has programmed: the rest are what it has pending.
    covered: u32,
}

/// Counters for the results.
#[derive(Clone, Debug, Default)]
pub struct EndpointStats {
    /// Endpoints added to and removed from slices (one per Service port).
    pub endpoints_added: u64,
    pub endpoints_removed: u64,
    /// Slice updates: pod reconciles that changed at least one Service.
    pub slice_updates: u64,
    /// Node syncs run, the Services they re-programmed, and their modelled time.
    pub node_syncs: u64,
    pub services_synced: u64,
    pub sync_ns: u64,
    /// UDP conntrack entries deleted at syncs because their endpoint was removed.
    pub conntrack_flushed: u64,
    /// Pod Running → its endpoint programmed on every node, ns.
    pub ready_to_programmed: Histogram,
    /// Pod deleted → its endpoint removed on every node, ns.
    pub deleted_to_removed: Histogram,
}

pub struct Endpoints {
    /// Per workload: the Service ports its pods serve. Empty for every workload: inactive.
    serves: Vec<Vec<Serves>>,
    /// The pods behind `ServiceSet::endpoints`, parallel to it, each list in pod order.
    pods: EndpointPods,
    /// Per applied change, in order.
    applied: Vec<Applied>,
    /// How many applied changes every node has programmed (the others' latency is pending).
    recorded: u32,
    runners: Vec<Runner>,
    /// Nodes by how many applied changes they have programmed: the least is the watermark.
    covered: BTreeMap<u32, u32>,
    /// Pods that became endpoints during the run.
    added: BTreeSet<PodId>,
    min_sync_ns: u64,
    propagation_ns: u64,
    pub stats: EndpointStats,
}

impl Endpoints {
    /// Starts from the endpoints at t=0 (`pods`, from `service_world::build`); `full_sync_ns`
    /// is each node's t=0 sync time (its runner is busy until then).
    pub fn new(s: &Scenario, world: &World, pods: EndpointPods, full_sync_ns: &[u64]) -> Endpoints {
        let mut serves = vec![Vec::new(); s.workloads.len()];
        for (si, def) in s.services.iter().enumerate() {
            for (wi, w) in s.workloads.iter().enumerate() {
                if !service_world::selects(def, w) {
                    continue;
                }
                for (pi, p) in def.ports.iter().enumerate() {
                    if let Some(target) = service_world::target_port(s, p, wi) {
                        serves[wi].push(Serves {
                            service: si as u32,
                            port: pi as u32,
                            target,
                        });
                    }
                }
            }
        }
        let min_sync_ns = s
            .kube_proxy
            .min_sync_period
            .unwrap_or_else(|| crate::calibration::min_sync_period(s.kube_proxy.mode))
            .as_nanos();
        let runners: Vec<Runner> = (0..world.nodes.len())
            .map(|n| Runner {
                joined: world.nodes[n].joined_at_start(),
                next_allowed_ns: min_sync_ns.max(full_sync_ns.get(n).copied().unwrap_or(0)),
                ..Runner::default()
            })
            .collect();
        let mut covered = BTreeMap::new();
        let joined = runners.iter().filter(|r| r.joined).count() as u32;
        if joined > 0 {
            covered.insert(0, joined);
        }
        Endpoints {
            serves,
            pods,
            applied: Vec::new(),
            recorded: 0,
            runners,
            covered,
            added: BTreeSet::new(),
            min_sync_ns,
            propagation_ns: crate::calibration::ENDPOINT_PROPAGATION.as_nanos(),
            stats: EndpointStats::default(),
        }
    }

    /// Whether any pod's change can reach a Service: else nothing here ever runs.
    pub fn is_active(&self) -> bool {
        self.serves.iter().any(|s| !s.is_empty())
    }

    /// The pods behind each Service port now, as the slices hold them.
    pub fn pods(&self) -> &EndpointPods {
        &self.pods
    }

    /// Pods that became endpoints during the run, in pod order.
    pub fn added_pods(&self) -> impl Iterator<Item = PodId> + '_ {
        self.added.iter().copied()
    }

    /// `pod` became Running or was deleted now: its slice update lands after the propagation
    /// delay (only if some Service selects it).
    pub fn pod_changed(&mut self, world: &World, pod: PodId, engine: &mut Engine<Ev>) {
        if self.serves[world.pods[pod as usize].workload].is_empty() {
            return;
        }
        let at = engine.now() + SimTime::from_nanos(self.propagation_ns);
        engine.schedule_at(
            at,
            Ev::Endpoints(EpEv::SliceUpdate {
                pod,
                changed_ns: engine.now().as_nanos(),
            }),
        );
    }

    pub fn handle(&mut self, ev: EpEv, world: &World, live: &LivePods, nf: &mut Netfilter, engine: &mut Engine<Ev>) {
        match ev {
            EpEv::SliceUpdate { pod, changed_ns } => self.reconcile(world, live, pod, changed_ns, nf, engine),
            EpEv::NodeSync { node } => self.sync(node, nf, engine.now().as_nanos()),
        }
    }

    /// The EndpointSlice controller's view of `pod` now: an endpoint of every port it serves
    /// while it runs (at its current address), of none otherwise.
    fn reconcile(
        &mut self,
        world: &World,
        live: &LivePods,
        pod: PodId,
        changed_ns: u64,
        nf: &mut Netfilter,
        engine: &mut Engine<Ev>,
    ) {
        let now = live.get(pod);
        let want = live.ip(pod).zip(now.node);
        let mut touched = BTreeSet::new();
        let (mut added, mut removed) = (0, 0);
        let mut gone_udp = Vec::new();
        for sv in &self.serves[world.pods[pod as usize].workload] {
            let (s, p) = (sv.service as usize, sv.port as usize);
            let udp = nf.services().services[s].ports[p].protocol == cnsim_services::Protocol::Udp;
            let ids = &mut self.pods[s][p];
            let eps = &mut nf.endpoints_mut(s)[p];
            let at = ids.binary_search(&pod);
            let desired = want.map(|(ip, node)| service_world::endpoint(world, ip, sv.target, node));
            match (at, desired) {
                (Ok(i), Some(ep)) if eps[i] == ep => continue,
                (Ok(i), Some(ep)) => {
                    let old = std::mem::replace(&mut eps[i], ep);
                    if old.ip != eps[i].ip {
                        // The replica was deleted and re-created elsewhere (a drain's eviction)
                        // before its slice update: one endpoint gone, a new one in its place.
                        removed += 1;
                        added += 1;
                        self.added.insert(pod);
                    }
                    if udp {
                        gone_udp.push((old.ip, old.port));
                    }
                }
                (Ok(i), None) => {
                    ids.remove(i);
                    let old = eps.remove(i);
                    if udp {
                        gone_udp.push((old.ip, old.port));
                    }
                    removed += 1;
                }
                (Err(i), Some(ep)) => {
                    ids.insert(i, pod);
                    eps.insert(i, ep);
                    added += 1;
                    self.added.insert(pod);
                }
                (Err(_), None) => continue,
            }
            touched.insert(sv.service);
        }
        if touched.is_empty() {
            return;
        }
        self.stats.slice_updates += 1;
        self.stats.endpoints_added += added;
        self.stats.endpoints_removed += removed;
        self.applied.push(Applied {
            pod_changed_ns: changed_ns,
            add: want.is_some(),
            services: touched.into_iter().collect(),
            gone_udp,
        });
        let t = engine.now().as_nanos();
        for (node, r) in self.runners.iter_mut().enumerate().filter(|(_, r)| r.joined) {
            if !r.scheduled {
                r.scheduled = true;
                let at = SimTime::from_nanos(t.max(r.next_allowed_ns));
                engine.schedule_at(at, Ev::Endpoints(EpEv::NodeSync { node: node as NodeId }));
            }
        }
    }

    /// A node joined at `now` and its kube-proxy's first (full) sync, taking `full_sync_ns`,
    /// programmed every change applied so far: its runner starts from there, and the node
    /// counts toward "programmed on every node" from now on.
    pub fn node_joined(&mut self, node: NodeId, now: u64, full_sync_ns: u64) {
        let r = &mut self.runners[node as usize];
        assert!(!r.joined, "node {node} joined twice");
        r.joined = true;
        r.covered = self.applied.len() as u32;
        r.next_allowed_ns = now + self.min_sync_ns.max(full_sync_ns);
        *self.covered.entry(r.covered).or_default() += 1;
    }

    /// A drained node left at `now` (`sim::drain`): its kube-proxy stops. Changes only it had
    /// yet to program are, from now, on every node that is left.
    pub fn node_left(&mut self, node: NodeId, now: u64) {
        let r = &mut self.runners[node as usize];
        if !r.joined {
            return;
        }
        r.joined = false;
        let c = self.covered.get_mut(&r.covered).expect("each node is counted once");
        *c -= 1;
        if *c == 0 {
            self.covered.remove(&r.covered);
        }
        self.record_covered(now);
    }

    /// `node`'s kube-proxy syncs the Services changed since its last sync.
    fn sync(&mut self, node: NodeId, nf: &mut Netfilter, now: u64) {
        let r = &mut self.runners[node as usize];
        r.scheduled = false;
        if !r.joined {
            return; // the node left after this sync was scheduled
        }
        let pending = &self.applied[r.covered as usize..];
        let changed: BTreeSet<u32> = pending.iter().flat_map(|a| a.services.iter().copied()).collect();
        let changed: Vec<usize> = changed.into_iter().map(|s| s as usize).collect();
        let cost = nf.partial_sync(node, &changed);
        let stale: Vec<(Ipv4Addr, u16)> = pending.iter().flat_map(|a| a.gone_udp.iter().copied()).collect();
        if nf.mode != cnsim_services::Mode::Ebpf && !stale.is_empty() {
            self.stats.conntrack_flushed += nf.flush_udp_to(node, &stale);
        }
        r.next_allowed_ns = now + self.min_sync_ns.max(cost);
        let (before, after) = (r.covered, self.applied.len() as u32);
        r.covered = after;
        self.stats.node_syncs += 1;
        self.stats.services_synced += changed.len() as u64;
        self.stats.sync_ns += cost;
        // Move the node up the watermark; changes every node now holds get their latency (the
        // last node to program them commits now + cost).
        let c = self.covered.get_mut(&before).expect("each node is counted once");
        *c -= 1;
        if *c == 0 {
            self.covered.remove(&before);
        }
        *self.covered.entry(after).or_default() += 1;
        self.record_covered(now + cost);
    }

    /// Changes every node in the cluster now holds get their latency, committed at `commit`.
    /// With no node left, nothing is outstanding.
    fn record_covered(&mut self, commit: u64) {
        let low = self.covered.keys().next().copied().unwrap_or(self.applied.len() as u32);
        for a in &self.applied[self.recorded as usize..low as usize] {
            let h = if a.add {
                &mut self.stats.ready_to_programmed
            } else {
                &mut self.stats.deleted_to_removed
            };
            h.record(commit - a.pod_changed_ns);
        }
        self.recorded = self.recorded.max(low);
    }
}
