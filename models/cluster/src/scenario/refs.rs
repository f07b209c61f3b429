//! References between scenario objects: `NAMESPACE/NAME` for pods and workloads and
//! `NAMESPACE/NAME:PORT` for flow targets. One resolver, used by validation and by the world.

use super::format::{Protocol, Scenario, Workload};

/// A set of pods a reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodSet {
    /// Every pod of workload `index`.
    Workload(usize),
    /// Pod `replica` of workload `workload` (named `NAME-replica`).
    Pod { workload: usize, replica: u32 },
}

impl PodSet {
    pub fn workload(self) -> usize {
        match self {
            PodSet::Workload(w) | PodSet::Pod { workload: w, .. } => w,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    /// A container port name, resolved against the target's ports.
    Name(String),
}

/// A resolution failure: what is wrong and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefError {
    pub message: String,
    pub valid: String,
}

/// Resolves `NAMESPACE/NAME`: a workload name, or a pod name `WORKLOAD-N`.
pub fn pod_set(s: &Scenario, text: &str) -> Result<PodSet, RefError> {
    pod_set_within(s, text, |w| s.workloads[w].replicas)
}

/// As [`pod_set`], with workload `w`'s pods numbered below `replicas(w)` (a run's largest
/// count, with scale events, rather than the declared one).
pub fn pod_set_within(s: &Scenario, text: &str, replicas: impl Fn(usize) -> u32) -> Result<PodSet, RefError> {
    let (ns, name) = text.split_once('/').ok_or_else(|| RefError {
        message: format!("{text:?} is not NAMESPACE/NAME"),
        valid: "NAMESPACE/WORKLOAD or NAMESPACE/POD, e.g. \"shop/frontend\" or \"shop/frontend-0\"".into(),
    })?;
    let in_ns: Vec<(usize, &Workload)> = s
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| w.namespace == ns)
        .collect();
    if let Some((i, _)) = in_ns.iter().find(|(_, w)| w.name == name) {
        return Ok(PodSet::Workload(*i));
    }
    if let Some((base, replica)) = name.rsplit_once('-') {
        if let Ok(replica) = replica.parse::<u32>() {
            if let Some(&(i, _)) = in_ns.iter().find(|(_, w)| w.name == base) {
                let n = replicas(i);
                if replica < n {
                    return Ok(PodSet::Pod { workload: i, replica });
                }
                return Err(RefError {
                    message: format!("{text:?}: workload {ns}/{base} has {n} replicas"),
                    valid: format!("{ns}/{base}-0 .. {ns}/{base}-{}", n.saturating_sub(1)),
                });
            }
        }
    }
    let names: Vec<String> = in_ns.iter().map(|(_, w)| format!("{ns}/{}", w.name)).collect();
    let valid = if names.is_empty() {
        let all: Vec<String> = s
            .workloads
            .iter()
            .map(|w| format!("{}/{}", w.namespace, w.name))
            .collect();
        super::diag::one_of(&all)
    } else {
        super::diag::one_of(&names)
    };
    Err(RefError {
        message: format!("no workload or pod {text:?}"),
        valid,
    })
}

/// What a flow sends to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Pods(PodSet, PortRef),
    /// Service index into `services` (after generator expansion) and its port.
    Service {
        service: usize,
        port: usize,
    },
    /// An address beyond the VPC (`IP:PORT`), reached through a NAT or internet gateway.
    External(std::net::SocketAddrV4),
}

/// Resolves a flow target: `NAMESPACE/svc/NAME:PORT`, `NAMESPACE/NAME:PORT`, or `IP:PORT` for
/// a destination outside the VPC. (Namespace names never hold dots, so an address is never
/// mistaken for a workload.)
pub fn flow_target(s: &Scenario, text: &str) -> Result<Target, RefError> {
    if let Ok(addr) = text.parse::<std::net::SocketAddrV4>() {
        return Ok(Target::External(addr));
    }
    let Some((ns, rest)) = text.split_once("/svc/") else {
        return target(s, text).map(|(set, port)| Target::Pods(set, port));
    };
    let (name, port) = rest.rsplit_once(':').ok_or_else(|| RefError {
        message: format!("{text:?} has no port"),
        valid: "NAMESPACE/svc/NAME:PORT, PORT the Service's port number or name".into(),
    })?;
    let Some(si) = s.services.iter().position(|x| x.namespace == ns && x.name == name) else {
        let names: Vec<String> = s
            .services
            .iter()
            .filter(|x| x.namespace == ns)
            .take(20)
            .map(|x| format!("{ns}/svc/{}", x.name))
            .collect();
        return Err(RefError {
            message: format!("no Service {ns}/{name}"),
            valid: super::diag::one_of(&names),
        });
    };
    let svc = &s.services[si];
    let pi = svc
        .ports
        .iter()
        .position(|p| p.name.as_deref() == Some(port) || port.parse::<u16>() == Ok(p.port));
    match pi {
        Some(port) => Ok(Target::Service { service: si, port }),
        None => {
            let ports: Vec<String> = svc
                .ports
                .iter()
                .map(|p| match &p.name {
                    Some(n) => format!("{} ({n})", p.port),
                    None => p.port.to_string(),
                })
                .collect();
            Err(RefError {
                message: format!("Service {ns}/{name} has no port {port:?}"),
                valid: super::diag::one_of(&ports),
            })
        }
    }
}

/// Resolves `NAMESPACE/NAME:PORT`.
pub fn target(s: &Scenario, text: &str) -> Result<(PodSet, PortRef), RefError> {
    let (who, port) = text.rsplit_once(':').ok_or_else(|| RefError {
        message: format!("{text:?} has no port"),
        valid: "NAMESPACE/NAME:PORT, PORT a number or a container port name, e.g. \"shop/backend:8080\" or \"shop/backend:http\"".into(),
    })?;
    let set = pod_set(s, who)?;
    let port = match port.parse::<u16>() {
        Ok(0) => {
            return Err(RefError {
                message: "port 0".into(),
                valid: "a port from 1 to 65535".into(),
            });
        }
        Ok(n) => PortRef::Number(n),
        Err(_) if !port.is_empty() => PortRef::Name(port.to_string()),
        Err(_) => {
            return Err(RefError {
                message: format!("{text:?} has an empty port"),
                valid: "a port from 1 to 65535 or a port name".into(),
            })
        }
    };
    Ok((set, port))
}

/// The destination port number for `port` on `workload`'s pods, speaking `protocol`.
pub fn resolve_port(workload: &Workload, port: &PortRef, protocol: Protocol) -> Result<u16, RefError> {
    match port {
        PortRef::Number(n) => Ok(*n),
        PortRef::Name(name) => workload
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol == protocol)
            .map(|p| p.port)
            .ok_or_else(|| {
                let named: Vec<String> = workload
                    .ports
                    .iter()
                    .filter_map(|p| p.name.as_ref().map(|n| format!("{n} ({:?} {})", p.protocol, p.port)))
                    .collect();
                RefError {
                    message: format!(
                        "{}/{} has no {protocol:?} port named {name:?}",
                        workload.namespace, workload.name
                    ),
                    valid: super::diag::one_of(&named),
                }
            }),
    }
}

/// Subnet indices (into `vpc.subnets`) a node group's nodes go in, round-robin in this order:
/// the group's `subnets`, else every Private subnet. Unknown names are skipped (validation
/// reports them).
pub fn group_subnets(s: &Scenario, group: &super::format::NodeGroup) -> Vec<usize> {
    if group.subnets.is_empty() {
        (0..s.vpc.subnets.len())
            .filter(|&i| s.vpc.subnets[i].kind == super::format::SubnetKind::Private)
            .collect()
    } else {
        group
            .subnets
            .iter()
            .filter_map(|n| s.vpc.subnets.iter().position(|x| &x.name == n))
            .collect()
    }
}

/// Addresses AWS lets instances use in a subnet: all but the first four and the last.
pub fn usable_addresses(cidr: &ipnet::Ipv4Net) -> u64 {
    (1u64 << (32 - u32::from(cidr.prefix_len()))).saturating_sub(5)
}
