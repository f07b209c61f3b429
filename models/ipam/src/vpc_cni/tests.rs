//! The engine against AWS's published example tables and ipamd's documented behaviour.

use super::config::{IpamdConfig, ENI_ATTACH_LATENCY_NS, IP_COOLDOWN_NS, POOL_TICK_NS};
use super::timeline::{pool_timeline, PoolRow};
use super::*;
use crate::catalog::InstanceCatalog;
use crate::subnet::SubnetSpec;

const S: u64 = 1_000_000_000;

fn ty(name: &str) -> &'static crate::catalog::InstanceType {
    InstanceCatalog::embedded().get(name).unwrap()
}

/// The settled row of each step: the last row before the next step.
fn settled(rows: &[PoolRow], steps: usize) -> Vec<&PoolRow> {
    (0..steps)
        .map(|k| rows.iter().rfind(|r| r.step == k).unwrap())
        .collect()
}

fn per_eni(cni_rows: &[PoolRow]) -> Vec<(u32, u32, u32, u32)> {
    cni_rows
        .iter()
        .map(|r| (r.pods_running, r.enis, r.stats.total_ips, r.warm))
        .collect()
}

/// docs/eni-and-ip-target.md, t3.small rows: (pods, ENIs, secondary IPs, unused IPs).
#[test]
fn eni_and_ip_target_doc_table_t3_small() {
    let run = |cfg: IpamdConfig| {
        let t = pool_timeline(ty("t3.small"), &cfg, &[0, 5, 9], 120 * S);
        per_eni(&settled(&t.rows, 3).into_iter().cloned().collect::<Vec<_>>())
    };
    assert_eq!(
        run(IpamdConfig::default()),
        vec![(0, 1, 3, 3), (5, 3, 9, 4), (9, 3, 9, 0)]
    );
    let ip1 = IpamdConfig {
        warm_ip_target: 1,
        minimum_ip_target: 1,
        ..IpamdConfig::default()
    };
    assert_eq!(run(ip1), vec![(0, 1, 1, 1), (5, 2, 6, 1), (9, 3, 9, 0)]);
    let ip2 = IpamdConfig {
        warm_ip_target: 2,
        minimum_ip_target: 5,
        ..IpamdConfig::default()
    };
    assert_eq!(run(ip2), vec![(0, 2, 5, 5), (5, 3, 7, 2), (9, 3, 9, 0)]);
}

/// docs/eni-and-ip-target.md, p3dn.24xlarge rows.
#[test]
fn eni_and_ip_target_doc_table_p3dn() {
    let t = pool_timeline(ty("p3dn.24xlarge"), &IpamdConfig::default(), &[0, 3, 95], 120 * S);
    let rows: Vec<_> = settled(&t.rows, 3).into_iter().cloned().collect();
    assert_eq!(per_eni(&rows), vec![(0, 1, 49, 49), (3, 2, 98, 95), (95, 3, 147, 52)]);
    let cfg = IpamdConfig {
        warm_ip_target: 5,
        minimum_ip_target: 10,
        ..IpamdConfig::default()
    };
    let t = pool_timeline(ty("p3dn.24xlarge"), &cfg, &[0, 7, 15, 45], 120 * S);
    let rows: Vec<_> = settled(&t.rows, 4).into_iter().cloned().collect();
    assert_eq!(
        per_eni(&rows),
        vec![(0, 1, 10, 10), (7, 1, 12, 5), (15, 1, 20, 5), (45, 2, 50, 5)]
    );
}

/// docs/prefix-and-ip-target.md, t3.small with WARM_PREFIX_TARGET=1: (pods, ENIs, prefixes).
#[test]
fn prefix_doc_table_t3_small() {
    let cfg = IpamdConfig {
        prefix_delegation: true,
        warm_prefix_target: 1,
        max_pods: Some(110),
        ..IpamdConfig::default()
    };
    let t = pool_timeline(ty("t3.small"), &cfg, &[0, 5, 16, 17, 58], 120 * S);
    let got: Vec<_> = settled(&t.rows, 5)
        .iter()
        .map(|r| (r.pods_running, r.enis, r.slots, r.warm))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 1, 1, 16),
            (5, 1, 2, 27),
            (16, 1, 2, 16),
            (17, 1, 3, 31),
            (58, 2, 5, 22)
        ]
    );
    // WARM_IP_TARGET=1, MINIMUM_IP_TARGET=1.
    let cfg = IpamdConfig {
        warm_ip_target: 1,
        minimum_ip_target: 1,
        ..cfg
    };
    let t = pool_timeline(ty("t3.small"), &cfg, &[0, 5, 17, 58], 120 * S);
    let got: Vec<_> = settled(&t.rows, 4)
        .iter()
        .map(|r| (r.pods_running, r.enis, r.slots, r.warm))
        .collect();
    assert_eq!(got, vec![(0, 1, 1, 16), (5, 1, 1, 11), (17, 1, 2, 15), (58, 2, 4, 6)]);
}

fn one_node(cidr: &str, cfg: IpamdConfig, instance: &str) -> VpcCni {
    let subnets = Subnets::new(vec![SubnetSpec {
        name: "a".into(),
        cidr: cidr.parse().unwrap(),
        az: "az-a".into(),
        cni_discovery_tag: false,
    }])
    .unwrap();
    let mut cni = VpcCni::new(cfg, subnets).unwrap();
    let net: ipnet::Ipv4Net = cidr.parse().unwrap();
    let join = NodeJoin {
        node: 0,
        name: "n0",
        instance: ty(instance),
        primary_ip: Ipv4Addr::from(u32::from(net.network()) + 4),
        subnet: net,
    };
    cni.add_node(&join, 0).unwrap();
    cni
}

#[test]
fn empty_pool_answers_retry_with_ipamds_text_until_the_eni_attaches() {
    // m5.large, WARM_ENI_TARGET=1: 9 IPs on the primary ENI at start.
    let mut cni = one_node("10.0.0.0/24", IpamdConfig::default(), "m5.large");
    for pod in 0..9 {
        cni.assign_pod(0, pod, S).unwrap();
    }
    let err = cni.assign_pod(0, 9, S).unwrap_err();
    assert!(matches!(err, IpamError::Retry { .. }));
    assert!(
        err.to_string()
            .contains("AssignPodIPAddress: no available IP/Prefix addresses"),
        "{err}"
    );
    // The first tick (2.5 s) finds the pool low and starts an ENI; it is usable 10 s later.
    let tick = cni.next_wakeup(0).unwrap();
    cni.reconcile(0, tick);
    assert_eq!(cni.next_wakeup(0), Some(tick + ENI_ATTACH_LATENCY_NS));
    assert!(cni.assign_pod(0, 9, tick + 1).is_err());
    cni.reconcile(0, tick + ENI_ATTACH_LATENCY_NS);
    assert_eq!(
        cni.assign_pod(0, 9, tick + ENI_ATTACH_LATENCY_NS).unwrap(),
        Ipv4Addr::new(10, 0, 0, 15)
    );
    let calls = cni.ec2_calls();
    assert_eq!(
        (
            calls.create_network_interface,
            calls.attach_network_interface,
            calls.describe_subnets
        ),
        (1, 1, 1)
    );
    assert_eq!(cni.next_wakeup(0), Some(tick + ENI_ATTACH_LATENCY_NS + POOL_TICK_NS));
    cni.check_invariants();
}

#[test]
fn released_address_cools_down_for_30_seconds() {
    let cfg = IpamdConfig {
        warm_ip_target: 1,
        minimum_ip_target: 1,
        ..IpamdConfig::default()
    };
    let mut cni = one_node("10.0.0.0/24", cfg, "m5.large");
    let a = cni.assign_pod(0, 1, S).unwrap();
    cni.release_pod(0, 1, 2 * S).unwrap();
    assert!(
        cni.assign_pod(0, 2, 2 * S + IP_COOLDOWN_NS).is_err(),
        "still cooling at exactly 30 s"
    );
    assert_eq!(cni.assign_pod(0, 2, 2 * S + IP_COOLDOWN_NS + 1).unwrap(), a);
}

#[test]
fn a_dry_subnet_fails_the_ec2_call_and_backs_off_for_two_minutes() {
    // /27: 32 − 5 = 27 usable; the node takes 1, its primary ENI 9 secondary IPs, a second ENI
    // 1 + 9, a third ENI needs 10 but only 7 are left.
    let mut cni = one_node("10.0.0.0/27", IpamdConfig::default(), "m5.large");
    let mut t = 0;
    let mut pod = 0;
    while t < 600 * S {
        while cni.assign_pod(0, pod, t).is_ok() {
            pod += 1;
        }
        t = cni.next_wakeup(0).unwrap();
        cni.reconcile(0, t);
    }
    let calls = cni.ec2_calls();
    assert_eq!(pod, 18);
    assert!(calls.insufficient_free_addresses >= 1, "{calls:?}");
    // One failed CreateNetworkInterface per 120 s cooldown, not one per 5 s tick.
    assert!(calls.insufficient_free_addresses <= 6, "{calls:?}");
    assert_eq!(cni.subnets().available(0), 7);
    cni.check_invariants();
}

#[test]
fn custom_networking_keeps_pods_off_the_primary_eni() {
    let subnets = Subnets::new(vec![
        SubnetSpec {
            name: "node".into(),
            cidr: "10.0.0.0/24".parse().unwrap(),
            az: "az-a".into(),
            cni_discovery_tag: false,
        },
        SubnetSpec {
            name: "pods".into(),
            cidr: "100.64.0.0/24".parse().unwrap(),
            az: "az-a".into(),
            cni_discovery_tag: false,
        },
    ])
    .unwrap();
    let cfg = IpamdConfig {
        eni_configs: Some(vec![config::EniConfig {
            az: "az-a".into(),
            subnet: "pods".into(),
            security_groups: vec![],
        }]),
        ..IpamdConfig::default()
    };
    let mut cni = VpcCni::new(cfg, subnets).unwrap();
    let join = NodeJoin {
        node: 0,
        name: "n0",
        instance: ty("m5.large"),
        primary_ip: Ipv4Addr::new(10, 0, 0, 4),
        subnet: "10.0.0.0/24".parse().unwrap(),
    };
    let addressing = cni.add_node(&join, 0).unwrap();
    assert_eq!(addressing.address_capacity, 2 * 9);
    assert_eq!(cni.node(0).unwrap().limits().max_pods, 20);
    assert!(
        cni.assign_pod(0, 0, 0).is_err(),
        "nothing before the ENIConfig ENI attaches"
    );
    cni.reconcile(0, ENI_ATTACH_LATENCY_NS);
    let addr = cni.assign_pod(0, 0, ENI_ATTACH_LATENCY_NS).unwrap();
    assert_eq!(addr.octets()[..2], [100, 64]);
    cni.check_invariants();
}

#[test]
fn branch_pods_take_their_own_eni_and_count_against_max_pods() {
    let cfg = IpamdConfig {
        pod_eni: true,
        max_pods: Some(12),
        ..IpamdConfig::default()
    };
    let mut cni = one_node("10.0.0.0/24", cfg, "m5.large");
    let node = cni.node(0).unwrap();
    assert!(node.enis.iter().any(|e| e.trunk));
    assert_eq!(node.limits().branch_enis, 9);
    for pod in 0..9 {
        cni.assign_branch_pod(0, pod, S).unwrap();
    }
    assert!(matches!(
        cni.assign_branch_pod(0, 9, S),
        Err(IpamError::Exhausted { .. })
    ));
    for pod in 10..13 {
        cni.assign_pod(0, pod, S).unwrap();
    }
    assert!(
        matches!(cni.assign_pod(0, 13, S), Err(IpamError::Invalid { .. })),
        "max pods reached"
    );
    assert_eq!(cni.assigned_on(0), 12);
    cni.release_pod(0, 3, 2 * S).unwrap();
    cni.check_invariants();
}

/// Terminating a node gives every address back: its ENIs' own, their secondary IPs (cooling
/// ones included), an ENI still attaching, branch ENIs; the EC2 totals keep its calls.
#[test]
fn a_node_that_leaves_returns_every_address_to_the_subnet() {
    for pod_eni in [false, true] {
        let cfg = IpamdConfig {
            pod_eni,
            ..IpamdConfig::default()
        };
        let mut cni = one_node("10.0.0.0/24", cfg, "m5.large");
        let before = cni.subnets().in_use(0);
        assert!(before > 1, "the primary ENI and its warm IPs");
        for pod in 0..9 {
            if cni.assign_pod(0, pod, S).is_err() {
                break;
            }
        }
        if pod_eni {
            cni.assign_branch_pod(0, 20, S).unwrap();
        }
        cni.release_pod(0, 0, 2 * S).unwrap();
        // The pool runs low: ipamd starts attaching another ENI, which holds addresses already.
        let tick = cni.next_wakeup(0).unwrap();
        cni.reconcile(0, tick);
        assert!(cni.node(0).unwrap().pending.is_some(), "an ENI attaching");
        let held = cni.subnets().in_use(0);
        let calls = cni.ec2_calls();
        cni.check_invariants();
        let gone = cni.remove_node(0, tick + 1).unwrap();
        assert_eq!(gone.addresses_released, held, "pod_eni {pod_eni}");
        assert_eq!(gone.pods_dropped, 8 + u32::from(pod_eni));
        assert_eq!(cni.subnets().in_use(0), 0);
        assert!(cni.node(0).is_none());
        assert_eq!(cni.next_wakeup(0), None);
        assert_eq!(cni.assigned_on(0), 0);
        assert_eq!(
            cni.ec2_calls(),
            calls,
            "termination makes no ipamd call; the totals keep the node's"
        );
        assert!(matches!(cni.remove_node(0, tick + 2), Err(IpamError::Invalid { .. })));
        cni.check_invariants();
    }
}

/// docs/prefix-and-ip-target.md, p3dn.24xlarge with WARM_PREFIX_TARGET=1: the prefix counts
/// (1, 2, 7) match; the doc's extra empty ENIs (2 at 3 pods, 3 at 95) do not follow from ipamd's
/// code, which adds an ENI only when no existing ENI has room for a prefix.
#[test]
fn prefix_doc_table_p3dn_prefix_counts() {
    let cfg = IpamdConfig {
        prefix_delegation: true,
        warm_prefix_target: 1,
        ..IpamdConfig::default()
    };
    let t = pool_timeline(ty("p3dn.24xlarge"), &cfg, &[0, 3, 95], 120 * S);
    let got: Vec<_> = settled(&t.rows, 3)
        .iter()
        .map(|r| (r.pods_running, r.enis, r.slots, r.warm))
        .collect();
    assert_eq!(got, vec![(0, 1, 1, 16), (3, 1, 2, 29), (95, 1, 7, 17)]);
}
