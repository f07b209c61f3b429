//! The rules of one service port: its entries in KUBE-SERVICES / KUBE-NODEPORTS and the
//! filter chains (always written), and its own KUBE-SVC / SVL / EXT / FW / SEP chains (written
//! only when the service changed, on a partial sync). Follows the body of the per-service loop
//! of `syncProxyRules` and `writeServiceToEndpointRules`, statement for statement.
//!
//! Chains are created where kube-proxy's code first names them (their ids, and so the dump's
//! declaration order, follow that order); names and comments are written straight into the
//! table text, so a rule allocates nothing of its own.

use super::*;
use crate::iptables::build::RuleBuilder;
use crate::model::Service;

/// What the filter table does with traffic that has nowhere to go.
#[derive(Clone, Copy)]
struct NoEndpoint {
    /// A usable endpoint exists elsewhere: DROP ("has no local endpoints"), else REJECT.
    has_any: bool,
    reject: Cause,
    drop_local: Cause,
}

impl NoEndpoint {
    fn comment<'n>(&self, name: &'n str) -> impl std::fmt::Display + 'n {
        let local = if self.has_any { " local" } else { "" };
        display_with(move |f| write!(f, "\"{name} has no{local} endpoints\""))
    }

    fn finish(&self, b: RuleBuilder<'_>) {
        if self.has_any {
            b.drop(self.drop_local)
        } else {
            b.reject(self.reject)
        }
    }
}

/// A chain of this service port, created where kube-proxy's code first names it, then known
/// by id: its name is hashed once, and never looked up (`TableBuilder::new_chain`).
#[derive(Clone, Copy)]
struct Lazy {
    name: HashedName,
    id: Option<u32>,
}

impl Lazy {
    fn new(name: HashedName) -> Lazy {
        Lazy { name, id: None }
    }

    fn id(&mut self, t: &mut TableBuilder) -> u32 {
        let name = self.name;
        *self.id.get_or_insert_with(|| t.new_chain(&name))
    }

    fn declare(&mut self, t: &mut TableBuilder, owner: Owner) -> u32 {
        let id = self.id(t);
        t.declare_id(id, owner);
        id
    }
}

/// Positions of the per-port chains in `[Lazy; 4]`.
const SVC: usize = 0;
const SVL: usize = 1;
const EXT: usize = 2;
const FW: usize = 3;

/// Displays by calling the closure: a comment assembled at the moment it is written.
struct DisplayFn<F>(F);

impl<F: Fn(&mut std::fmt::Formatter<'_>) -> std::fmt::Result> std::fmt::Display for DisplayFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.0)(f)
    }
}

fn display_with<F: Fn(&mut std::fmt::Formatter<'_>) -> std::fmt::Result>(f: F) -> DisplayFn<F> {
    DisplayFn(f)
}

impl Gen<'_> {
    pub(super) fn service_port(&mut self, set: &ServiceSet, s: usize, p: usize, cat: &Categorized<'_>) {
        let svc = &set.services[s];
        let port = &svc.ports[p];
        let proto = port.protocol;
        let name = svc.port_name(p);
        let proto_l = proto.as_lower();
        let cip = svc.cluster_ip.expect("headless services are filtered out before");
        let chains = ServiceChains::new(&name, proto_l);
        let fw_name = chains.fw;
        let mut pc = [chains.svc, chains.svl, chains.ext, chains.fw].map(Lazy::new);
        // One hash per endpoint, shared by the SVC/SVL jumps and the SEP chain itself.
        let mut seps: Vec<Option<Lazy>> = vec![None; cat.endpoints.len()];
        for &i in &cat.reachable {
            seps[i] = Some(Lazy::new(endpoint_chain(&name, proto_l, cat.endpoints[i].key.as_str())));
        }
        let (si, pi) = (s as u32, p as u32);
        let owner = Some(si);

        let uses_cluster_chain = !cat.cluster.is_empty();
        let uses_local_chain = !cat.local.is_empty();
        let has_endpoints = cat.has_any;
        let itp_local = svc.internal_policy_local();
        let etp_local = svc.external_policy_local();
        let internal_chain = if itp_local { SVL } else { SVC };
        let has_internal = has_endpoints && !(itp_local && cat.local.is_empty());
        let external_policy_chain = if etp_local { SVL } else { SVC };
        let has_external = has_endpoints && !(etp_local && cat.local.is_empty());
        let uses_ext_chain = has_endpoints && svc.port_externally_accessible(p);
        let uses_fw = has_endpoints && !svc.load_balancer_ips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
        let lb_chain = if uses_fw { FW } else { EXT };

        let none = NoEndpoint {
            has_any: has_endpoints,
            reject: Cause::NoEndpoints { service: si, port: pi },
            drop_local: Cause::Dropped {
                service: si,
                port: pi,
                reason: DropReason::NoLocalEndpoints,
            },
        };
        let Fixed {
            nat_services,
            nat_nodeports,
            filter_services,
            filter_external,
            filter_firewall,
        } = self.fixed;

        // Capture the clusterIP.
        if has_internal {
            let id = pc[internal_chain].id(&mut self.nat);
            self.nat
                .rule(nat_services, None)
                .comment(Quoted(format_args!("{name} cluster IP")))
                .proto(proto)
                .dst(cip)
                .dport(port.port)
                .jump(id);
        } else {
            let b = self
                .filter
                .rule(filter_services, None)
                .comment(none.comment(&name))
                .proto(proto)
                .dst(cip)
                .dport(port.port);
            none.finish(b);
        }

        // Capture externalIPs.
        for &eip in &svc.external_ips {
            if has_endpoints {
                let id = pc[EXT].id(&mut self.nat);
                self.nat
                    .rule(nat_services, None)
                    .comment(Quoted(format_args!("{name} external IP")))
                    .proto(proto)
                    .dst(eip)
                    .dport(port.port)
                    .jump(id);
            }
            if !has_external {
                let b = self
                    .filter
                    .rule(filter_external, None)
                    .comment(none.comment(&name))
                    .proto(proto)
                    .dst(eip)
                    .dport(port.port);
                none.finish(b);
            }
        }

        // Capture load-balancer ingress.
        for &lb in &svc.load_balancer_ips {
            if has_endpoints {
                let id = pc[lb_chain].id(&mut self.nat);
                self.nat
                    .rule(nat_services, None)
                    .comment(Quoted(format_args!("{name} loadbalancer IP")))
                    .proto(proto)
                    .dst(lb)
                    .dport(port.port)
                    .jump(id);
            }
            if uses_fw {
                self.filter
                    .rule(filter_firewall, None)
                    .comment(Quoted(format_args!("{name} traffic not accepted by {fw_name}")))
                    .proto(proto)
                    .dst(lb)
                    .dport(port.port)
                    .drop(Cause::Dropped {
                        service: si,
                        port: pi,
                        reason: DropReason::SourceRangeDenied,
                    });
            }
        }
        if !has_external {
            for &lb in &svc.load_balancer_ips {
                let b = self
                    .filter
                    .rule(filter_external, None)
                    .comment(none.comment(&name))
                    .proto(proto)
                    .dst(lb)
                    .dport(port.port);
                none.finish(b);
            }
        }

        // Capture nodeports.
        if let Some(np) = port.node_port {
            if has_endpoints {
                let id = pc[EXT].id(&mut self.nat);
                if self.cfg.localhost_nodeports && self.cfg.nfacct {
                    self.nat
                        .rule(nat_nodeports, None)
                        .comment(&name)
                        .proto(proto)
                        .dst_net("127.0.0.0/8".parse().expect("constant"), false)
                        .dport(np)
                        .nfacct(LOCALHOST_NODEPORT_NFACCT)
                        .jump(id);
                }
                self.nat
                    .rule(nat_nodeports, None)
                    .comment(&name)
                    .proto(proto)
                    .dport(np)
                    .jump(id);
            }
            if !has_external {
                let b = self
                    .filter
                    .rule(filter_external, None)
                    .comment(none.comment(&name))
                    .dst_type_local()
                    .proto(proto)
                    .dport(np);
                none.finish(b);
            }
        }
        // healthCheckNodePort rules (filter KUBE-NODEPORTS ACCEPT) are not modelled: the
        // model has no such field.

        // Internal traffic handling: masquerade off-cluster sources to the VIP.
        if has_internal {
            let masquerade_from = if self.cfg.masquerade_all {
                Some(None)
            } else {
                self.node.cluster_cidr.map(|c| Some(c.trunc()))
            };
            if let Some(not_from) = masquerade_from {
                let chain = pc[internal_chain].id(&mut self.nat);
                let mut b = self
                    .nat
                    .rule(chain, owner)
                    .comment(Quoted(format_args!("{name} cluster IP")))
                    .proto(proto)
                    .dst(cip)
                    .dport(port.port);
                if let Some(cidr) = not_from {
                    b = b.src_net(cidr, true);
                }
                b.jump(self.masq_id);
            }
        }

        if uses_ext_chain {
            self.external_chain(&name, &mut pc, etp_local, has_external, external_policy_chain, owner);
        }
        if uses_fw {
            self.firewall_chain(svc, &name, &mut pc, owner);
        }
        if uses_cluster_chain {
            let chain = pc[SVC].declare(&mut self.nat, owner);
            self.endpoint_jumps(svc, &name, chain, cat, &mut seps, &cat.cluster, owner);
        }
        if uses_local_chain {
            let chain = pc[SVL].declare(&mut self.nat, owner);
            self.endpoint_jumps(svc, &name, chain, cat, &mut seps, &cat.local, owner);
        }
        let large = self.large;
        for &i in &cat.reachable {
            let e = &cat.endpoints[i];
            let sep = seps[i].as_mut().expect("reachable endpoints have a chain name");
            let sep_id = sep.declare(&mut self.nat, owner);
            self.nat
                .rule(sep_id, owner)
                .comment_unless(large, &name)
                .src_ip(e.ep.ip)
                .jump(self.masq_id);
            let mut b = self.nat.rule(sep_id, owner).comment_unless(large, &name);
            if svc.session_affinity_seconds.is_some() {
                b = b.recent_set(sep_id);
            }
            b.proto(proto).dnat(e.ep.ip, e.ep.port, (si, pi, e.index as u32));
        }
    }

    fn external_chain(
        &mut self,
        name: &str,
        pc: &mut [Lazy; 4],
        etp_local: bool,
        has_external: bool,
        policy_chain: usize,
        owner: Owner,
    ) {
        let ext = pc[EXT].declare(&mut self.nat, owner);
        if !etp_local {
            self.nat
                .rule(ext, owner)
                .comment(Quoted(format_args!(
                    "masquerade traffic for {name} external destinations"
                )))
                .jump(self.masq_id);
        } else {
            let svc_id = pc[SVC].id(&mut self.nat);
            if let Some(cidr) = self.node.cluster_cidr {
                self.nat
                    .rule(ext, owner)
                    .comment(Quoted(format_args!("pod traffic for {name} external destinations")))
                    .src_net(cidr.trunc(), false)
                    .jump(svc_id);
            }
            self.nat
                .rule(ext, owner)
                .comment(Quoted(format_args!(
                    "masquerade LOCAL traffic for {name} external destinations"
                )))
                .src_type_local()
                .jump(self.masq_id);
            self.nat
                .rule(ext, owner)
                .comment(Quoted(format_args!(
                    "route LOCAL traffic for {name} external destinations"
                )))
                .src_type_local()
                .jump(svc_id);
        }
        if has_external {
            let id = pc[policy_chain].id(&mut self.nat);
            self.nat.rule(ext, owner).jump(id);
        }
    }

    fn firewall_chain(&mut self, svc: &Service, name: &str, pc: &mut [Lazy; 4], owner: Owner) {
        let fw = pc[FW].declare(&mut self.nat, owner);
        let ext_id = pc[EXT].id(&mut self.nat);
        let comment = || display_with(move |f| write!(f, "\"{name} loadbalancer IP\""));
        let node_ip = self.node.node_ips.first().copied();
        let mut allow_from_node = false;
        for cidr in &svc.load_balancer_source_ranges {
            let cidr = cidr.trunc();
            self.nat
                .rule(fw, owner)
                .comment(comment())
                .src_net(cidr, false)
                .jump(ext_id);
            allow_from_node |= node_ip.is_some_and(|ip| cidr.contains(&ip));
        }
        if allow_from_node {
            for &lb in &svc.load_balancer_ips {
                self.nat.rule(fw, owner).comment(comment()).src_ip(lb).jump(ext_id);
            }
        }
        self.nat
            .rule(fw, owner)
            .comment(Quoted(format_args!(
                "other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"
            )))
            .no_target();
    }

    /// `writeServiceToEndpointRules`: affinity checks first, then the probability ladder.
    #[allow(clippy::too_many_arguments)]
    fn endpoint_jumps(
        &mut self,
        svc: &Service,
        name: &str,
        chain: u32,
        cat: &Categorized<'_>,
        seps: &mut [Option<Lazy>],
        eps: &[usize],
        owner: Owner,
    ) {
        let large = self.large;
        if let Some(seconds) = svc.session_affinity_seconds {
            for &i in eps {
                let e = &cat.endpoints[i];
                let id = seps[i]
                    .as_mut()
                    .expect("cluster and local endpoints are reachable")
                    .id(&mut self.nat);
                self.nat
                    .rule(chain, owner)
                    .comment_unless(large, Quoted(format_args!("{name} -> {}", e.key)))
                    .recent_check(id, seconds)
                    .jump(id);
            }
        }
        let n = eps.len();
        for (k, &i) in eps.iter().enumerate() {
            let e = &cat.endpoints[i];
            let id = seps[i]
                .as_mut()
                .expect("cluster and local endpoints are reachable")
                .id(&mut self.nat);
            let mut b = self
                .nat
                .rule(chain, owner)
                .comment_unless(large, Quoted(format_args!("{name} -> {}", e.key)));
            if k + 1 < n {
                b = b.statistic(self.probabilities.get((n - k) as u32));
            }
            b.jump(id);
        }
    }
}
