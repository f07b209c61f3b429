//! The reference model of ipamd: the same rules as [`super::pool`] and [`super::node`], written
//! as straight arithmetic over the whole state at every step (no counters, no bitmaps).
//! `equivalence.rs` holds the engine equal to it.
//!
//! State is one row per address (pool addresses) and sets of used addresses per subnet; every
//! statistic is recounted from the rows when a decision needs it.

use super::config::*;
use super::ec2::Ec2Calls;
use super::node::{EniSnapshot, NodeSnapshot, PoolStats};
use crate::catalog::InstanceType;
use crate::subnet::{Ec2Error, SubnetSpec};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

#[derive(Clone, Debug)]
struct Addr {
    device: u32,
    slot: u32,
    pod: Option<u32>,
    /// Unassigned at this time (cooling while now − t ≤ 30 s).
    released_ns: Option<u64>,
}

#[derive(Clone, Debug)]
struct REni {
    device: u32,
    subnet: usize,
    address: u32,
    primary: bool,
    trunk: bool,
    added_ns: u64,
    slots: BTreeSet<u32>,
}

#[derive(Clone, Debug)]
pub(super) struct RNode {
    pub(super) limits: NodeLimits,
    az: String,
    subnet: usize,
    enis: BTreeMap<u32, REni>,
    pending: Option<(REni, u64, u64)>,
    addrs: BTreeMap<u32, Addr>,
    next_tick: u64,
    last_decrease: Option<u64>,
    last_insufficient: Option<u64>,
    ec2: Ec2Calls,
}

pub(super) struct Reference {
    cfg: IpamdConfig,
    specs: Vec<SubnetSpec>,
    pub(super) used: Vec<BTreeSet<u32>>,
    pub(super) nodes: Vec<RNode>,
}

impl Reference {
    pub fn new(cfg: IpamdConfig, specs: Vec<SubnetSpec>) -> Reference {
        let used = specs
            .iter()
            .map(|s| {
                let (b, n) = (u32::from(s.cidr.network()), 1u32 << (32 - s.cidr.prefix_len()));
                [b, b + 1, b + 2, b + 3, b + n - 1].into_iter().collect()
            })
            .collect();
        Reference {
            cfg,
            specs,
            used,
            nodes: Vec::new(),
        }
    }

    fn range(&self, s: usize) -> std::ops::Range<u32> {
        let b = u32::from(self.specs[s].cidr.network());
        b..b + (1u32 << (32 - self.specs[s].cidr.prefix_len()))
    }

    fn free(&self, s: usize) -> usize {
        self.range(s).len() - self.used[s].len()
    }

    fn take(&mut self, s: usize, n: u32, prefix: bool) -> Result<Vec<u32>, Ec2Error> {
        let name = self.specs[s].name.clone();
        let got: Vec<u32> = if prefix {
            self.range(s)
                .step_by(16)
                .filter(|b| (*b..b + 16).all(|a| !self.used[s].contains(&a)))
                .take(n as usize)
                .collect()
        } else {
            self.range(s)
                .filter(|a| !self.used[s].contains(a))
                .take(n as usize)
                .collect()
        };
        if got.len() < n as usize {
            return Err(if prefix {
                Ec2Error::InsufficientCidrBlocks { subnet: name }
            } else {
                Ec2Error::InsufficientFreeAddressesInSubnet { subnet: name }
            });
        }
        for &a in &got {
            let k = if prefix { 16 } else { 1 };
            self.used[s].extend(a..a + k);
        }
        Ok(got)
    }

    fn give_back(&mut self, s: usize, base: u32, size: u32) {
        for a in base..base + size {
            assert!(self.used[s].remove(&a));
        }
    }

    pub fn add_node(&mut self, ty: &InstanceType, primary: Ipv4Addr, now: u64) {
        let subnet = self.specs.iter().position(|s| s.cidr.contains(&primary)).unwrap();
        self.used[subnet].insert(u32::from(primary));
        let limits = NodeLimits::resolve(&self.cfg, ty);
        let mut n = RNode {
            limits,
            az: self.specs[subnet].az.clone(),
            subnet,
            enis: BTreeMap::new(),
            pending: None,
            addrs: BTreeMap::new(),
            next_tick: now + POOL_FIRST_TICK_NS,
            last_decrease: None,
            last_insufficient: None,
            ec2: Ec2Calls::default(),
        };
        let eni = REni {
            device: 0,
            subnet,
            address: u32::from(primary),
            primary: true,
            trunk: false,
            added_ns: now,
            slots: BTreeSet::new(),
        };
        n.enis.insert(0, eni);
        self.nodes.push(n);
        let i = self.nodes.len() - 1;
        if self.too_low(i) {
            self.increase(i, now);
        }
        if let Some(p) = self.nodes[i].pending.as_mut() {
            p.2 = POOL_FIRST_TICK_NS;
            self.nodes[i].next_tick = u64::MAX;
        }
    }

    /// The node's instance is terminated (`IpamEngine::remove_node`): every ENI's own address
    /// and its slots, the attaching ENI's too, go back to the subnet at once. Returns how many
    /// addresses. The caller stops asking about node `i`.
    pub fn remove_node(&mut self, i: usize) -> u32 {
        let n = self.nodes[i].clone();
        let size = n.limits.slot_size;
        let mut released = 0;
        for eni in n.enis.values().chain(n.pending.as_ref().map(|p| &p.0)) {
            for &b in &eni.slots {
                self.give_back(eni.subnet, b, size);
                released += size;
            }
            self.give_back(eni.subnet, eni.address, 1);
            released += 1;
        }
        released
    }

    fn cooling(a: &Addr, now: u64) -> bool {
        a.pod.is_none() && a.released_ns.is_some_and(|t| now - t <= IP_COOLDOWN_NS)
    }

    pub fn stats(&self, i: usize) -> PoolStats {
        let n = &self.nodes[i];
        let pd = n.limits.prefix_delegation;
        let mut slots: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        for a in n.addrs.values() {
            *slots.entry((a.device, a.slot)).or_default() += u32::from(a.pod.is_some());
        }
        PoolStats {
            total_ips: n.addrs.len() as u32,
            assigned: n.addrs.values().filter(|a| a.pod.is_some()).count() as u32,
            total_prefixes: if pd { slots.len() as u32 } else { 0 },
            free_prefixes: if pd {
                slots.values().filter(|&&c| c == 0).count() as u32
            } else {
                0
            },
        }
    }

    pub fn next_wakeup(&self, i: usize) -> u64 {
        let n = &self.nodes[i];
        n.pending.as_ref().map_or(n.next_tick, |p| p.1)
    }

    pub fn pods(&self, i: usize) -> u32 {
        self.nodes[i].addrs.values().filter(|a| a.pod.is_some()).count() as u32
    }

    pub fn assign(&mut self, i: usize, pod: u32, now: u64) -> Option<u32> {
        let n = &mut self.nodes[i];
        if n.addrs.values().filter(|a| a.pod.is_some()).count() as u32 >= n.limits.max_pods {
            return None;
        }
        let trunk: BTreeSet<u32> = n.enis.values().filter(|e| e.trunk).map(|e| e.device).collect();
        let pick = n
            .addrs
            .iter()
            .filter(|(_, a)| a.pod.is_none() && !Self::cooling(a, now) && !trunk.contains(&a.device))
            .map(|(&addr, a)| (a.device, a.slot, addr))
            .min()?;
        let a = n.addrs.get_mut(&pick.2).unwrap();
        a.pod = Some(pod);
        a.released_ns = None;
        Some(pick.2)
    }

    pub fn release(&mut self, i: usize, pod: u32, now: u64) -> Option<u32> {
        let a = self.nodes[i].addrs.iter_mut().find(|(_, a)| a.pod == Some(pod))?;
        a.1.pod = None;
        a.1.released_ns = Some(now);
        Some(*a.0)
    }

    fn target_state(&self, i: usize) -> Option<(i64, i64)> {
        if self.cfg.warm_ip_target == 0 && self.cfg.minimum_ip_target == 0 {
            return None;
        }
        let s = self.stats(i);
        let (w, m) = (self.cfg.warm_ip_target as i64, self.cfg.minimum_ip_target as i64);
        let (t, avail) = (s.total_ips as i64, (s.total_ips - s.assigned) as i64);
        let short = std::cmp::max(std::cmp::max(w - avail, 0), m - t);
        let over = std::cmp::max(std::cmp::min(std::cmp::max(avail - w, 0), t - m), 0);
        if !self.nodes[i].limits.prefix_delegation {
            return Some((short, over));
        }
        let ceil16 = |x: i64| (x + 15).div_euclid(16);
        let p = s.total_prefixes as i64;
        let op = std::cmp::max(
            std::cmp::min(s.free_prefixes as i64, p - ceil16(s.assigned as i64 + w)),
            0,
        );
        let op = std::cmp::max(std::cmp::min(op, p - ceil16(m)), 0);
        Some((ceil16(short), op))
    }

    fn too_low(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        let s = self.stats(i);
        if s.total_ips >= n.limits.max_pods {
            return false;
        }
        if let Some((short, _)) = self.target_state(i) {
            return short > 0;
        }
        let pd = n.limits.prefix_delegation;
        let warm = if pd {
            self.cfg.warm_prefix_target
        } else {
            self.cfg.warm_eni_target
        };
        let unit = if pd { 16 } else { n.limits.slots_per_eni };
        let avail = s.total_ips - s.assigned;
        avail < unit * warm || (warm == 0 && avail == 0)
    }

    pub fn reconcile(&mut self, i: usize, now: u64) {
        if let Some(p) = self.nodes[i].pending.take() {
            if p.1 <= now {
                let mut eni = p.0;
                eni.added_ns = p.1;
                let size = self.nodes[i].limits.slot_size;
                for &b in &eni.slots {
                    for a in b..b + size {
                        self.nodes[i].addrs.insert(
                            a,
                            Addr {
                                device: eni.device,
                                slot: b,
                                pod: None,
                                released_ns: None,
                            },
                        );
                    }
                }
                self.nodes[i].enis.insert(eni.device, eni);
                self.nodes[i].next_tick = p.1 + p.2;
            } else {
                self.nodes[i].pending = Some(p);
                return;
            }
        }
        if now < self.nodes[i].next_tick {
            return;
        }
        if self.too_low(i) {
            self.increase(i, now);
        } else {
            let high = match self.target_state(i) {
                Some((_, over)) => over > 0,
                None => {
                    self.nodes[i].limits.prefix_delegation && self.stats(i).free_prefixes > self.cfg.warm_prefix_target
                }
            };
            let skip = self.nodes[i]
                .last_decrease
                .is_some_and(|t| now - t <= DECREASE_INTERVAL_NS);
            if high && !skip {
                self.decrease(i);
                self.nodes[i].last_decrease = Some(now);
            }
        }
        self.maybe_free_eni(i, now);
        let n = &mut self.nodes[i];
        n.next_tick = if n.pending.is_some() {
            u64::MAX
        } else {
            now + POOL_TICK_NS
        };
    }

    fn want(&self, i: usize, for_new_eni: bool) -> Option<u32> {
        let n = &self.nodes[i];
        let slots = n.limits.slots_per_eni;
        if n.limits.prefix_delegation {
            let need = match self.target_state(i) {
                Some((short, _)) => std::cmp::max(short, 1) as u32,
                None => std::cmp::max(
                    self.cfg.warm_prefix_target as i64 - self.stats(i).free_prefixes as i64,
                    1,
                ) as u32,
            };
            return Some(if for_new_eni { need.min(slots) } else { need });
        }
        match self.target_state(i) {
            Some((0, _)) if !for_new_eni => None,
            Some((short, _)) => Some(if for_new_eni {
                (short as u32).min(slots)
            } else {
                short as u32
            }),
            None => Some(slots),
        }
    }

    fn increase(&mut self, i: usize, now: u64) {
        if self.nodes[i]
            .last_insufficient
            .is_some_and(|t| now - t <= INSUFFICIENT_CIDR_COOLDOWN_NS)
        {
            return;
        }
        let pd = self.nodes[i].limits.prefix_delegation;
        let size = self.nodes[i].limits.slot_size;
        let slots = self.nodes[i].limits.slots_per_eni;
        if let Some(to_allocate) = self.want(i, false) {
            let devices: Vec<u32> = self.nodes[i].enis.keys().copied().collect();
            for d in devices {
                let e = &self.nodes[i].enis[&d];
                if (self.cfg.custom_networking() && e.primary) || e.trunk || e.slots.len() as u32 >= slots {
                    continue;
                }
                let (subnet, n) = (e.subnet, (slots - e.slots.len() as u32).min(to_allocate));
                self.nodes[i].ec2.assign_private_ip_addresses += 1;
                let got = match self.take(subnet, n, pd) {
                    Ok(g) => g,
                    Err(err) => {
                        self.nodes[i].ec2.record_error(&err);
                        self.nodes[i].ec2.assign_private_ip_addresses += 1;
                        match self.take(subnet, 1, pd) {
                            Ok(g) => g,
                            Err(err) => {
                                self.nodes[i].ec2.record_error(&err);
                                if self.cfg.subnet_discovery {
                                    continue;
                                }
                                self.nodes[i].last_insufficient = Some(now);
                                return;
                            }
                        }
                    }
                };
                let node = &mut self.nodes[i];
                for b in got {
                    node.enis.get_mut(&d).unwrap().slots.insert(b);
                    for a in b..b + size {
                        node.addrs.insert(
                            a,
                            Addr {
                                device: d,
                                slot: b,
                                pod: None,
                                released_ns: None,
                            },
                        );
                    }
                }
                return;
            }
        }
        if self.nodes[i].enis.len() as u32 >= self.nodes[i].limits.max_enis {
            return;
        }
        let want = self.want(i, true).unwrap_or(0);
        if want == 0 {
            return;
        }
        let candidates: Vec<usize> = if self.cfg.custom_networking() {
            let az = &self.nodes[i].az;
            let ec = self.cfg.eni_configs.iter().flatten().find(|c| &c.az == az);
            ec.and_then(|c| self.specs.iter().position(|s| s.name == c.subnet))
                .into_iter()
                .collect()
        } else if self.cfg.subnet_discovery {
            self.nodes[i].ec2.describe_subnets += 1;
            let (az, own) = (self.nodes[i].az.clone(), self.nodes[i].subnet);
            let mut c: Vec<usize> = (0..self.specs.len())
                .filter(|&s| self.specs[s].az == az && (s == own || self.specs[s].cni_discovery_tag))
                .collect();
            c.sort_by_key(|&s| std::cmp::Reverse(self.free(s)));
            c
        } else {
            vec![self.nodes[i].subnet]
        };
        let mut failed = false;
        for s in candidates {
            self.nodes[i].ec2.create_network_interface += 1;
            let own = match self.take(s, 1, false) {
                Ok(g) => g[0],
                Err(err) => {
                    self.nodes[i].ec2.record_error(&err);
                    failed = true;
                    continue;
                }
            };
            match self.take(s, want, pd) {
                Ok(got) => {
                    let node = &mut self.nodes[i];
                    node.ec2.describe_instances += 1;
                    node.ec2.attach_network_interface += 1;
                    node.ec2.modify_network_interface_attribute += 1;
                    let device = (0..).find(|d| !node.enis.contains_key(d)).unwrap();
                    let eni = REni {
                        device,
                        subnet: s,
                        address: own,
                        primary: false,
                        trunk: false,
                        added_ns: u64::MAX,
                        slots: got.into_iter().collect(),
                    };
                    node.pending = Some((eni, now + ENI_ATTACH_LATENCY_NS, POOL_TICK_NS));
                    return;
                }
                Err(err) => {
                    self.give_back(s, own, 1);
                    self.nodes[i].ec2.record_error(&err);
                    failed = true;
                }
            }
        }
        if failed {
            self.nodes[i].last_insufficient = Some(now);
        }
    }

    fn decrease(&mut self, i: usize) {
        let mut over = match self.target_state(i) {
            Some((_, over)) => over,
            None => std::cmp::max(
                self.stats(i).free_prefixes as i64 - self.cfg.warm_prefix_target as i64,
                0,
            ),
        };
        let size = self.nodes[i].limits.slot_size;
        let devices: Vec<u32> = self.nodes[i].enis.keys().copied().collect();
        for d in devices {
            if over <= 0 {
                break;
            }
            let node = &self.nodes[i];
            let free: Vec<u32> = node.enis[&d]
                .slots
                .iter()
                .copied()
                .filter(|&b| (b..b + size).all(|a| node.addrs[&a].pod.is_none()))
                .take(over as usize)
                .collect();
            if free.is_empty() {
                continue;
            }
            let subnet = node.enis[&d].subnet;
            for &b in &free {
                let node = &mut self.nodes[i];
                node.enis.get_mut(&d).unwrap().slots.remove(&b);
                for a in b..b + size {
                    node.addrs.remove(&a);
                }
                self.give_back(subnet, b, size);
            }
            self.nodes[i].ec2.unassign_private_ip_addresses += 1;
            over -= free.len() as i64;
        }
    }

    fn maybe_free_eni(&mut self, i: usize, now: u64) {
        let n = &self.nodes[i];
        let pd = n.limits.prefix_delegation;
        let s = self.stats(i);
        let ip_targets = self.cfg.warm_ip_target != 0 || self.cfg.minimum_ip_target != 0;
        let warm = if pd {
            self.cfg.warm_prefix_target
        } else {
            self.cfg.warm_eni_target
        };
        let unused = |e: &REni| n.addrs.values().all(|a| a.device != e.device || a.pod.is_none());
        let should = ip_targets
            || s.total_ips - s.assigned >= (warm + 1) * n.limits.ips_per_eni()
            || (pd && n.enis.values().any(|e| !e.primary && !e.trunk && unused(e)));
        if !should {
            return;
        }
        let round = |t: u32| if pd { t.div_ceil(16) * 16 } else { t };
        let others = |d: u32| n.addrs.values().filter(move |a| a.device != d);
        let victim = n.enis.values().find(|e| {
            let d = e.device;
            let cool = n.addrs.values().any(|a| a.device == d && Self::cooling(a, now));
            let mut free_slots: BTreeMap<(u32, u32), bool> = BTreeMap::new();
            for a in others(d) {
                *free_slots.entry((a.device, a.slot)).or_insert(true) &= a.pod.is_none();
            }
            !(e.primary
                || e.trunk
                || now - e.added_ns < MIN_ENI_LIFETIME_NS
                || cool
                || !unused(e)
                || (self.cfg.warm_ip_target != 0
                    && (others(d).filter(|a| a.pod.is_none()).count() as u32) < round(self.cfg.warm_ip_target))
                || (self.cfg.minimum_ip_target != 0 && (others(d).count() as u32) < round(self.cfg.minimum_ip_target))
                || (pd
                    && self.cfg.warm_prefix_target != 0
                    && (free_slots.values().filter(|&&f| f).count() as u32) < self.cfg.warm_prefix_target))
        });
        let Some(victim) = victim.map(|e| e.device) else { return };
        let size = n.limits.slot_size;
        let eni = self.nodes[i].enis.remove(&victim).unwrap();
        for &b in &eni.slots {
            for a in b..b + size {
                self.nodes[i].addrs.remove(&a);
            }
            self.give_back(eni.subnet, b, size);
        }
        self.give_back(eni.subnet, eni.address, 1);
        let c = &mut self.nodes[i].ec2;
        c.describe_network_interfaces += 1;
        c.detach_network_interface += 1;
        c.delete_network_interface += 1;
    }

    pub fn snapshot(&self, i: usize, now: u64) -> NodeSnapshot {
        let n = &self.nodes[i];
        let size = n.limits.slot_size;
        let view = |e: &REni| EniSnapshot {
            device: e.device,
            subnet: self.specs[e.subnet].name.clone(),
            address: Ipv4Addr::from(e.address),
            primary: e.primary,
            trunk: e.trunk,
            slots: e
                .slots
                .iter()
                .map(|&b| {
                    let pods = (b..b + size)
                        .filter(|a| n.addrs.get(a).is_some_and(|x| x.pod.is_some()))
                        .count() as u32;
                    (
                        Ipv4Net::new(Ipv4Addr::from(b), if size == 16 { 28 } else { 32 }).unwrap(),
                        pods,
                    )
                })
                .collect(),
        };
        NodeSnapshot {
            enis: n.enis.values().map(view).collect(),
            attaching: n.pending.as_ref().map(|p| view(&p.0)),
            stats: self.stats(i),
            cooling: n.addrs.values().filter(|a| Self::cooling(a, now)).count() as u32,
            branch_pods: 0,
            ec2: n.ec2,
        }
    }

    /// After a long quiet spell the pool meets its targets, unless a limit or the subnet stops it.
    pub fn settled_within_targets(&self, i: usize, now: u64) -> bool {
        let n = &self.nodes[i];
        let s = self.stats(i);
        let ip_targets = self.cfg.warm_ip_target != 0 || self.cfg.minimum_ip_target != 0;
        if n.limits.prefix_delegation && self.cfg.warm_prefix_target == 0 && !ip_targets {
            // Documented as unsupported: ipamd adds a prefix when none is available and frees it
            // as "over WARM_PREFIX_TARGET=0" on the next shrink, forever. Both models do so.
            return true;
        }
        let limited = n.enis.len() as u32 >= n.limits.max_enis
            || s.total_ips >= n.limits.max_pods
            || n.last_insufficient.is_some()
            || n.ec2.insufficient_free_addresses + n.ec2.insufficient_cidr_blocks > 0
            || n.pending.is_some();
        let low_ok = limited || !self.too_low(i);
        let high_ok = match self.target_state(i) {
            Some((_, over)) => over == 0 || n.last_decrease.is_some_and(|t| now - t <= DECREASE_INTERVAL_NS),
            None => true,
        };
        low_ok && high_ok
    }
}
