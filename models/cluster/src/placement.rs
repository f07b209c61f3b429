//! Pod placement: which node each pod runs on, decided deterministically.
//!
//! The policy is a fixed stand-in for kube-scheduler's default spreading (its default
//! PodTopologySpread constraints spread a workload over zones, then over hosts): pods are
//! placed in workload order, replica order; each goes to the eligible node that minimises, in
//! order, (pods of this workload in the node's zone, pods of this workload on the node, all
//! pods on the node, node index). A node is eligible when it has joined and is not cordoned
//! (a scale-down drains it), its labels carry the workload's node selector, it has a pod CIDR,
//! it runs fewer pods than its max pods, and (for a pod a SecurityGroupPolicy selects) it has a
//! free `vpc.amazonaws.com/pod-eni`. A pod with no eligible node stays Pending with a reason
//! worded as kube-scheduler words it.

use std::collections::BTreeSet;

/// What placement needs to know about a node.
#[derive(Clone, Debug)]
pub struct Slot {
    pub zone: usize,
    pub max_pods: u32,
    /// The node has joined the cluster (one a scale event launches is not a node to the
    /// scheduler until it is Ready).
    pub joined: bool,
    /// The node is cordoned (`spec.unschedulable`): a scale-down is draining it.
    pub cordoned: bool,
    pub has_pod_cidr: bool,
    pub selector_ok: bool,
    /// For a pod a SecurityGroupPolicy selects: the node's free `vpc.amazonaws.com/pod-eni`
    /// (branch ENIs the VPC resource controller advertises, less those in use). None: the pod
    /// asks for none.
    pub pod_eni_free: Option<u32>,
}

impl Slot {
    fn fits(&self, used: u32, pod_eni_free: Option<u32>) -> bool {
        self.joined
            && !self.cordoned
            && self.selector_ok
            && self.has_pod_cidr
            && used < self.max_pods
            && pod_eni_free != Some(0)
    }
}

/// The result for one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    Node(usize),
    Pending(String),
}

/// Places `replicas` pods of one workload given each node's current pod count (updated in
/// place). `zones` is the number of zones.
pub fn place_workload(nodes: &[Slot], used: &mut [u32], zones: usize, replicas: u32) -> Vec<Placement> {
    let mut placer = Placer::new(nodes, used, vec![0; zones], vec![0; nodes.len()]);
    (0..replicas).map(|_| placer.place(used)).collect()
}

/// Places the pods of one workload one at a time, in O(zones + log nodes) each: per zone, the
/// eligible nodes ordered by (pods of this workload on the node, all pods on the node, node
/// index); the zone with the fewest pods of this workload wins, ties going to the better
/// node. The same choice as the minimum over every node (the module doc's rule), which the
/// tests hold it to.
pub struct Placer<'a> {
    nodes: &'a [Slot],
    per_zone: Vec<u32>,
    per_node: Vec<u32>,
    /// Eligible nodes of each zone by (per_node, used, index).
    by_zone: Vec<BTreeSet<(u32, u32, usize)>>,
    pod_eni_free: Vec<Option<u32>>,
    /// Once no node is eligible, none becomes so while this workload is placed.
    unschedulable: Option<String>,
}

impl<'a> Placer<'a> {
    /// `per_zone` and `per_node`: the workload's pods already placed; `used`: every node's pods.
    pub fn new(nodes: &'a [Slot], used: &[u32], per_zone: Vec<u32>, per_node: Vec<u32>) -> Placer<'a> {
        assert_eq!(nodes.len(), used.len());
        assert_eq!(nodes.len(), per_node.len());
        let mut by_zone = vec![BTreeSet::new(); per_zone.len()];
        for (n, slot) in nodes.iter().enumerate() {
            if slot.fits(used[n], slot.pod_eni_free) {
                by_zone[slot.zone].insert((per_node[n], used[n], n));
            }
        }
        Placer {
            nodes,
            per_zone,
            per_node,
            by_zone,
            pod_eni_free: nodes.iter().map(|s| s.pod_eni_free).collect(),
            unschedulable: None,
        }
    }

    /// Places one more pod, counting it in `used` (the same slice `new` was given).
    pub fn place(&mut self, used: &mut [u32]) -> Placement {
        let best = (0..self.by_zone.len())
            .filter_map(|z| self.by_zone[z].first().map(|&key| (self.per_zone[z], key)))
            .min();
        let Some((_, key)) = best else {
            let (nodes, free) = (self.nodes, &self.pod_eni_free);
            let reason = self
                .unschedulable
                .get_or_insert_with(|| unschedulable_reason(nodes, used, free));
            return Placement::Pending(reason.clone());
        };
        let n = key.2;
        let zone = self.nodes[n].zone;
        self.by_zone[zone].remove(&key);
        self.per_zone[zone] += 1;
        self.per_node[n] += 1;
        used[n] += 1;
        if let Some(free) = &mut self.pod_eni_free[n] {
            *free -= 1;
        }
        if self.nodes[n].fits(used[n], self.pod_eni_free[n]) {
            self.by_zone[zone].insert((self.per_node[n], used[n], n));
        }
        Placement::Node(n)
    }
}

/// kube-scheduler's FailedScheduling wording: "0/N nodes are available: ...", N counting the
/// nodes that have joined.
fn unschedulable_reason(nodes: &[Slot], used: &[u32], pod_eni_free: &[Option<u32>]) -> String {
    let joined = |n: &usize| nodes[*n].joined;
    let count = (0..nodes.len()).filter(joined).count();
    if count == 0 {
        return "no nodes available to schedule pods".into();
    }
    // The NodeUnschedulable filter runs first: a cordoned node counts only under it.
    let cordoned = (0..nodes.len()).filter(joined).filter(|&n| nodes[n].cordoned).count();
    let joined = |n: &usize| nodes[*n].joined && !nodes[*n].cordoned;
    let selector = (0..nodes.len())
        .filter(joined)
        .filter(|&n| !nodes[n].selector_ok)
        .count();
    let no_cidr = (0..nodes.len())
        .filter(joined)
        .filter(|&n| nodes[n].selector_ok && !nodes[n].has_pod_cidr)
        .count();
    let room = |n: &usize| nodes[*n].selector_ok && nodes[*n].has_pod_cidr;
    let full = (0..nodes.len())
        .filter(joined)
        .filter(room)
        .filter(|&n| used[n] >= nodes[n].max_pods)
        .count();
    let no_pod_eni = (0..nodes.len())
        .filter(joined)
        .filter(room)
        .filter(|&n| used[n] < nodes[n].max_pods && pod_eni_free[n] == Some(0))
        .count();
    let mut parts = Vec::new();
    if full > 0 {
        parts.push(format!("{full} Too many pods"));
    }
    if no_pod_eni > 0 {
        parts.push(format!("{no_pod_eni} Insufficient vpc.amazonaws.com/pod-eni"));
    }
    if selector > 0 {
        parts.push(format!("{selector} node(s) didn't match Pod's node affinity/selector"));
    }
    if no_cidr > 0 {
        parts.push(format!("{no_cidr} node(s) had no pod CIDR (network unavailable)"));
    }
    if cordoned > 0 {
        parts.push(format!("{cordoned} node(s) were unschedulable"));
    }
    format!("0/{count} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The module doc's rule read literally: the minimum over every eligible node.
    fn place_reference(nodes: &[Slot], used: &mut [u32], zones: usize, replicas: u32) -> Vec<Placement> {
        let (mut per_zone, mut per_node) = (vec![0u32; zones], vec![0u32; nodes.len()]);
        let mut free: Vec<Option<u32>> = nodes.iter().map(|s| s.pod_eni_free).collect();
        (0..replicas)
            .map(|_| {
                let best = (0..nodes.len())
                    .filter(|&n| {
                        nodes[n].joined
                            && !nodes[n].cordoned
                            && nodes[n].selector_ok
                            && nodes[n].has_pod_cidr
                            && used[n] < nodes[n].max_pods
                    })
                    .filter(|&n| free[n] != Some(0))
                    .min_by_key(|&n| (per_zone[nodes[n].zone], per_node[n], used[n], n));
                match best {
                    Some(n) => {
                        per_zone[nodes[n].zone] += 1;
                        per_node[n] += 1;
                        used[n] += 1;
                        if let Some(f) = &mut free[n] {
                            *f -= 1;
                        }
                        Placement::Node(n)
                    }
                    None => Placement::Pending(unschedulable_reason(nodes, used, &free)),
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn placer_places_every_pod_where_the_reference_does(
            slots in prop::collection::vec((0usize..3, 0u32..6, any::<bool>(), any::<bool>(), 0u32..6, prop::option::of(0u32..4), prop::bool::weighted(0.8), prop::bool::weighted(0.2)), 0..12),
            workloads in prop::collection::vec(0u32..30, 1..4),
        ) {
            let nodes: Vec<Slot> = slots
                .iter()
                .map(|&(zone, max_pods, cidr, sel, _, pod_eni_free, joined, cordoned)| Slot { zone, max_pods, joined, cordoned, has_pod_cidr: cidr || sel, selector_ok: sel || !cidr, pod_eni_free })
                .collect();
            let start: Vec<u32> = slots.iter().map(|s| s.4).collect();
            let (mut fast, mut slow) = (start.clone(), start);
            for &replicas in &workloads {
                let got = place_workload(&nodes, &mut fast, 3, replicas);
                let want = place_reference(&nodes, &mut slow, 3, replicas);
                prop_assert_eq!(got, want);
                prop_assert_eq!(&fast, &slow);
            }
        }
    }

    fn slot(zone: usize, max_pods: u32) -> Slot {
        Slot {
            zone,
            max_pods,
            joined: true,
            cordoned: false,
            has_pod_cidr: true,
            selector_ok: true,
            pod_eni_free: None,
        }
    }

    #[test]
    fn spreads_over_zones_before_hosts() {
        // Two nodes in zone 0, one in zone 1: the second pod goes to zone 1.
        let nodes = [slot(0, 10), slot(0, 10), slot(1, 10)];
        let mut used = vec![0; 3];
        let got = place_workload(&nodes, &mut used, 2, 4);
        assert_eq!(
            got,
            vec![
                Placement::Node(0),
                Placement::Node(2),
                Placement::Node(1),
                Placement::Node(2)
            ]
        );
    }

    #[test]
    fn respects_max_pods_and_says_why_a_pod_is_pending() {
        let nodes = [
            slot(0, 1),
            Slot {
                selector_ok: false,
                ..slot(0, 5)
            },
        ];
        let mut used = vec![0; 2];
        let got = place_workload(&nodes, &mut used, 1, 2);
        assert_eq!(got[0], Placement::Node(0));
        assert_eq!(
            got[1],
            Placement::Pending(
                "0/2 nodes are available: 1 Too many pods, 1 node(s) didn't match Pod's node affinity/selector.".into()
            )
        );
    }

    #[test]
    fn never_exceeds_max_pods() {
        let nodes: Vec<Slot> = (0..5).map(|i| slot(i % 3, 3 + i as u32)).collect();
        let mut used = vec![0; 5];
        let got = place_workload(&nodes, &mut used, 3, 40);
        let placed = got.iter().filter(|p| matches!(p, Placement::Node(_))).count();
        assert_eq!(placed, 3 + 4 + 5 + 6 + 7);
        assert!(used.iter().zip(&nodes).all(|(u, s)| *u <= s.max_pods));
    }
}
