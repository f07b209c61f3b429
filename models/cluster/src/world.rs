//! The world: the cluster a scenario describes, built once per variant and read by the packet
//! path. Nodes get their subnet address and pod CIDR, pods get their node and address, and the
//! VPC route tables get their routes.
//!
//! Nodes go in their group's subnets round-robin and take subnet addresses in order from the
//! first AWS leaves usable (`.4`). Nodes are named `GROUP-N`, pods `WORKLOAD-N`. Nodes a
//! scale event adds later are here too, not joined yet (`world::launch`).
//!
//! The world is the cluster at t=0. With the AWS VPC CNI, nodes join and the first pods ask
//! for addresses at t=0; pods the warm pool cannot address yet stay ContainerCreating, and the
//! replicas a later scale event creates are in the pod table as `NotCreated`, as the nodes a
//! later scale event launches are in the node table with their `launch`. What changes
//! after t=0 lives in the run (`sim::pods`), never here.

pub mod ipam;
pub mod launch;
pub mod terminate;

use crate::calibration::NODE_JOIN_LATENCY;
use crate::lpm::Lpm;
use crate::placement::{place_workload, Placement, Slot};
use crate::scenario::events;
use crate::scenario::format::{Labels, NetworkMode, RouteTarget, ScaleTarget, Scenario, SubnetKind};
use crate::scenario::refs::{self, PodSet};
use cnsim_ipam::{InstanceCatalog, NodeJoin};
use ipam::IpamState;
use ipnet::Ipv4Net;
pub use launch::NodeLaunch;
use rustc_hash::FxHashMap;
use sim_core::Bandwidth;
use std::net::Ipv4Addr;
pub use terminate::NodeLeave;

pub type NodeId = u32;
pub type PodId = u32;

/// kubelet's default --max-pods.
pub const KUBELET_DEFAULT_MAX_PODS: u32 = 110;

/// Where a VPC route table sends a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpcTarget {
    /// The implicit local route: an ENI in the VPC owns the address.
    Local,
    /// A pod CIDR routed to a node's ENI (host-local underlay).
    NodeEni(NodeId),
    InternetGateway,
    NatGateway(u16),
    Blackhole,
}

#[derive(Clone, Debug)]
pub struct SubnetInfo {
    pub name: String,
    pub az: u16,
    pub cidr: Ipv4Net,
    pub route_table: u16,
    /// `kind: Public`: instances launched here get a public IPv4 address (assumption: the
    /// subnet maps public addresses on launch, as EKS requires of public node subnets).
    pub public: bool,
}

/// A NAT gateway: its subnet and the private address of its ENI (the subnet's highest usable
/// address, so it never meets the nodes, which count up from `.4`).
#[derive(Clone, Debug)]
pub struct NatGatewayInfo {
    pub name: String,
    pub subnet: u16,
    pub az: u16,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Debug)]
pub struct VpcRouteTable {
    pub name: String,
    pub routes: Lpm<VpcTarget>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub group: usize,
    pub instance_type: String,
    pub az: u16,
    pub subnet: u16,
    pub ip: Ipv4Addr,
    pub max_pods: u32,
    /// `vpc.amazonaws.com/pod-eni`: branch ENIs the VPC resource controller advertises with
    /// ENABLE_POD_ENI (instance_limits.csv `branch_enis`); 0 otherwise.
    pub pod_eni: u32,
    pub bandwidth: Bandwidth,
    pub labels: Labels,
    pub pod_cidr: Option<Ipv4Net>,
    /// Why the node has no pod CIDR, if it has none.
    pub ipam_error: Option<String>,
    pub pods: Vec<PodId>,
    /// None for a node in the cluster at t=0; for one a scale event adds, when it joins
    /// (`world::launch`).
    pub launch: Option<NodeLaunch>,
    /// For a node a scale event removes: when it is drained and when it leaves
    /// (`world::terminate`).
    pub leave: Option<NodeLeave>,
}

impl Node {
    /// The node is in the cluster at t=0 (else a scale event launches it during the run).
    pub fn joined_at_start(&self) -> bool {
        self.launch.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodPhase {
    Running,
    Pending {
        reason: String,
    },
    /// A replica that only a later scale event creates.
    NotCreated,
}

#[derive(Clone, Debug)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub workload: usize,
    pub replica: u32,
    pub node: Option<NodeId>,
    pub ip: Option<Ipv4Addr>,
    pub phase: PodPhase,
}

#[derive(Clone, Debug)]
pub struct World {
    pub azs: Vec<String>,
    pub subnets: Vec<SubnetInfo>,
    /// Table 0 is the main table.
    pub route_tables: Vec<VpcRouteTable>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    /// Pods of each workload in replica order.
    pub workload_pods: Vec<Vec<PodId>>,
    pub mode: NetworkMode,
    pub mtu: u32,
    pub ipam: &'static str,
    /// The cluster CIDR pods are addressed from (kube-proxy's local-traffic detector).
    pub cluster_cidr: Ipv4Net,
    pod_by_ip: FxHashMap<u32, PodId>,
    node_by_ip: FxHashMap<u32, NodeId>,
    /// Pod prefixes → node: the overlay's VTEP table, and how a node knows a local pod.
    pod_prefixes: Lpm<NodeId>,
    /// Pod addresses are VPC addresses (the AWS VPC CNI): the VPC's local route finds them,
    /// and a node knows its pods one by one rather than by a pod CIDR.
    pub vpc_pod_addresses: bool,
    /// The IPAM engine after t=0; a run with timed IPAM continues from a clone of it.
    pub ipam_start: IpamState,
    pub nat_gateways: Vec<NatGatewayInfo>,
    /// Which pod traffic nodes masquerade to their own address (`sim::egress`).
    pub snat: cnsim_ipam::SnatPolicy,
}

impl World {
    /// Builds the world of a validated scenario. Panics only on a scenario validation accepts
    /// but this cannot build, which is a bug in validation.
    pub fn build(s: &Scenario) -> World {
        let catalog = InstanceCatalog::embedded();
        let mut ipam = IpamState::new(s);
        // kube-proxy's local-traffic detector: host-local's cluster CIDR; with the VPC CNI, pod
        // addresses are VPC addresses (assumption: EKS's kube-proxy uses the VPC's primary CIDR).
        let cluster_cidr = s.network.ipam.host_local_cidr().unwrap_or(s.vpc.cidr);
        let vpc_pod_addresses = s.network.ipam.is_vpc_cni();

        let subnets: Vec<SubnetInfo> = s
            .vpc
            .subnets
            .iter()
            .map(|x| SubnetInfo {
                name: x.name.clone(),
                az: s.vpc.azs.iter().position(|a| *a == x.az).expect("validated") as u16,
                cidr: x.cidr,
                route_table: 0,
                public: x.kind == SubnetKind::Public,
            })
            .collect();
        let vpc_cidrs: Vec<Ipv4Net> = std::iter::once(s.vpc.cidr)
            .chain(s.vpc.secondary_cidrs.iter().copied())
            .collect();
        let nat_gateways = nat_gateways(s, &subnets);
        if let IpamState::VpcCni(v) = &mut ipam {
            for g in &nat_gateways {
                v.reserve_node_address(g.ip)
                    .expect("validation leaves a NAT gateway's subnet room for it");
            }
        }
        let mut world = World {
            azs: s.vpc.azs.clone(),
            subnets,
            route_tables: Vec::new(),
            nodes: Vec::new(),
            pods: Vec::new(),
            workload_pods: vec![Vec::new(); s.workloads.len()],
            mode: s.network.mode,
            mtu: crate::calibration::pod_mtu(&s.network),
            ipam: ipam.name(),
            cluster_cidr,
            pod_by_ip: FxHashMap::default(),
            node_by_ip: FxHashMap::default(),
            pod_prefixes: Lpm::new(),
            vpc_pod_addresses,
            ipam_start: ipam.clone(),
            nat_gateways,
            snat: s.network.ipam.snat_policy(&vpc_cidrs),
        };

        // Nodes: subnet addresses (those at t=0 from `.4` up, launched ones from the top down,
        // in launch order), then a pod CIDR from IPAM.
        let launches = events::node_launches(s);
        let mut next_host = vec![4u32; world.subnets.len()];
        let mut addressed = Vec::new();
        for (gi, g) in s.node_groups.iter().enumerate() {
            let group_subnets = refs::group_subnets(s, g);
            for (k, launch) in launches[gi].iter().enumerate() {
                let sn = group_subnets[k % group_subnets.len()];
                let ip = launch.is_none().then(|| {
                    next_host[sn] += 1;
                    Ipv4Addr::from(u32::from(world.subnets[sn].cidr.network()) + next_host[sn] - 1)
                });
                addressed.push((gi, k, sn, ip));
            }
        }
        // Below the NAT gateways, which hold the very top.
        let mut next_top: Vec<u32> = world
            .subnets
            .iter()
            .map(|x| u32::from(x.cidr.broadcast()) - 1)
            .collect();
        for g in &world.nat_gateways {
            next_top[g.subnet as usize] -= 1;
        }
        for e in events::in_run_order(s) {
            for a in addressed.iter_mut().filter(|a| launches[a.0][a.1] == Some(e)) {
                a.3 = Some(Ipv4Addr::from(next_top[a.2]));
                next_top[a.2] -= 1;
            }
        }
        if let IpamState::VpcCni(v) = &mut ipam {
            // EC2 gives every instance its address at launch, before any ipamd fills a pool.
            for &(gi, k, _, ip) in &addressed {
                if launches[gi][k].is_none() {
                    v.reserve_node_address(ip.expect("addressed"))
                        .expect("node addresses are distinct and inside their subnet");
                }
            }
        }
        for (gi, k, sn, ip) in addressed {
            let g = &s.node_groups[gi];
            let instance = catalog.get(&g.instance_type).expect("validated");
            let ip = ip.expect("every node is addressed");
            let launch = launches[gi][k].map(|e| NodeLaunch {
                event: e as u32,
                ready_at: s.events[e].at + NODE_JOIN_LATENCY,
            });
            let id = world.nodes.len() as NodeId;
            let name = format!("{}-{k}", g.name);
            let join = NodeJoin {
                node: id,
                name: &name,
                instance,
                primary_ip: ip,
                subnet: world.subnets[sn].cidr,
            };
            // A launched node joins during the run (`sim::ipamd`); host-local's CIDR for it is
            // planned below.
            let (pod_cidr, ipam_error) = match launch {
                Some(_) => (None, None),
                None => match ipam.engine().add_node(&join, 0) {
                    Ok(a) => (a.pod_prefixes.first().copied(), None),
                    Err(e) => (None, Some(e.to_string())),
                },
            };
            if let Some(c) = pod_cidr {
                world.pod_prefixes.insert(c, id);
            }
            world.node_by_ip.insert(u32::from(ip), id);
            world.nodes.push(Node {
                name,
                group: gi,
                instance_type: g.instance_type.clone(),
                az: world.subnets[sn].az,
                subnet: sn as u16,
                ip,
                max_pods: g.max_pods.unwrap_or_else(|| ipam.default_max_pods(instance)),
                pod_eni: if s.network.ipam.pod_eni() {
                    instance.branch_enis.unwrap_or(0)
                } else {
                    0
                },
                bandwidth: g.bandwidth.unwrap_or(s.fabric.eni_bandwidth),
                labels: g.labels.clone(),
                pod_cidr,
                ipam_error,
                pods: Vec::new(),
                launch,
                leave: None,
            });
        }
        launch::plan_host_local_cidrs(&mut world, &ipam);
        terminate::plan(s, &mut world);

        world.build_route_tables(s);
        world.place_pods(s, &mut ipam);
        world.ipam_start = ipam;
        world
    }

    /// Whether `node` can address pods at all: a pod CIDR (host-local), or a VPC CNI that took
    /// the node (its pool may still be empty).
    pub fn node_addressable(&self, node: NodeId) -> bool {
        let n = &self.nodes[node as usize];
        n.pod_cidr.is_some() || (self.vpc_pod_addresses && n.ipam_error.is_none())
    }

    fn build_route_tables(&mut self, s: &Scenario) {
        let mut tables = vec![VpcRouteTable {
            name: "main".into(),
            routes: Lpm::new(),
        }];
        for t in &s.vpc.route_tables {
            let mut routes = Lpm::new();
            for r in &t.routes {
                let target = match &r.target {
                    RouteTarget::InternetGateway => VpcTarget::InternetGateway,
                    RouteTarget::NatGateway(n) => VpcTarget::NatGateway(
                        s.vpc.nat_gateways.iter().position(|g| &g.name == n).expect("validated") as u16,
                    ),
                    RouteTarget::Blackhole => VpcTarget::Blackhole,
                };
                routes.insert(r.destination, target);
            }
            let index = tables.len() as u16;
            for name in &t.subnets {
                let sn = self.subnets.iter().position(|x| &x.name == name).expect("validated");
                self.subnets[sn].route_table = index;
            }
            tables.push(VpcRouteTable {
                name: t.name.clone(),
                routes,
            });
        }
        for t in &mut tables {
            // The local route: AWS adds it to every table and it cannot be removed.
            for c in std::iter::once(&s.vpc.cidr).chain(&s.vpc.secondary_cidrs) {
                t.routes.insert(*c, VpcTarget::Local);
            }
            // Host-local underlay: one route per node's pod CIDR (kubenet-style cloud routes).
            if self.mode == NetworkMode::Underlay {
                for (id, n) in self.nodes.iter().enumerate() {
                    if let Some(c) = n.pod_cidr {
                        t.routes.insert(c, VpcTarget::NodeEni(id as NodeId));
                    }
                }
            }
        }
        self.route_tables = tables;
    }

    fn place_pods(&mut self, s: &Scenario, ipam: &mut IpamState) {
        let mut used = vec![0u32; self.nodes.len()];
        let mut most: Vec<u32> = s.workloads.iter().map(|w| w.replicas).collect();
        for e in &s.events {
            if let Some(ScaleTarget::Workload { scale, replicas }) = e.target() {
                if let Ok(PodSet::Workload(w)) = refs::pod_set(s, scale) {
                    most[w] = most[w].max(replicas);
                }
            }
        }
        let branch = s.network.ipam.branch_workloads(&s.workloads);
        let mut pod_eni_used = vec![0u32; self.nodes.len()];
        for (wi, w) in s.workloads.iter().enumerate() {
            let slots: Vec<Slot> = (0..self.nodes.len())
                .map(|id| (id, &self.nodes[id]))
                .map(|(id, n)| Slot {
                    zone: n.az as usize,
                    max_pods: n.max_pods,
                    joined: n.joined_at_start(),
                    cordoned: false,
                    has_pod_cidr: self.node_addressable(id as NodeId),
                    selector_ok: w.node_selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)),
                    pod_eni_free: branch[wi].then(|| n.pod_eni - pod_eni_used[id]),
                })
                .collect();
            for (replica, placement) in place_workload(&slots, &mut used, self.azs.len(), w.replicas)
                .into_iter()
                .enumerate()
            {
                if let (Placement::Node(n), true) = (&placement, branch[wi]) {
                    pod_eni_used[*n] += 1;
                }
                let id = self.pods.len() as PodId;
                let mut pod = Pod {
                    name: format!("{}-{replica}", w.name),
                    namespace: w.namespace.clone(),
                    workload: wi,
                    replica: replica as u32,
                    node: None,
                    ip: None,
                    phase: PodPhase::Running,
                };
                match placement {
                    Placement::Node(n) => {
                        pod.node = Some(n as NodeId);
                        match ipam.assign(n as NodeId, id, 0, branch[wi]) {
                            Ok(ip) => {
                                pod.ip = Some(ip);
                                self.pod_by_ip.insert(u32::from(ip), id);
                                self.nodes[n].pods.push(id);
                            }
                            // The sandbox has no network (yet): kubelet reports the CNI error. With
                            // host-local it never will; the VPC CNI's run retries it.
                            Err(e) if self.vpc_pod_addresses => {
                                pod.phase = PodPhase::Pending {
                                    reason: ipam::sandbox_reason(&e),
                                }
                            }
                            Err(e) => {
                                pod.phase = PodPhase::Pending {
                                    reason: format!("ContainerCreating: failed to set up sandbox network: {e}"),
                                }
                            }
                        }
                    }
                    Placement::Pending(reason) => pod.phase = PodPhase::Pending { reason },
                }
                self.workload_pods[wi].push(id);
                self.pods.push(pod);
            }
            for replica in w.replicas..most[wi] {
                self.workload_pods[wi].push(self.pods.len() as PodId);
                self.pods.push(Pod {
                    name: format!("{}-{replica}", w.name),
                    namespace: w.namespace.clone(),
                    workload: wi,
                    replica,
                    node: None,
                    ip: None,
                    phase: PodPhase::NotCreated,
                });
            }
        }
    }

    /// The NAT gateway whose ENI holds `ip`.
    pub fn nat_by_ip(&self, ip: Ipv4Addr) -> Option<u16> {
        self.nat_gateways.iter().position(|g| g.ip == ip).map(|g| g as u16)
    }

    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<PodId> {
        self.pod_by_ip.get(&u32::from(ip)).copied()
    }

    pub fn node_by_ip(&self, ip: Ipv4Addr) -> Option<NodeId> {
        self.node_by_ip.get(&u32::from(ip)).copied()
    }

    /// The node of the pod addressed `ip` at t=0.
    pub fn node_of_pod(&self, ip: Ipv4Addr) -> Option<NodeId> {
        self.pod_by_ip(ip).and_then(|p| self.pods[p as usize].node)
    }

    /// The node whose pod prefixes hold `ip`.
    pub fn node_of_pod_ip(&self, ip: Ipv4Addr) -> Option<NodeId> {
        self.pod_prefixes.lookup(ip).map(|(_, n)| *n)
    }

    /// The route table of `node`'s subnet.
    pub fn route_table_of(&self, node: NodeId) -> &VpcRouteTable {
        &self.route_tables[self.subnets[self.nodes[node as usize].subnet as usize].route_table as usize]
    }

    pub fn running_pods(&self) -> usize {
        self.pods.iter().filter(|p| p.phase == PodPhase::Running).count()
    }
}

/// Each NAT gateway takes its subnet's highest usable address; a second one in the same subnet
/// the next lower (AWS reserves the last address of a subnet, the broadcast).
fn nat_gateways(s: &Scenario, subnets: &[SubnetInfo]) -> Vec<NatGatewayInfo> {
    let mut taken_from_top = vec![0u32; subnets.len()];
    s.vpc
        .nat_gateways
        .iter()
        .map(|g| {
            let sn = subnets.iter().position(|x| x.name == g.subnet).expect("validated");
            taken_from_top[sn] += 1;
            NatGatewayInfo {
                name: g.name.clone(),
                subnet: sn as u16,
                az: subnets[sn].az,
                ip: Ipv4Addr::from(u32::from(subnets[sn].cidr.broadcast()) - taken_from_top[sn]),
            }
        })
        .collect()
}
