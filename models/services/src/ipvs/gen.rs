//! What kube-proxy's IPVS proxier asks of the kernel for one Service (`syncProxyRules`): a
//! virtual server per ClusterIP, external IP, load-balancer IP and node IP × NodePort, the real
//! servers `syncEndpoint` picks for each, and the ipset entries that go with them.

use super::ipset::{self as sets, Entry};
use super::table::{Dest, VsKey};
use crate::model::*;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// One virtual server as kube-proxy asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VsSpec {
    pub key: VsKey,
    pub service: u32,
    pub port: u32,
    pub persistent: Option<u32>,
    /// In kube-proxy's order of adding them ("ip:port" order).
    pub dests: Vec<Dest>,
}

/// What one Service asks for: virtual servers with their real servers, and ipset entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frag {
    pub vs: Vec<VsSpec>,
    pub entries: Vec<(&'static str, Entry)>,
}

pub fn service_frag(set: &ServiceSet, s: usize, node: &NodeView) -> Frag {
    let mut f = Frag::default();
    let svc = &set.services[s];
    let Some(cip) = svc.cluster_ip else {
        return f;
    };
    let node_ips: Vec<Ipv4Addr> = node.node_ips.iter().copied().filter(|ip| !ip.is_loopback()).collect();
    for (p, port) in svc.ports.iter().enumerate() {
        let eps = &set.endpoints[s][p];
        let cat = set.categorize(s, p, &node.name);
        // Positions are in ip:port order, so the real servers are too (`VsSpec::dests`).
        let (cluster, local) = (cat.indices(&cat.cluster), cat.indices(&cat.local));
        let proto = port.protocol;
        let dests = |list: &[usize]| -> Vec<Dest> {
            list.iter()
                .map(|&i| Dest {
                    ip: eps[i].ip,
                    port: eps[i].port,
                    index: i as u32,
                })
                .collect()
        };
        // syncEndpoint: node-local only when asked and there are local endpoints; otherwise
        // the cluster endpoints (so pods still reach a Local service without a local endpoint).
        let pick = |only_local: bool| {
            if only_local && !local.is_empty() {
                dests(&local)
            } else {
                dests(&cluster)
            }
        };
        let spec = |addr: Ipv4Addr, port_no: u16, only_local: bool| VsSpec {
            key: VsKey {
                proto,
                addr,
                port: port_no,
            },
            service: s as u32,
            port: p as u32,
            persistent: svc.session_affinity_seconds,
            dests: pick(only_local),
        };
        let mut seen = BTreeSet::new();
        for e in eps {
            // KUBE-LOOP-BACK: every endpoint on this node, once per ip:port.
            if e.node == node.name && seen.insert((e.ip, e.port)) {
                let entry = Entry::IpPortIp(e.ip, proto, e.port, e.ip);
                f.entries.push((sets::LOOP_BACK, entry));
            }
        }
        let itp_local = svc.internal_policy_local();
        let etp_local = svc.external_policy_local();
        f.entries.push((sets::CLUSTER_IP, Entry::IpPort(cip, proto, port.port)));
        f.entries.push((sets::IPVS_IPS, Entry::Ip(cip)));
        f.vs.push(spec(cip, port.port, itp_local));
        for &eip in &svc.external_ips {
            let set = if etp_local {
                sets::EXTERNAL_IP_LOCAL
            } else {
                sets::EXTERNAL_IP
            };
            f.entries.push((set, Entry::IpPort(eip, proto, port.port)));
            // Not bound on kube-ipvs0 when the node already has the address.
            if !node.node_ips.contains(&eip) {
                f.entries.push((sets::IPVS_IPS, Entry::Ip(eip)));
            }
            f.vs.push(spec(eip, port.port, etp_local));
        }
        let lb_ips: &[Ipv4Addr] = if svc.kind == ServiceType::LoadBalancer {
            &svc.load_balancer_ips
        } else {
            &[]
        };
        for &lb in lb_ips {
            let e = Entry::IpPort(lb, proto, port.port);
            f.entries.push((sets::LOAD_BALANCER, e));
            if etp_local {
                f.entries.push((sets::LOAD_BALANCER_LOCAL, e));
            }
            let ranges = &svc.load_balancer_source_ranges;
            if !ranges.is_empty() {
                f.entries.push((sets::LOAD_BALANCER_FW, e));
                for &net in ranges {
                    let e = Entry::IpPortNet(lb, proto, port.port, net);
                    f.entries.push((sets::LB_SOURCE_CIDR, e));
                }
                let node_ip = node.node_ips.first();
                if ranges.iter().any(|n| node_ip.is_some_and(|ip| n.contains(ip))) {
                    let e = Entry::IpPortIp(lb, proto, port.port, lb);
                    f.entries.push((sets::LB_SOURCE_IP, e));
                }
            }
            if !node.node_ips.contains(&lb) {
                f.entries.push((sets::IPVS_IPS, Entry::Ip(lb)));
            }
            f.vs.push(spec(lb, port.port, etp_local));
        }
        if let Some(np) = port.node_port.filter(|&n| n != 0) {
            let (all, local) = match proto {
                Protocol::Tcp => (sets::NODE_PORT_TCP, sets::NODE_PORT_LOCAL_TCP),
                Protocol::Udp => (sets::NODE_PORT_UDP, sets::NODE_PORT_LOCAL_UDP),
                Protocol::Sctp => (sets::NODE_PORT_SCTP, sets::NODE_PORT_LOCAL_SCTP),
            };
            let entries: Vec<Entry> = if proto == Protocol::Sctp {
                node_ips.iter().map(|&ip| Entry::IpPort(ip, proto, np)).collect()
            } else {
                vec![Entry::Port(np)]
            };
            for e in entries {
                f.entries.push((all, e));
                if etp_local {
                    f.entries.push((local, e));
                }
            }
            for &ip in &node_ips {
                f.vs.push(spec(ip, np, etp_local));
            }
        }
    }
    f
}
