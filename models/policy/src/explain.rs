//! `Explanation`: a verdict with names instead of indices, for `cnsim policy check`, its JSON,
//! and anyone reading a trace. `Display` gives the one-line form.

use crate::tiers::{ClusterAction, ClusterPolicyKind, PolicySet, Tier};
use crate::types::{Cluster, Direction, Protocol};
use crate::verdict::{Connection, Decision, DirectionVerdict, Endpoint, RuleRef, Verdict};
use serde::Serialize;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub allowed: bool,
    /// `namespace/pod`, or an address.
    pub src: String,
    pub dst: String,
    pub protocol: Protocol,
    pub port: u16,
    pub egress: DirectionExplanation,
    pub ingress: DirectionExplanation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectionExplanation {
    pub direction: Direction,
    /// The end where this direction is enforced.
    pub at: String,
    pub allowed: bool,
    pub decision: NamedDecision,
    pub passed_by: Option<NamedRule>,
}

/// A cluster policy rule by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedRule {
    pub kind: ClusterPolicyKind,
    pub tier: Tier,
    pub policy: String,
    pub priority: i32,
    pub direction: Direction,
    pub rule: u32,
    pub rule_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NamedDecision {
    NotAPod,
    Tier {
        rule: NamedRule,
        action: ClusterAction,
    },
    SelfTraffic,
    OwnNode,
    Allowed {
        namespace: String,
        policy: String,
        direction: Direction,
        rule: u32,
        peer: Option<u32>,
        port: Option<u32>,
    },
    /// `namespace/name` of every policy that isolates the pod in this direction.
    Isolated {
        policies: Vec<String>,
    },
    DefaultAllow,
}

fn endpoint_name(cluster: &Cluster, e: Endpoint) -> String {
    match e {
        Endpoint::Ip(ip) => ip.to_string(),
        Endpoint::Pod(id) => {
            let p = cluster.pod(id);
            if p.host_network {
                format!("{}/{} (hostNetwork)", p.namespace, p.name)
            } else {
                format!("{}/{}", p.namespace, p.name)
            }
        }
    }
}

fn named_rule(policies: &PolicySet, r: RuleRef, direction: Direction) -> NamedRule {
    let p = policies.cluster_policy(r.policy);
    NamedRule {
        kind: p.kind,
        tier: p.tier,
        policy: p.name.clone(),
        priority: p.priority,
        direction,
        rule: r.rule,
        rule_name: p
            .rules(direction)
            .get(r.rule as usize)
            .map(|x| x.name.clone())
            .unwrap_or_default(),
    }
}

fn direction(policies: &PolicySet, d: Direction, at: String, v: &DirectionVerdict) -> DirectionExplanation {
    let decision = match &v.decision {
        Decision::NotAPod => NamedDecision::NotAPod,
        Decision::Tier { rule, action, .. } => NamedDecision::Tier {
            rule: named_rule(policies, *rule, d),
            action: *action,
        },
        Decision::SelfTraffic => NamedDecision::SelfTraffic,
        Decision::OwnNode => NamedDecision::OwnNode,
        Decision::Allowed {
            policy,
            rule,
            peer,
            port,
        } => {
            let np = policies.network_policy(*policy);
            NamedDecision::Allowed {
                namespace: np.namespace.clone(),
                policy: np.name.clone(),
                direction: d,
                rule: *rule,
                peer: *peer,
                port: *port,
            }
        }
        Decision::Isolated { policies: ids } => NamedDecision::Isolated {
            policies: ids
                .iter()
                .map(|&id| {
                    let np = policies.network_policy(id);
                    format!("{}/{}", np.namespace, np.name)
                })
                .collect(),
        },
        Decision::DefaultAllow => NamedDecision::DefaultAllow,
    };
    DirectionExplanation {
        direction: d,
        at,
        allowed: v.allowed,
        decision,
        passed_by: v.passed_by.map(|r| named_rule(policies, r, d)),
    }
}

impl Verdict {
    /// Names everything the verdict refers to by index.
    pub fn explain(&self, cluster: &Cluster, policies: &PolicySet, conn: &Connection) -> Explanation {
        let (src, dst) = (endpoint_name(cluster, conn.src), endpoint_name(cluster, conn.dst));
        Explanation {
            allowed: self.allowed,
            egress: direction(policies, Direction::Egress, src.clone(), &self.egress),
            ingress: direction(policies, Direction::Ingress, dst.clone(), &self.ingress),
            src,
            dst,
            protocol: conn.protocol,
            port: conn.port,
        }
    }
}

impl fmt::Display for NamedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} (tier {:?}, priority {}) {} rule {}",
            self.kind, self.policy, self.tier, self.priority, self.direction, self.rule
        )?;
        if !self.rule_name.is_empty() {
            write!(f, " {:?}", self.rule_name)?;
        }
        Ok(())
    }
}

fn index(i: Option<u32>, what: &str) -> String {
    match i {
        Some(i) => format!("{what} {i}"),
        None => format!("any {what}"),
    }
}

impl fmt::Display for DirectionExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: ", self.direction, self.at)?;
        match &self.decision {
            NamedDecision::NotAPod => write!(f, "not a selectable pod, nothing enforced")?,
            NamedDecision::Tier { rule, action } => {
                let verb = match action {
                    ClusterAction::Accept => "accepted",
                    ClusterAction::Deny => "DENIED",
                    ClusterAction::Pass => "passed to the default (allow)",
                };
                write!(f, "{verb} by {rule}")?;
            }
            NamedDecision::SelfTraffic => write!(f, "allowed: a pod reaching itself")?,
            NamedDecision::OwnNode => write!(f, "allowed: traffic with the pod's own node")?,
            NamedDecision::Allowed {
                namespace,
                policy,
                direction,
                rule,
                peer,
                port,
            } => write!(
                f,
                "allowed by NetworkPolicy {namespace}/{policy} {direction} rule {rule} ({}, {})",
                index(*peer, "peer"),
                index(*port, "port")
            )?,
            NamedDecision::Isolated { policies } => {
                write!(f, "DENIED: isolated by {} and no rule allows it", policies.join(", "))?
            }
            NamedDecision::DefaultAllow => write!(f, "not isolated, default allow")?,
        }
        if let Some(rule) = &self.passed_by {
            write!(f, " [after Pass by {rule}]")?;
        }
        Ok(())
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "ALLOWED" } else { "DENIED" };
        write!(
            f,
            "{verdict} {} -> {} {}/{}: {}; {}",
            self.src, self.dst, self.protocol, self.port, self.egress, self.ingress
        )
    }
}
