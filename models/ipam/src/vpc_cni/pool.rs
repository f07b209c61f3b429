//! ipamd's pool manager: one `updateIPPoolIfRequired` pass per tick, as timed behaviour.
//!
//! Owns the decisions (pool too low, too high, ENI to free) and the EC2 actions they cause. The
//! rules are facts of pkg/ipamd/ipamd.go and pkg/ipamd/datastore/data_store.go:
//! - Too low: never once total addresses reach max pods. With WARM_IP_TARGET/MINIMUM_IP_TARGET
//!   set, low means "short" > 0 (short = max(warm − available, minimum − total), in /28s with
//!   prefix delegation). Otherwise available < WARM_ENI_TARGET × addresses per ENI, or, with
//!   prefix delegation, available < WARM_PREFIX_TARGET × 16 (or none available at target 0).
//! - Growing: first more slots on the first ENI with room (one AssignPrivateIpAddresses; on an
//!   insufficient-address error one retry for a single slot), else a new ENI if the ENI limit
//!   allows. An insufficient-address error stops all growth for 120 s.
//! - Shrinking (only with IP targets, or prefix delegation): at most every 30 s, slots with no
//!   pod (cooling ones included) beyond the targets, ENI by ENI.
//! - Freeing an ENI: the first one that is not primary or trunk, at least 60 s old, with no pod
//!   and no cooling address, and not needed for WARM_IP_TARGET / MINIMUM_IP_TARGET /
//!   WARM_PREFIX_TARGET.

use super::config::{
    IpamdConfig, DECREASE_INTERVAL_NS, ENI_ATTACH_LATENCY_NS, INSUFFICIENT_CIDR_COOLDOWN_NS, MIN_ENI_LIFETIME_NS,
    POOL_TICK_NS,
};
use super::node::{Eni, NodeIpam, PendingEni};
use crate::max_pods::IPS_PER_PREFIX;
use crate::subnet::{Ec2Error, SubnetIdx, Subnets};

fn div_ceil(x: i64, y: i64) -> i64 {
    (x + y - 1).div_euclid(y)
}

/// Runs whatever is due at `now_ns` on one node: an ENI attach completing, then a pool tick.
/// Returns true when a tick ran.
pub(crate) fn reconcile(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig, now_ns: u64) -> bool {
    node.expire_cooling(now_ns);
    node.complete_attach(now_ns);
    if node.pending.is_some() || now_ns < node.next_tick_ns {
        return false;
    }
    tick(node, subnets, cfg, now_ns);
    node.next_tick_ns = if node.pending.is_some() {
        u64::MAX // set when the attach completes
    } else {
        now_ns + POOL_TICK_NS
    };
    true
}

/// (short, over) against WARM_IP_TARGET / MINIMUM_IP_TARGET, in addresses or, with prefix
/// delegation, in prefixes (ipamd `datastoreTargetState`). None when neither target is set.
pub(crate) fn target_state(node: &NodeIpam, cfg: &IpamdConfig) -> Option<(i64, i64)> {
    if !cfg.ip_targets_defined() {
        return None;
    }
    let s = node.stats;
    let (warm, min) = (i64::from(cfg.warm_ip_target), i64::from(cfg.minimum_ip_target));
    let (total, available) = (i64::from(s.total_ips), i64::from(s.available()));
    let short = (warm - available).max(0).max(min - total);
    let over = (available - warm).max(0).min(total - min).max(0);
    if !node.limits.prefix_delegation {
        return Some((short, over));
    }
    let per = i64::from(IPS_PER_PREFIX);
    let short_prefixes = div_ceil(short, per);
    let for_warm = div_ceil(i64::from(s.assigned) + warm, per);
    let for_min = div_ceil(min, per);
    let prefixes = i64::from(s.total_prefixes);
    let over_prefixes = i64::from(s.free_prefixes)
        .min(prefixes - for_warm)
        .max(0)
        .min(prefixes - for_min)
        .max(0);
    Some((short_prefixes, over_prefixes))
}

pub(crate) fn pool_too_low(node: &NodeIpam, cfg: &IpamdConfig) -> bool {
    let s = node.stats;
    if s.total_ips >= node.limits.max_pods {
        return false;
    }
    if let Some((short, _)) = target_state(node, cfg) {
        return short > 0;
    }
    let (warm, per) = if node.limits.prefix_delegation {
        (cfg.warm_prefix_target, IPS_PER_PREFIX)
    } else {
        (cfg.warm_eni_target, node.limits.ips_per_eni())
    };
    let available = s.available();
    available < per * warm || (warm == 0 && available == 0)
}

pub(crate) fn pool_too_high(node: &NodeIpam, cfg: &IpamdConfig) -> bool {
    if let Some((_, over)) = target_state(node, cfg) {
        return over > 0;
    }
    node.limits.prefix_delegation && node.stats.free_prefixes > cfg.warm_prefix_target
}

fn tick(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig, now: u64) {
    if pool_too_low(node, cfg) {
        increase(node, subnets, cfg, now);
    } else if pool_too_high(node, cfg) && node.last_decrease_ns.is_none_or(|t| now - t > DECREASE_INTERVAL_NS) {
        decrease(node, subnets, cfg);
        node.last_decrease_ns = Some(now);
    }
    if should_remove_extra_enis(node, cfg) {
        try_free_eni(node, subnets, cfg, now);
    }
}

/// Growth at node start (ipamd `handlePreScaling`), before the first tick.
pub(crate) fn prescale(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig, now: u64) {
    if pool_too_low(node, cfg) {
        increase(node, subnets, cfg, now);
    }
}

fn increase(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig, now: u64) {
    if node
        .last_insufficient_ns
        .is_some_and(|t| now - t <= INSUFFICIENT_CIDR_COOLDOWN_NS)
    {
        return;
    }
    match try_assign_slots(node, subnets, cfg) {
        Err(_) => node.last_insufficient_ns = Some(now),
        Ok(true) => {}
        Ok(false) => {
            if (node.enis.len() as u32) < node.limits.max_enis {
                try_allocate_eni(node, subnets, cfg, now);
            }
        }
    }
}

/// Slots to ask for: ipamd `getPrefixesNeeded` with prefix delegation.
fn prefixes_needed(node: &NodeIpam, cfg: &IpamdConfig) -> u32 {
    match target_state(node, cfg) {
        Some((short, _)) => short.max(1) as u32,
        None => cfg.warm_prefix_target.saturating_sub(node.stats.free_prefixes).max(1),
    }
}

/// More slots on an existing ENI (ipamd `tryAssignIPs` / `tryAssignPrefixes`).
fn try_assign_slots(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig) -> Result<bool, Ec2Error> {
    let slots = node.limits.slots_per_eni;
    let to_allocate = if node.limits.prefix_delegation {
        prefixes_needed(node, cfg)
    } else {
        match target_state(node, cfg) {
            Some((0, _)) => return Ok(false),
            Some((short, _)) => short as u32,
            None => slots,
        }
    };
    let mut got = Vec::new();
    for e in 0..node.enis.len() {
        let eni = &node.enis[e];
        if (node.custom_networking && eni.primary) || eni.trunk || eni.slots.len() as u32 >= slots {
            continue;
        }
        let (subnet, want) = (eni.subnet, (slots - eni.slots.len() as u32).min(to_allocate));
        got.clear();
        node.ec2.assign_private_ip_addresses += 1;
        if let Err(err) = take_slots(node, subnets, subnet, want, &mut got) {
            node.ec2.record_error(&err);
            node.ec2.assign_private_ip_addresses += 1;
            if let Err(err) = take_slots(node, subnets, subnet, 1, &mut got) {
                node.ec2.record_error(&err);
                if cfg.subnet_discovery {
                    continue;
                }
                return Err(err);
            }
        }
        node.add_slots(e, &got);
        return Ok(true);
    }
    Ok(false)
}

fn take_slots(
    node: &NodeIpam,
    subnets: &mut Subnets,
    subnet: SubnetIdx,
    n: u32,
    out: &mut Vec<u32>,
) -> Result<(), Ec2Error> {
    if node.limits.prefix_delegation {
        subnets.take_prefixes(subnet, n, out)
    } else {
        subnets.take_addresses(subnet, n, out)
    }
}

/// A new ENI with its first slots (ipamd `tryAllocateENI`, awsutils `AllocENI`).
fn try_allocate_eni(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig, now: u64) {
    let slots = node.limits.slots_per_eni;
    let want = if node.limits.prefix_delegation {
        prefixes_needed(node, cfg).min(slots)
    } else {
        match target_state(node, cfg) {
            Some((short, _)) => (short as u32).min(slots),
            None => slots,
        }
    };
    if want == 0 {
        return;
    }
    let candidates: Vec<SubnetIdx> = if node.custom_networking {
        // No ENIConfig for this AZ: ipamd logs "Failed to get pod ENI config" and makes no call.
        node.pod_subnet.into_iter().collect()
    } else if cfg.subnet_discovery {
        node.ec2.describe_subnets += 1;
        subnets.discovery_order(&node.az, node.subnet)
    } else {
        vec![node.subnet]
    };
    let mut last_err = None;
    let mut created = None;
    for subnet in candidates {
        node.ec2.create_network_interface += 1;
        let mut own = Vec::with_capacity(1);
        if let Err(err) = subnets.take_addresses(subnet, 1, &mut own) {
            node.ec2.record_error(&err);
            last_err = Some(err);
            continue;
        }
        let mut got = Vec::new();
        match take_slots(node, subnets, subnet, want, &mut got) {
            Ok(()) => {
                created = Some((subnet, own[0], got));
                break;
            }
            Err(err) => {
                subnets.release_address(subnet, own[0]);
                node.ec2.record_error(&err);
                last_err = Some(err);
            }
        }
    }
    let Some((subnet, address, bases)) = created else {
        if last_err.is_some() {
            node.last_insufficient_ns = Some(now);
        }
        return;
    };
    node.ec2.describe_instances += 1;
    node.ec2.attach_network_interface += 1;
    node.ec2.modify_network_interface_attribute += 1;
    let mut eni = Eni {
        device: node.free_device(),
        subnet,
        address,
        primary: false,
        trunk: false,
        added_ns: u64::MAX,
        slots: Vec::with_capacity(slots as usize),
        assigned: 0,
    };
    eni.slots.extend(bases.iter().map(|&base| super::node::Slot {
        base,
        assigned: 0,
        cooling: 0,
    }));
    eni.slots.sort_by_key(|s| s.base);
    node.pending = Some(PendingEni {
        eni,
        ready_ns: now + ENI_ATTACH_LATENCY_NS,
        resume_after_ns: POOL_TICK_NS,
    });
}

/// Frees slots with no pod beyond the targets (ipamd `tryUnassignCidrsFromAll`).
fn decrease(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig) {
    let mut over = match target_state(node, cfg) {
        Some((_, over)) => over,
        None => i64::from(node.stats.free_prefixes.saturating_sub(cfg.warm_prefix_target)),
    };
    let mut e = 0;
    while over > 0 && e < node.enis.len() {
        let mut freed = Vec::new();
        let mut s = 0;
        while (freed.len() as i64) < over && s < node.enis[e].slots.len() {
            if node.enis[e].slots[s].assigned == 0 {
                freed.push(node.remove_slot(e, s));
            } else {
                s += 1;
            }
        }
        if !freed.is_empty() {
            node.ec2.unassign_private_ip_addresses += 1;
            let subnet = node.enis[e].subnet;
            node.return_to_subnet(subnets, subnet, &freed);
            over -= freed.len() as i64;
        }
        e += 1;
    }
}

fn should_remove_extra_enis(node: &NodeIpam, cfg: &IpamdConfig) -> bool {
    if cfg.ip_targets_defined() {
        return true;
    }
    let warm = if node.limits.prefix_delegation {
        cfg.warm_prefix_target
    } else {
        cfg.warm_eni_target
    };
    if node.stats.available() >= (warm + 1) * node.limits.ips_per_eni() {
        return true;
    }
    node.limits.prefix_delegation && node.enis.iter().any(|e| !e.primary && !e.trunk && e.assigned == 0)
}

/// Frees at most one ENI (ipamd `tryFreeENI`, datastore `getDeletableENI`).
fn try_free_eni(node: &mut NodeIpam, subnets: &mut Subnets, cfg: &IpamdConfig, now: u64) {
    let size = node.limits.slot_size;
    let per = IPS_PER_PREFIX;
    let round = |t: u32| {
        if node.limits.prefix_delegation {
            t.div_ceil(per) * per
        } else {
            t
        }
    };
    let others = |skip: usize, f: &dyn Fn(&super::node::Slot) -> u32| -> u32 {
        node.enis
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .flat_map(|(_, e)| e.slots.iter())
            .map(f)
            .sum()
    };
    let deletable = (0..node.enis.len()).find(|&i| {
        let e = &node.enis[i];
        if e.primary || e.trunk || now - e.added_ns < MIN_ENI_LIFETIME_NS || e.assigned != 0 {
            return false;
        }
        if e.slots.iter().any(|s| s.cooling != 0) {
            return false;
        }
        let warm_ip = cfg.warm_ip_target;
        if warm_ip != 0 && others(i, &|s| size - s.assigned.count_ones()) < round(warm_ip) {
            return false;
        }
        let min_ip = cfg.minimum_ip_target;
        if min_ip != 0 && others(i, &|_| size) < round(min_ip) {
            return false;
        }
        let warm_prefix = cfg.warm_prefix_target;
        if node.limits.prefix_delegation && warm_prefix != 0 && others(i, &|s| u32::from(s.assigned == 0)) < warm_prefix
        {
            return false;
        }
        true
    });
    let Some(i) = deletable else {
        return;
    };
    let eni = node.enis.remove(i);
    node.stats.total_ips -= eni.slots.len() as u32 * size;
    if node.limits.prefix_delegation {
        node.stats.total_prefixes -= eni.slots.len() as u32;
        node.stats.free_prefixes -= eni.slots.len() as u32;
    }
    let bases: Vec<u32> = eni.slots.iter().map(|s| s.base).collect();
    node.return_to_subnet(subnets, eni.subnet, &bases);
    subnets.release_address(eni.subnet, eni.address);
    node.ec2.describe_network_interfaces += 1;
    node.ec2.detach_network_interface += 1;
    node.ec2.delete_network_interface += 1;
}
