//! A large, plausible cluster for benches and scale tests: many namespaces of labelled apps,
//! each with the policies teams usually write (default deny, allow from the frontend, DNS
//! egress, database egress by CIDR, named ports, port ranges, matchExpressions), plus a few
//! cluster-wide Admin and Baseline policies. Deterministic: the same `Scale` gives the same case.

use super::Case;
use crate::tiers::*;
use crate::types::*;
use crate::verdict::EvalOptions;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub namespaces: usize,
    pub pods_per_namespace: usize,
    pub policies_per_namespace: usize,
    pub pods_per_node: usize,
}

impl Scale {
    /// DESIGN.md's target: 150,000 pods and 10,000 NetworkPolicies (on 5,000 nodes).
    pub const TARGET: Scale = Scale {
        namespaces: 1000,
        pods_per_namespace: 150,
        policies_per_namespace: 10,
        pods_per_node: 30,
    };
}

const APPS: usize = 15;
const TIERS: [&str; 3] = ["web", "api", "db"];
const TEAMS: usize = 20;
const ENVS: [&str; 3] = ["prod", "staging", "dev"];

fn labels(pairs: &[(&str, String)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn sel(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector::labels(pairs)
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(Protocol::Tcp),
        port: Some(IntOrString::Int(port)),
        end_port: None,
    }
}

fn peer_ns(s: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(s),
        ..NetworkPolicyPeer::default()
    }
}

fn peer_pods(s: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(s),
        ..NetworkPolicyPeer::default()
    }
}

/// The `k`-th policy of namespace `ns` (k < policies_per_namespace; the kinds repeat).
fn policy(ns: &str, n: usize, k: usize) -> NetworkPolicy {
    let app = |i: usize| format!("app-{}", (n + i) % APPS);
    let mut p = NetworkPolicy {
        namespace: ns.to_string(),
        name: format!("np-{k}"),
        ..NetworkPolicy::default()
    };
    match k % 10 {
        0 => p.policy_types = Some(vec![PolicyType::Ingress]), // default deny ingress
        1 => {
            p.pod_selector = sel(&[("app", &app(k))]);
            p.ingress = vec![NetworkPolicyRule {
                peers: vec![peer_pods(sel(&[("app", &app(k + 1))]))],
                ports: vec![tcp(8080)],
            }];
        }
        2 => {
            p.pod_selector = sel(&[("tier", "web")]);
            let team = format!("team-{}", n % TEAMS);
            let from = NetworkPolicyPeer {
                namespace_selector: Some(sel(&[("team", &team)])),
                pod_selector: Some(sel(&[("tier", "web")])),
                ip_block: None,
            };
            p.ingress = vec![NetworkPolicyRule {
                peers: vec![from],
                ports: vec![tcp(80), tcp(443)],
            }];
        }
        3 => {
            p.pod_selector = sel(&[("tier", "db")]);
            p.policy_types = Some(vec![PolicyType::Egress]);
            let block = IpBlock {
                cidr: "10.0.0.0/8".parse().expect("cidr"),
                except: vec!["10.0.0.0/16".parse().expect("cidr")],
            };
            let to = NetworkPolicyPeer {
                ip_block: Some(block),
                ..NetworkPolicyPeer::default()
            };
            p.egress = vec![NetworkPolicyRule {
                peers: vec![to],
                ports: vec![tcp(5432)],
            }];
        }
        4 => {
            p.policy_types = Some(vec![PolicyType::Egress]);
            let dns = NetworkPolicyRule {
                peers: vec![peer_ns(sel(&[(NAMESPACE_NAME_LABEL, "ns-0")]))],
                ports: vec![
                    NetworkPolicyPort {
                        protocol: Some(Protocol::Udp),
                        port: Some(IntOrString::Int(53)),
                        end_port: None,
                    },
                    tcp(53),
                ],
            };
            let all_ns = NetworkPolicyRule {
                peers: vec![peer_ns(LabelSelector::everything())],
                ports: vec![],
            };
            p.egress = vec![dns, all_ns];
        }
        5 => {
            p.pod_selector = sel(&[("app", &app(k))]);
            let named = NetworkPolicyPort {
                protocol: None,
                port: Some(IntOrString::String("http".into())),
                end_port: None,
            };
            p.ingress = vec![NetworkPolicyRule {
                peers: vec![peer_ns(sel(&[("env", "prod")]))],
                ports: vec![named],
            }];
        }
        6 => {
            p.pod_selector = LabelSelector {
                match_labels: Labels::new(),
                match_expressions: vec![
                    LabelSelectorRequirement {
                        key: "tier".into(),
                        operator: SelectorOperator::In,
                        values: vec!["api".into(), "db".into()],
                    },
                    LabelSelectorRequirement {
                        key: "canary".into(),
                        operator: SelectorOperator::DoesNotExist,
                        values: vec![],
                    },
                ],
            };
            let not_dev = LabelSelector {
                match_labels: Labels::new(),
                match_expressions: vec![LabelSelectorRequirement {
                    key: "env".into(),
                    operator: SelectorOperator::NotIn,
                    values: vec!["dev".into()],
                }],
            };
            p.ingress = vec![NetworkPolicyRule {
                peers: vec![peer_ns(not_dev)],
                ports: vec![tcp(9090)],
            }];
        }
        7 => {
            p.pod_selector = sel(&[("app", &app(k))]);
            let range = NetworkPolicyPort {
                protocol: None,
                port: Some(IntOrString::Int(30000)),
                end_port: Some(32767),
            };
            p.ingress = vec![NetworkPolicyRule {
                peers: vec![],
                ports: vec![range],
            }];
        }
        _ => {
            p.pod_selector = sel(&[("app", &app(k))]);
            let peers = vec![
                peer_pods(sel(&[("app", &app(k + 2))])),
                peer_pods(sel(&[("tier", "api")])),
            ];
            p.ingress = vec![NetworkPolicyRule {
                peers,
                ports: vec![tcp(8080), tcp(9090)],
            }];
        }
    }
    p
}

fn cluster_policies() -> Vec<ClusterNetworkPolicy> {
    let all = ClusterSubject::Namespaces(LabelSelector::everything());
    let rule = |name: &str, action, peers| ClusterRule {
        name: name.into(),
        action,
        peers,
        ports: vec![],
    };
    vec![
        ClusterNetworkPolicy {
            kind: ClusterPolicyKind::ClusterNetworkPolicy,
            name: "pass-monitoring".into(),
            tier: Tier::Admin,
            priority: 10,
            subject: all.clone(),
            ingress: vec![rule(
                "monitoring",
                ClusterAction::Pass,
                vec![ClusterPeer::Namespaces(sel(&[("team", "team-0")]))],
            )],
            egress: vec![],
        },
        ClusterNetworkPolicy {
            kind: ClusterPolicyKind::ClusterNetworkPolicy,
            name: "deny-metadata".into(),
            tier: Tier::Admin,
            priority: 20,
            subject: all.clone(),
            ingress: vec![],
            egress: vec![rule(
                "imds",
                ClusterAction::Deny,
                vec![ClusterPeer::Networks(vec!["169.254.169.254/32".parse().expect("cidr")])],
            )],
        },
        ClusterNetworkPolicy {
            kind: ClusterPolicyKind::ClusterNetworkPolicy,
            name: "baseline-dev-isolation".into(),
            tier: Tier::Baseline,
            priority: 0,
            subject: ClusterSubject::Namespaces(sel(&[("env", "dev")])),
            ingress: vec![rule(
                "not-from-prod",
                ClusterAction::Deny,
                vec![ClusterPeer::Namespaces(sel(&[("env", "prod")]))],
            )],
            egress: vec![],
        },
    ]
}

/// The cluster, policies and default options of `scale`; no queries.
pub fn scale_case(scale: Scale) -> Case {
    let mut cluster = Cluster::default();
    let nodes = (scale.namespaces * scale.pods_per_namespace).div_ceil(scale.pods_per_node.max(1));
    for i in 0..nodes {
        let ip = IpAddr::from([192, 168, (i >> 8) as u8, (i & 255) as u8]);
        cluster.nodes.push(Node {
            name: format!("node-{i}"),
            labels: Labels::new(),
            ips: vec![ip],
        });
    }
    let mut policies = PolicySet::default();
    for n in 0..scale.namespaces {
        let name = format!("ns-{n}");
        let ns_labels = labels(&[
            ("team", format!("team-{}", n % TEAMS)),
            ("env", ENVS[n % ENVS.len()].to_string()),
        ]);
        cluster.namespaces.push(Namespace::new(&name, ns_labels));
        for j in 0..scale.pods_per_namespace {
            let i = cluster.pods.len();
            let node = i / scale.pods_per_node.max(1);
            let mut pod_labels = labels(&[
                ("app", format!("app-{}", j % APPS)),
                ("tier", TIERS[j % TIERS.len()].to_string()),
                ("version", format!("v{}", j % 2)),
            ]);
            if j % 17 == 0 {
                pod_labels.insert("canary".into(), "true".into());
            }
            let n = i + 1 + 65536; // skip 10.0.0.0/16, which policy kind 3 excepts
            cluster.pods.push(Pod {
                namespace: name.clone(),
                name: format!("pod-{j}"),
                labels: pod_labels,
                ips: vec![IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8])],
                node_name: format!("node-{node}"),
                host_ips: cluster.nodes[node].ips.clone(),
                host_network: false,
                container_ports: vec![
                    ContainerPort {
                        name: "http".into(),
                        container_port: 8080,
                        protocol: Protocol::Tcp,
                    },
                    ContainerPort {
                        name: "metrics".into(),
                        container_port: 9090,
                        protocol: Protocol::Tcp,
                    },
                ],
            });
        }
        for k in 0..scale.policies_per_namespace {
            policies.network_policies.push(policy(&name, n, k));
        }
    }
    policies.cluster_policies = cluster_policies();
    Case {
        cluster,
        policies,
        options: EvalOptions::default(),
        queries: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::differential;
    use crate::verdict::{Connection, Endpoint, PolicyEngine};
    use crate::Compiled;

    #[test]
    fn a_small_scale_case_has_both_verdicts_and_engines_agree() {
        let case = scale_case(Scale {
            namespaces: 6,
            pods_per_namespace: 12,
            policies_per_namespace: 10,
            pods_per_node: 5,
        });
        assert_eq!(case.cluster.pods.len(), 72);
        assert_eq!(case.policies.network_policies.len(), 60);
        differential(&case).expect("compiled = reference");
        let compiled = Compiled::build(&case.cluster, &case.policies, case.options);
        let pods = case.cluster.pods.len() as u32;
        let allowed = (0..pods * pods)
            .filter(|i| {
                let (src, dst) = (Endpoint::Pod(PodId(i / pods)), Endpoint::Pod(PodId(i % pods)));
                compiled.is_allowed(&Connection {
                    src,
                    dst,
                    protocol: Protocol::Tcp,
                    port: 8080,
                })
            })
            .count();
        assert!(
            allowed > 0 && allowed < (pods * pods) as usize,
            "{allowed} of {} allowed",
            pods * pods
        );
    }
}
