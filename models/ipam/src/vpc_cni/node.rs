//! One node's ipamd datastore: its ENIs, the secondary IPs or /28 prefixes on each, which
//! address each pod holds and which addresses are cooling down.
//!
//! Owns the incremental counters ipamd's decisions read (total, assigned, prefixes, free
//! prefixes) so a pool check costs O(1) instead of a walk over every address.
//!
//! Order, where ipamd iterates Go maps (random order): ENIs by device number, slots by address,
//! addresses within a prefix lowest first. A pod gets the lowest address that is neither assigned
//! nor cooling on the first ENI that has one.

use super::config::{NodeLimits, IP_COOLDOWN_NS, POOL_TICK_NS};
use super::ec2::Ec2Calls;
use crate::seam::PodId;
use crate::subnet::{SubnetIdx, Subnets};
use ipnet::Ipv4Net;
use serde::Serialize;
use std::net::Ipv4Addr;

/// One secondary IP (bit 0) or one /28 prefix (bits 0..16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub base: u32,
    pub assigned: u16,
    pub cooling: u16,
}

#[derive(Clone, Debug)]
pub(crate) struct Eni {
    pub device: u32,
    pub subnet: SubnetIdx,
    /// The ENI's own (primary) address: never a pod's.
    pub address: u32,
    pub primary: bool,
    pub trunk: bool,
    /// When ipamd added it to the datastore (the minimum-lifetime clock starts here).
    pub added_ns: u64,
    /// Sorted by base address.
    pub slots: Vec<Slot>,
    pub assigned: u32,
}

/// An ENI being created and attached; ipamd's pool loop waits for it.
#[derive(Clone, Debug)]
pub(crate) struct PendingEni {
    pub eni: Eni,
    pub ready_ns: u64,
    /// Pool loop delay after the ENI is ready.
    pub resume_after_ns: u64,
}

/// ipamd's DataStoreStats plus the free-prefix count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PoolStats {
    pub total_ips: u32,
    pub assigned: u32,
    pub total_prefixes: u32,
    pub free_prefixes: u32,
}

impl PoolStats {
    /// ipamd `AvailableAddresses`: cooling addresses count as available.
    pub fn available(&self) -> u32 {
        self.total_ips - self.assigned
    }
}

#[derive(Clone, Debug)]
pub struct NodeIpam {
    pub(crate) limits: NodeLimits,
    pub(crate) az: String,
    pub(crate) subnet: SubnetIdx,
    /// Custom networking: the ENIConfig subnet of the node's AZ (None: no ENIConfig found).
    pub(crate) pod_subnet: Option<SubnetIdx>,
    pub(crate) custom_networking: bool,
    /// Sorted by device number.
    pub(crate) enis: Vec<Eni>,
    pub(crate) pending: Option<PendingEni>,
    pub(crate) pods: Vec<(PodId, u32)>,
    /// Security groups for pods: pod → its branch ENI's address.
    pub(crate) branch_pods: Vec<(PodId, u32)>,
    /// Released addresses and the last instant they are still cooling.
    pub(crate) cooling: Vec<(u32, u64)>,
    pub(crate) stats: PoolStats,
    pub(crate) next_tick_ns: u64,
    pub(crate) last_decrease_ns: Option<u64>,
    pub(crate) last_insufficient_ns: Option<u64>,
    pub(crate) ec2: Ec2Calls,
}

/// What a report shows of one ENI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EniSnapshot {
    pub device: u32,
    pub subnet: String,
    pub address: Ipv4Addr,
    pub primary: bool,
    pub trunk: bool,
    /// Secondary IPs (/32) or prefixes (/28), with how many pods each holds.
    pub slots: Vec<(Ipv4Net, u32)>,
}

/// What a report shows of one node's pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeSnapshot {
    pub enis: Vec<EniSnapshot>,
    pub attaching: Option<EniSnapshot>,
    pub stats: PoolStats,
    pub cooling: u32,
    pub branch_pods: u32,
    pub ec2: Ec2Calls,
}

impl Slot {
    pub fn full_mask(size: u32) -> u16 {
        if size >= 16 {
            u16::MAX
        } else {
            (1u16 << size) - 1
        }
    }
}

impl NodeIpam {
    pub(crate) fn slot_mask(&self) -> u16 {
        Slot::full_mask(self.limits.slot_size)
    }

    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    pub fn limits(&self) -> &NodeLimits {
        &self.limits
    }

    /// ENIs attached (primary and trunk included; one still attaching is not).
    pub fn enis_attached(&self) -> u32 {
        self.enis.len() as u32
    }

    /// The EC2 calls this node's ipamd made, failures counted by code.
    pub fn ec2(&self) -> &Ec2Calls {
        &self.ec2
    }

    /// The subnet new pod addresses come from: the ENIConfig's with custom networking (None if
    /// the node's AZ has none), else the node's own.
    pub fn pod_subnet(&self) -> Option<SubnetIdx> {
        if self.custom_networking {
            self.pod_subnet
        } else {
            Some(self.subnet)
        }
    }

    /// Pods holding an address from this node (pool and branch ENIs), against max pods.
    pub fn pod_count(&self) -> u32 {
        (self.pods.len() + self.branch_pods.len()) as u32
    }

    /// Security groups for pods: pods on a branch ENI of their own.
    pub fn branch_pod_count(&self) -> u32 {
        self.branch_pods.len() as u32
    }

    pub fn next_wakeup(&self) -> u64 {
        self.pending.as_ref().map_or(self.next_tick_ns, |p| p.ready_ns)
    }

    /// Ends the cooldown of every address whose 30 s are over (`now − released > cooldown`).
    pub(crate) fn expire_cooling(&mut self, now_ns: u64) {
        if self.cooling.iter().all(|&(_, until)| until >= now_ns) {
            return;
        }
        let size = self.limits.slot_size;
        let mut i = 0;
        while i < self.cooling.len() {
            let (addr, until) = self.cooling[i];
            if until >= now_ns {
                i += 1;
                continue;
            }
            self.cooling.swap_remove(i);
            let (e, s) = self.locate(addr).expect("a cooling address belongs to a slot");
            let slot = &mut self.enis[e].slots[s];
            let bit = 1u16 << (addr - slot.base);
            debug_assert!(addr - slot.base < size);
            assert!(slot.cooling & bit != 0, "cooling list and slot bits disagree");
            slot.cooling &= !bit;
        }
    }

    /// (ENI index, slot index) holding `addr`.
    pub(crate) fn locate(&self, addr: u32) -> Option<(usize, usize)> {
        let size = self.limits.slot_size;
        self.enis.iter().enumerate().find_map(|(e, eni)| {
            let s = eni.slots.partition_point(|s| s.base + size <= addr);
            (s < eni.slots.len() && eni.slots[s].base <= addr).then_some((e, s))
        })
    }

    /// CNI ADD from the warm pool: the lowest usable address of the first ENI that has one.
    pub(crate) fn assign(&mut self, pod: PodId, now_ns: u64) -> Option<u32> {
        self.expire_cooling(now_ns);
        let mask = self.slot_mask();
        let prefix = self.limits.prefix_delegation;
        for eni in self.enis.iter_mut().filter(|e| !e.trunk) {
            for slot in eni.slots.iter_mut() {
                let usable = !(slot.assigned | slot.cooling) & mask;
                if usable == 0 {
                    continue;
                }
                let i = usable.trailing_zeros();
                if prefix && slot.assigned == 0 {
                    self.stats.free_prefixes -= 1;
                }
                slot.assigned |= 1 << i;
                eni.assigned += 1;
                self.stats.assigned += 1;
                let addr = slot.base + i;
                self.pods.push((pod, addr));
                return Some(addr);
            }
        }
        None
    }

    /// CNI DEL: the address goes back to the pool and cools down for 30 s.
    pub(crate) fn release(&mut self, pod: PodId, now_ns: u64) -> Option<u32> {
        self.expire_cooling(now_ns);
        let at = self.pods.iter().position(|&(p, _)| p == pod)?;
        let (_, addr) = self.pods.swap_remove(at);
        let (e, s) = self.locate(addr).expect("an assigned address belongs to a slot");
        let prefix = self.limits.prefix_delegation;
        let eni = &mut self.enis[e];
        let slot = &mut eni.slots[s];
        let bit = 1u16 << (addr - slot.base);
        assert!(slot.assigned & bit != 0 && slot.cooling & bit == 0);
        slot.assigned &= !bit;
        slot.cooling |= bit;
        eni.assigned -= 1;
        self.stats.assigned -= 1;
        if prefix && slot.assigned == 0 {
            self.stats.free_prefixes += 1;
        }
        self.cooling.push((addr, now_ns + IP_COOLDOWN_NS));
        Some(addr)
    }

    /// Adds new slots to ENI `e` (kept sorted) and counts them.
    pub(crate) fn add_slots(&mut self, e: usize, bases: &[u32]) {
        let prefix = self.limits.prefix_delegation;
        let size = self.limits.slot_size;
        let eni = &mut self.enis[e];
        for &base in bases {
            let at = eni.slots.partition_point(|s| s.base < base);
            eni.slots.insert(
                at,
                Slot {
                    base,
                    assigned: 0,
                    cooling: 0,
                },
            );
            self.stats.total_ips += size;
            if prefix {
                self.stats.total_prefixes += 1;
                self.stats.free_prefixes += 1;
            }
        }
        assert!(
            eni.slots.len() as u32 <= self.limits.slots_per_eni,
            "ENI over its slot limit"
        );
    }

    /// Removes slot `s` of ENI `e` (no pod on it) and returns its base address.
    pub(crate) fn remove_slot(&mut self, e: usize, s: usize) -> u32 {
        let size = self.limits.slot_size;
        let slot = self.enis[e].slots.remove(s);
        assert_eq!(slot.assigned, 0, "freeing a slot with pods");
        if slot.cooling != 0 {
            self.cooling.retain(|&(a, _)| a < slot.base || a >= slot.base + size);
        }
        self.stats.total_ips -= size;
        if self.limits.prefix_delegation {
            self.stats.total_prefixes -= 1;
            self.stats.free_prefixes -= 1;
        }
        slot.base
    }

    /// Puts every address of slot bases back into the subnet.
    pub(crate) fn return_to_subnet(&self, subnets: &mut Subnets, subnet: SubnetIdx, bases: &[u32]) {
        for &b in bases {
            if self.limits.prefix_delegation {
                subnets.release_prefix(subnet, b);
            } else {
                subnets.release_address(subnet, b);
            }
        }
    }

    /// The lowest device index no ENI (attached or attaching) uses (`awsGetFreeDeviceNumber`).
    pub(crate) fn free_device(&self) -> u32 {
        let used = |d: u32| {
            self.enis.iter().any(|e| e.device == d) || self.pending.as_ref().is_some_and(|p| p.eni.device == d)
        };
        (0..).find(|&d| !used(d)).expect("a free device index exists")
    }

    pub(crate) fn insert_eni(&mut self, eni: Eni) {
        let at = self.enis.partition_point(|e| e.device < eni.device);
        let prefix = self.limits.prefix_delegation;
        self.stats.total_ips += eni.slots.len() as u32 * self.limits.slot_size;
        if prefix {
            self.stats.total_prefixes += eni.slots.len() as u32;
            self.stats.free_prefixes += eni.slots.len() as u32;
        }
        self.enis.insert(at, eni);
    }

    /// The ENI became ready: into the datastore, and the pool loop resumes.
    pub(crate) fn complete_attach(&mut self, now_ns: u64) {
        let Some(p) = self.pending.take_if(|p| p.ready_ns <= now_ns) else {
            return;
        };
        let mut eni = p.eni;
        eni.added_ns = p.ready_ns;
        self.insert_eni(eni);
        self.next_tick_ns = p.ready_ns + p.resume_after_ns;
    }

    pub(crate) fn snapshot(&self, subnets: &Subnets) -> NodeSnapshot {
        let size = self.limits.slot_size;
        let len = if size == 16 { 28 } else { 32 };
        let eni_view = |e: &Eni| EniSnapshot {
            device: e.device,
            subnet: subnets.spec(e.subnet).name.clone(),
            address: Ipv4Addr::from(e.address),
            primary: e.primary,
            trunk: e.trunk,
            slots: e
                .slots
                .iter()
                .map(|s| {
                    let net = Ipv4Net::new(Ipv4Addr::from(s.base), len).expect("valid length");
                    (net, s.assigned.count_ones())
                })
                .collect(),
        };
        NodeSnapshot {
            enis: self.enis.iter().map(eni_view).collect(),
            attaching: self.pending.as_ref().map(|p| eni_view(&p.eni)),
            stats: self.stats,
            cooling: self.cooling.len() as u32,
            branch_pods: self.branch_pods.len() as u32,
            ec2: self.ec2,
        }
    }

    /// Recounts everything from scratch and checks the counters and limits; panics on a breach.
    pub fn check_invariants(&self) {
        let size = self.limits.slot_size;
        let mask = self.slot_mask();
        let mut s = PoolStats::default();
        let mut cooling = 0;
        assert!(
            self.enis.windows(2).all(|w| w[0].device < w[1].device),
            "ENIs out of device order"
        );
        let held = self.enis.len() + usize::from(self.pending.is_some());
        assert!(held as u32 <= self.limits.max_enis, "more ENIs than the limit");
        for eni in &self.enis {
            assert!(eni.slots.len() as u32 <= self.limits.slots_per_eni);
            assert!(eni.slots.windows(2).all(|w| w[0].base + size <= w[1].base));
            let mut on_eni = 0;
            for slot in &eni.slots {
                assert_eq!(slot.assigned & !mask, 0);
                assert_eq!(slot.assigned & slot.cooling, 0, "an address both assigned and cooling");
                on_eni += slot.assigned.count_ones();
                cooling += slot.cooling.count_ones();
                s.total_ips += size;
                if self.limits.prefix_delegation {
                    s.total_prefixes += 1;
                    s.free_prefixes += u32::from(slot.assigned == 0);
                }
            }
            assert_eq!(on_eni, eni.assigned, "ENI pod count");
            s.assigned += on_eni;
            assert!(
                !eni.trunk || eni.slots.is_empty(),
                "a trunk ENI holds no pool addresses"
            );
        }
        assert_eq!(s, self.stats, "incremental counters drifted");
        assert_eq!(cooling as usize, self.cooling.len());
        assert_eq!(self.pods.len() as u32, self.stats.assigned);
        assert!(self.pod_count() <= self.limits.max_pods, "more pods than max pods");
        assert!(self.pending.is_some() || self.next_tick_ns != u64::MAX);
        let _ = POOL_TICK_NS;
    }
}
