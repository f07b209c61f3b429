//! The proptest holding the incremental engine equal to the reference model over generated
//! timelines (pods added and removed at times, quiet spells) and settings, with every invariant
//! checked after each step.

use super::config::IpamdConfig;
use super::node::NodeSnapshot;
use super::reference::Reference;
use crate::catalog::InstanceCatalog;
use crate::seam::{IpamEngine, NodeJoin};
use crate::subnet::SubnetSpec;
use crate::subnet::Subnets;
use crate::vpc_cni::VpcCni;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const S: u64 = 1_000_000_000;
const TYPES: [&str; 4] = ["t3.small", "m5.large", "t3.medium", "m4.xlarge"];

#[derive(Clone, Debug)]
enum Op {
    Add {
        node: usize,
        count: u32,
    },
    Remove {
        node: usize,
        pick: usize,
    },
    Settle,
    /// The node's instance is terminated (a node-group scale-down).
    Terminate {
        node: usize,
    },
}

fn configs() -> impl Strategy<Value = IpamdConfig> {
    (
        0u32..3,
        0u32..5,
        0u32..12,
        0u32..3,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(2u32..4),
    )
        .prop_map(
            |(warm_eni, warm_ip, min_ip, warm_prefix, pd, discovery, max_eni)| IpamdConfig {
                warm_eni_target: warm_eni,
                warm_ip_target: warm_ip,
                minimum_ip_target: min_ip,
                warm_prefix_target: warm_prefix,
                prefix_delegation: pd,
                subnet_discovery: discovery,
                max_eni,
                ..IpamdConfig::default()
            },
        )
}

fn ops() -> impl Strategy<Value = Vec<(u64, Op)>> {
    let op = prop_oneof![
        4 => (0usize..2, 1u32..8).prop_map(|(node, count)| Op::Add { node, count }),
        3 => (0usize..2, 0usize..64).prop_map(|(node, pick)| Op::Remove { node, pick }),
        1 => Just(Op::Settle),
        1 => (0usize..2).prop_map(|node| Op::Terminate { node }),
    ];
    prop::collection::vec((0u64..25, op), 1..80)
}

fn specs(small: bool) -> Vec<SubnetSpec> {
    let s = |name: &str, cidr: &str, tag| SubnetSpec {
        name: name.into(),
        cidr: cidr.parse().unwrap(),
        az: "az-a".into(),
        cni_discovery_tag: tag,
    };
    vec![
        s("a", if small { "10.0.0.0/26" } else { "10.0.0.0/24" }, false),
        s("b", "10.0.1.0/27", true),
    ]
}

fn strip(mut s: NodeSnapshot) -> NodeSnapshot {
    s.cooling = 0;
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// The incremental engine equals the reference after every step: same addresses to the
    /// same pods, same ENIs and slots, same EC2 calls, same wakeups; invariants hold.
    #[test]
    fn engine_equals_reference(cfg in configs(), ty in 0usize..4, small in any::<bool>(), ops in ops()) {
        let ty = InstanceCatalog::embedded().get(TYPES[ty]).unwrap();
        let mut engine = VpcCni::new(cfg.clone(), Subnets::new(specs(small)).unwrap()).unwrap();
        let mut reference = Reference::new(cfg.clone(), specs(small));
        for node in 0..2u32 {
            let ip = Ipv4Addr::new(10, 0, 0, 4 + node as u8);
            engine.reserve_node_address(ip).unwrap();
            reference.used[0].insert(u32::from(ip));
        }
        for node in 0..2u32 {
            let ip = Ipv4Addr::new(10, 0, 0, 4 + node as u8);
            let join = NodeJoin { node, name: "n", instance: ty, primary_ip: ip, subnet: specs(small)[0].cidr };
            engine.add_node(&join, 0).unwrap();
            reference.add_node(ty, ip, 0);
        }
        let max_pods = reference.nodes[0].limits.max_pods;
        let mut running: [Vec<u32>; 2] = Default::default();
        let mut waiting: [Vec<u32>; 2] = Default::default();
        let mut next_pod = 0u32;
        let mut gone = [false; 2];
        let mut now = 0u64;
        for (dt, op) in ops {
            now += dt * S + 1;
            let settle = matches!(op, Op::Settle);
            if settle { now += 300 * S; }
            // Everything due before `now`, node by node, with pods retried after each tick.
            for n in (0..2usize).filter(|&n| !gone[n]) {
                loop {
                    let (we, wr) = (engine.next_wakeup(n as u32).unwrap(), reference.next_wakeup(n));
                    prop_assert_eq!(we, wr, "wakeup of node {}", n);
                    if we > now { break; }
                    engine.reconcile(n as u32, we);
                    reference.reconcile(n, we);
                    while let Some(&pod) = waiting[n].first() {
                        let (a, b) = (engine.assign_pod(n as u32, pod, we).ok(), reference.assign(n, pod, we));
                        prop_assert_eq!(a.map(u32::from), b);
                        if a.is_none() { break; }
                        running[n].push(waiting[n].remove(0));
                    }
                    prop_assert_eq!(strip(engine.snapshot(n as u32).unwrap()), strip(reference.snapshot(n, we)));
                    engine.check_invariants();
                }
            }
            match op {
                Op::Add { node, .. } | Op::Remove { node, .. } | Op::Terminate { node } if gone[node] => {}
                Op::Terminate { node } => {
                    // Everything the node held goes back at once; the other node's later
                    // addresses (lowest free first in both) show the subnets agree after.
                    let released = engine.remove_node(node as u32, now).unwrap();
                    prop_assert_eq!(released.addresses_released, reference.remove_node(node));
                    prop_assert_eq!(released.pods_dropped, running[node].len() as u32);
                    prop_assert_eq!(engine.next_wakeup(node as u32), None);
                    gone[node] = true;
                }
                Op::Add { node, count } => {
                    for _ in 0..count {
                        if (running[node].len() + waiting[node].len()) as u32 >= max_pods { break; }
                        let pod = next_pod;
                        next_pod += 1;
                        if waiting[node].is_empty() {
                            let (a, b) = (engine.assign_pod(node as u32, pod, now).ok(), reference.assign(node, pod, now));
                            prop_assert_eq!(a.map(u32::from), b);
                            if a.is_some() { running[node].push(pod); continue; }
                        }
                        waiting[node].push(pod);
                    }
                }
                Op::Remove { node, pick } => {
                    if !running[node].is_empty() {
                        let pod = running[node].remove(pick % running[node].len());
                        let a = engine.release_pod(node as u32, pod, now).ok().map(u32::from);
                        prop_assert_eq!(a, reference.release(node, pod, now));
                    } else {
                        waiting[node].pop();
                    }
                }
                Op::Settle => {
                    for n in (0..2).filter(|&n| !gone[n]) {
                        prop_assert!(reference.settled_within_targets(n, now), "node {} off target after settling: {:?}", n, reference.snapshot(n, now));
                    }
                }
            }
            for n in (0..2usize).filter(|&n| !gone[n]) {
                prop_assert_eq!(strip(engine.snapshot(n as u32).unwrap()), strip(reference.snapshot(n, now)));
                prop_assert_eq!(engine.assigned_on(n as u32), reference.pods(n));
            }
            engine.check_invariants();
        }
    }
}
