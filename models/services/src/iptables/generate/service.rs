//! The rules of one service port: its entries in KUBE-SERVICES / KUBE-NODEPORTS and the
//! filter chains (always written), and its own KUBE-SVC / SVL / EXT / FW / SEP chains (written
//! only when the service changed, on a partial sync). Follows the body of the per-service loop
//! of `syncProxyRules` and `writeServiceToEndpointRules`, statement for statement.

use super::*;

impl Gen<'_> {
    pub(super) fn service_port(&mut self, set: &ServiceSet, s: usize, p: usize, cat: &Categorized<'_>) {
        let svc = &set.services[s];
        let port = &svc.ports[p];
        let proto = port.protocol;
        let name = svc.port_name(p);
        let proto_l = proto.as_lower();
        let cip = svc.cluster_ip.expect("headless services are filtered out before");
        let chains = ServiceChains::new(&name, proto_l);
        // One hash per endpoint, shared by the SVC/SVL jumps and the SEP chain itself.
        let mut seps: Vec<Option<String>> = vec![None; cat.endpoints.len()];
        for &i in &cat.reachable {
            seps[i] = Some(endpoint_chain(&name, proto_l, cat.endpoints[i].key.as_str()));
        }
        let (si, pi) = (s as u32, p as u32);
        let owner = Some(si);

        let uses_cluster_chain = !cat.cluster.is_empty();
        let uses_local_chain = !cat.local.is_empty();
        let has_endpoints = cat.has_any;
        let itp_local = svc.internal_policy_local();
        let etp_local = svc.external_policy_local();
        let internal_chain = if itp_local { &chains.svl } else { &chains.svc };
        let has_internal = has_endpoints && !(itp_local && cat.local.is_empty());
        let external_policy_chain = if etp_local { &chains.svl } else { &chains.svc };
        let has_external = has_endpoints && !(etp_local && cat.local.is_empty());
        let uses_ext_chain = has_endpoints && svc.port_externally_accessible(p);
        let uses_fw = has_endpoints && !svc.load_balancer_ips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
        let lb_chain = if uses_fw { &chains.fw } else { &chains.ext };

        // What the filter table does with traffic that has nowhere to go.
        let no_ep_comment = quoted(&format!("{name} has no endpoints"));
        let no_local_comment = quoted(&format!("{name} has no local endpoints"));
        let reject = Cause::NoEndpoints { service: si, port: pi };
        let drop_local = Cause::Dropped {
            service: si,
            port: pi,
            reason: DropReason::NoLocalEndpoints,
        };
        let filter_verdict = |b: RuleBuilder, any: bool| {
            if any {
                b.drop(drop_local)
            } else {
                b.reject(reject)
            }
        };
        let (int_comment, ext_comment) = if !has_endpoints {
            (&no_ep_comment, &no_ep_comment)
        } else {
            (&no_local_comment, &no_local_comment)
        };

        // Capture the clusterIP.
        if has_internal {
            let id = self.nat.chain_id(internal_chain);
            let r = RuleBuilder::new(KUBE_SERVICES)
                .comment(&quoted(&format!("{name} cluster IP")))
                .proto(proto)
                .dst(cip)
                .dport(port.port)
                .jump(internal_chain, id);
            self.nat.push(r, None);
        } else {
            let b = RuleBuilder::new(KUBE_SERVICES)
                .comment(int_comment)
                .proto(proto)
                .dst(cip)
                .dport(port.port);
            self.filter.push(filter_verdict(b, has_endpoints), None);
        }

        // Capture externalIPs.
        for &eip in &svc.external_ips {
            if has_endpoints {
                let id = self.nat.chain_id(&chains.ext);
                let r = RuleBuilder::new(KUBE_SERVICES)
                    .comment(&quoted(&format!("{name} external IP")))
                    .proto(proto)
                    .dst(eip)
                    .dport(port.port)
                    .jump(&chains.ext, id);
                self.nat.push(r, None);
            }
            if !has_external {
                let b = RuleBuilder::new(KUBE_EXTERNAL_SERVICES)
                    .comment(ext_comment)
                    .proto(proto)
                    .dst(eip)
                    .dport(port.port);
                self.filter.push(filter_verdict(b, has_endpoints), None);
            }
        }

        // Capture load-balancer ingress.
        for &lb in &svc.load_balancer_ips {
            if has_endpoints {
                let id = self.nat.chain_id(lb_chain);
                let r = RuleBuilder::new(KUBE_SERVICES)
                    .comment(&quoted(&format!("{name} loadbalancer IP")))
                    .proto(proto)
                    .dst(lb)
                    .dport(port.port)
                    .jump(lb_chain, id);
                self.nat.push(r, None);
            }
            if uses_fw {
                let r = RuleBuilder::new(KUBE_PROXY_FIREWALL)
                    .comment(&quoted(&format!("{name} traffic not accepted by {}", chains.fw)))
                    .proto(proto)
                    .dst(lb)
                    .dport(port.port)
                    .drop(Cause::Dropped {
                        service: si,
                        port: pi,
                        reason: DropReason::SourceRangeDenied,
                    });
                self.filter.push(r, None);
            }
        }
        if !has_external {
            for &lb in &svc.load_balancer_ips {
                let b = RuleBuilder::new(KUBE_EXTERNAL_SERVICES)
                    .comment(ext_comment)
                    .proto(proto)
                    .dst(lb)
                    .dport(port.port);
                self.filter.push(filter_verdict(b, has_endpoints), None);
            }
        }

        // Capture nodeports.
        if let Some(np) = port.node_port {
            if has_endpoints {
                let id = self.nat.chain_id(&chains.ext);
                if self.cfg.localhost_nodeports && self.cfg.nfacct {
                    let r = RuleBuilder::new(KUBE_NODEPORTS)
                        .comment(&name)
                        .proto(proto)
                        .dst_net("127.0.0.0/8".parse().expect("constant"), false)
                        .dport(np)
                        .nfacct(LOCALHOST_NODEPORT_NFACCT)
                        .jump(&chains.ext, id);
                    self.nat.push(r, None);
                }
                let r = RuleBuilder::new(KUBE_NODEPORTS)
                    .comment(&name)
                    .proto(proto)
                    .dport(np)
                    .jump(&chains.ext, id);
                self.nat.push(r, None);
            }
            if !has_external {
                let b = RuleBuilder::new(KUBE_EXTERNAL_SERVICES)
                    .comment(ext_comment)
                    .dst_type_local()
                    .proto(proto)
                    .dport(np);
                self.filter.push(filter_verdict(b, has_endpoints), None);
            }
        }
        // healthCheckNodePort rules (filter KUBE-NODEPORTS ACCEPT) are not modelled: the
        // model has no such field.

        // Internal traffic handling: masquerade off-cluster sources to the VIP.
        if has_internal {
            let base = || {
                RuleBuilder::new(internal_chain)
                    .comment(&quoted(&format!("{name} cluster IP")))
                    .proto(proto)
                    .dst(cip)
                    .dport(port.port)
            };
            if self.cfg.masquerade_all {
                let r = base().jump(KUBE_MARK_MASQ, self.masq_id);
                self.nat.push(r, owner);
            } else if let Some(cidr) = self.node.cluster_cidr {
                let r = base().src_net(cidr.trunc(), true).jump(KUBE_MARK_MASQ, self.masq_id);
                self.nat.push(r, owner);
            }
        }

        if uses_ext_chain {
            self.external_chain(&name, &chains, etp_local, has_external, external_policy_chain, owner);
        }
        if uses_fw {
            self.firewall_chain(svc, &name, &chains, owner);
        }
        if uses_cluster_chain {
            self.nat.declare(&chains.svc, owner);
            self.endpoint_jumps(svc, &name, &chains.svc, cat, &seps, &cat.cluster, owner);
        }
        if uses_local_chain {
            self.nat.declare(&chains.svl, owner);
            self.endpoint_jumps(svc, &name, &chains.svl, cat, &seps, &cat.local, owner);
        }
        for &i in &cat.reachable {
            let e = &cat.endpoints[i];
            let sep = seps[i].as_deref().expect("reachable endpoints have a chain name");
            let sep_id = self.nat.declare(sep, owner);
            let b = self.svc_comment(RuleBuilder::new(sep), &name);
            self.nat
                .push(b.src_ip(e.ep.ip).jump(KUBE_MARK_MASQ, self.masq_id), owner);
            let mut b = self.svc_comment(RuleBuilder::new(sep), &name);
            if svc.session_affinity_seconds.is_some() {
                b = b.recent_set(sep, sep_id);
            }
            let r = b.proto(proto).dnat(e.ep.ip, e.ep.port, (si, pi, e.index as u32));
            self.nat.push(r, owner);
        }
    }

    fn external_chain(
        &mut self,
        name: &str,
        chains: &ServiceChains,
        etp_local: bool,
        has_external: bool,
        policy_chain: &str,
        owner: Owner,
    ) {
        let ext = &chains.ext;
        self.nat.declare(ext, owner);
        if !etp_local {
            let r = RuleBuilder::new(ext)
                .comment(&quoted(&format!("masquerade traffic for {name} external destinations")))
                .jump(KUBE_MARK_MASQ, self.masq_id);
            self.nat.push(r, owner);
        } else {
            let svc_id = self.nat.chain_id(&chains.svc);
            if let Some(cidr) = self.node.cluster_cidr {
                let r = RuleBuilder::new(ext)
                    .comment(&quoted(&format!("pod traffic for {name} external destinations")))
                    .src_net(cidr.trunc(), false)
                    .jump(&chains.svc, svc_id);
                self.nat.push(r, owner);
            }
            let r = RuleBuilder::new(ext)
                .comment(&quoted(&format!(
                    "masquerade LOCAL traffic for {name} external destinations"
                )))
                .src_type_local()
                .jump(KUBE_MARK_MASQ, self.masq_id);
            self.nat.push(r, owner);
            let r = RuleBuilder::new(ext)
                .comment(&quoted(&format!(
                    "route LOCAL traffic for {name} external destinations"
                )))
                .src_type_local()
                .jump(&chains.svc, svc_id);
            self.nat.push(r, owner);
        }
        if has_external {
            let id = self.nat.chain_id(policy_chain);
            self.nat.push(RuleBuilder::new(ext).jump(policy_chain, id), owner);
        }
    }

    fn firewall_chain(&mut self, svc: &crate::model::Service, name: &str, chains: &ServiceChains, owner: Owner) {
        let fw = &chains.fw;
        self.nat.declare(fw, owner);
        let ext_id = self.nat.chain_id(&chains.ext);
        let comment = quoted(&format!("{name} loadbalancer IP"));
        let node_ip = self.node.node_ips.first().copied();
        let mut allow_from_node = false;
        for cidr in &svc.load_balancer_source_ranges {
            let cidr = cidr.trunc();
            let r = RuleBuilder::new(fw)
                .comment(&comment)
                .src_net(cidr, false)
                .jump(&chains.ext, ext_id);
            self.nat.push(r, owner);
            allow_from_node |= node_ip.is_some_and(|ip| cidr.contains(&ip));
        }
        if allow_from_node {
            for &lb in &svc.load_balancer_ips {
                let r = RuleBuilder::new(fw)
                    .comment(&comment)
                    .src_ip(lb)
                    .jump(&chains.ext, ext_id);
                self.nat.push(r, owner);
            }
        }
        let r = RuleBuilder::new(fw)
            .comment(&quoted(&format!(
                "other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"
            )))
            .no_target();
        self.nat.push(r, owner);
    }

    /// `writeServiceToEndpointRules`: affinity checks first, then the probability ladder.
    #[allow(clippy::too_many_arguments)]
    fn endpoint_jumps(
        &mut self,
        svc: &crate::model::Service,
        name: &str,
        chain: &str,
        cat: &Categorized<'_>,
        seps: &[Option<String>],
        eps: &[usize],
        owner: Owner,
    ) {
        if let Some(seconds) = svc.session_affinity_seconds {
            for &i in eps {
                let e = &cat.endpoints[i];
                let sep = seps[i].as_deref().expect("cluster and local endpoints are reachable");
                let id = self.nat.chain_id(sep);
                let b = self.svc_comment(RuleBuilder::new(chain), &quoted(&format!("{name} -> {}", e.key)));
                let r = b.recent_check(sep, id, seconds).jump(sep, id);
                self.nat.push(r, owner);
            }
        }
        let n = eps.len();
        for (k, &i) in eps.iter().enumerate() {
            let e = &cat.endpoints[i];
            let sep = seps[i].as_deref().expect("cluster and local endpoints are reachable");
            let id = self.nat.chain_id(sep);
            let mut b = self.svc_comment(RuleBuilder::new(chain), &quoted(&format!("{name} -> {}", e.key)));
            if k + 1 < n {
                b = b.statistic(&probability_text((n - k) as u32));
            }
            self.nat.push(b.jump(sep, id), owner);
        }
    }
}
