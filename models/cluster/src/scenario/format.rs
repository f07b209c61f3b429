//! Scenario format v1: the serde types of a `.ron` scenario file.
//!
//! Owns field names, defaults and `deny_unknown_fields`; nothing here checks cross-field
//! meaning (that is `validate`). Every default cites where it comes from.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use sim_core::{Bandwidth, ByteSize, PacketRate, SimTime};
use std::collections::BTreeMap;

/// The only scenario format version this build reads.
pub const SCENARIO_VERSION: u32 = 1;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub version: u32,
    /// Defaults to the file name without its extension.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub seed: u64,
    /// Simulated time the run covers.
    #[serde(default = "default_duration")]
    pub duration: SimTime,
    pub vpc: Vpc,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub fabric: Fabric,
    pub node_groups: Vec<NodeGroup>,
    /// Kubernetes manifest files or directories, relative to the scenario file, whose
    /// Namespaces, workloads (one per controller), Services and policies join the scenario's
    /// own, after them (scenario/manifest_source.rs says what is taken). Not a variant field.
    #[serde(default)]
    pub manifests: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub services: Vec<super::services::ServiceDef>,
    #[serde(default)]
    pub service_generators: Vec<super::services::ServiceGenerator>,
    #[serde(default)]
    pub kube_proxy: super::services::KubeProxy,
    #[serde(default)]
    pub traffic: Vec<Flow>,
    /// Things that happen during the run (a Deployment scaled up or down, a node group grown),
    /// in any order.
    #[serde(default)]
    pub events: Vec<ScaleEvent>,
    /// Prices the results and report use to cost the traffic.
    #[serde(default)]
    pub pricing: Pricing,
    /// NetworkPolicies (and the cluster tiers) enforced on the packet path.
    #[serde(default)]
    pub network_policy: NetworkPolicyConfig,
    /// Named overrides of the fields above, run side by side. None: one variant, "base".
    #[serde(default)]
    pub variants: Vec<Variant>,
}

fn default_duration() -> SimTime {
    SimTime::from_secs(10)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    pub cidr: Ipv4Net,
    /// Further VPC CIDRs (e.g. 100.64.0.0/16 for pod subnets under custom networking).
    #[serde(default)]
    pub secondary_cidrs: Vec<Ipv4Net>,
    pub azs: Vec<String>,
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub route_tables: Vec<RouteTable>,
    /// The internet gateway's name, if the VPC has one.
    #[serde(default)]
    pub internet_gateway: Option<String>,
    #[serde(default)]
    pub nat_gateways: Vec<NatGateway>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubnetKind {
    /// Routes to an internet gateway; load balancers and NAT gateways live here.
    Public,
    /// Nodes live here by default.
    #[default]
    Private,
    /// Addresses for pods only (custom networking).
    Pod,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    pub name: String,
    pub az: String,
    pub cidr: Ipv4Net,
    #[serde(default)]
    pub kind: SubnetKind,
}

/// An AWS route table. The local route (every VPC CIDR → local) is implicit, as in AWS.
/// Subnets in no table use the main table, which holds only the local route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    pub name: String,
    pub subnets: Vec<String>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub destination: Ipv4Net,
    pub target: RouteTarget,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteTarget {
    InternetGateway,
    NatGateway(String),
    /// Traffic to this destination is dropped (an AWS blackhole route).
    Blackhole,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatGateway {
    pub name: String,
    /// A public subnet.
    pub subnet: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub mode: NetworkMode,
    #[serde(default)]
    pub ipam: IpamConfig,
    /// The Service CIDR. Default: as EKS picks it, 172.20.0.0/16 when the VPC is inside
    /// 10.0.0.0/8, else 10.100.0.0/16.
    #[serde(default)]
    pub service_cidr: Option<Ipv4Net>,
    /// Pod interface MTU. Default: 9001 underlay (VPC jumbo frames), 8951 overlay (VXLAN's 50
    /// bytes less); see models/cluster/CALIBRATION.md.
    #[serde(default)]
    pub mtu: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// Pod addresses are routable in the VPC (AWS VPC CNI; host-local with VPC routes per node).
    #[default]
    Underlay,
    /// Pod traffic between nodes is VXLAN-encapsulated between node addresses (Flannel).
    Overlay,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpamConfig {
    /// Per-node pod CIDRs carved from `cluster_cidr` (Flannel / Calico host-local).
    HostLocal {
        #[serde(default = "default_cluster_cidr")]
        cluster_cidr: Ipv4Net,
        #[serde(default = "default_node_cidr_mask")]
        node_cidr_mask: u8,
    },
    /// The AWS VPC CNI: pod addresses are VPC addresses, taken by ipamd from the scenario's
    /// subnets through ENIs and warm pools (models/ipam). Fields are aws-node's settings, with
    /// its defaults; a target of 0 means unset, as in ipamd.
    AwsVpcCni {
        /// WARM_ENI_TARGET (aws-node default 1).
        #[serde(default = "one")]
        warm_eni_target: u32,
        /// WARM_IP_TARGET.
        #[serde(default)]
        warm_ip_target: u32,
        /// MINIMUM_IP_TARGET.
        #[serde(default)]
        minimum_ip_target: u32,
        /// WARM_PREFIX_TARGET.
        #[serde(default)]
        warm_prefix_target: u32,
        /// ENABLE_PREFIX_DELEGATION: /28 prefixes instead of secondary IPs (Nitro only).
        #[serde(default)]
        prefix_delegation: bool,
        /// MAX_ENI (default: the instance type's limit).
        #[serde(default)]
        max_eni: Option<u32>,
        /// Custom networking: one ENIConfig per AZ naming the pod subnet. Empty: off (pods
        /// take addresses from their node's subnet).
        #[serde(default)]
        eni_configs: Vec<EniConfigDef>,
        /// ENABLE_POD_ENI: security groups for pods. Every node attaches a trunk ENI (one of its
        /// ENIs, so fewer for the pool); the pods a SecurityGroupPolicy selects get a branch ENI
        /// each. Needs trunk-capable (Nitro) instance types.
        #[serde(default)]
        pod_eni: bool,
        /// SecurityGroupPolicy objects (vpcresources.k8s.aws/v1beta1), by pod labels.
        #[serde(default)]
        security_group_policies: Vec<SecurityGroupPolicyDef>,
        /// AWS_VPC_K8S_CNI_EXTERNALSNAT: false (aws-node's default) SNATs pod traffic leaving
        /// the VPC to the node's primary address; true lets the pod address leave, for a NAT
        /// gateway to translate.
        #[serde(default)]
        external_snat: bool,
        /// AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: destinations outside the VPC that keep the pod
        /// address (a peered network, say).
        #[serde(default)]
        exclude_snat_cidrs: Vec<Ipv4Net>,
    },
}

/// A SecurityGroupPolicy: the pods of `namespace` whose labels include `pod_selector` each get
/// a branch ENI with these security groups. (The CRD's podSelector is a label selector; cnsim
/// takes matchLabels, as workloads' node selectors do. Its serviceAccountSelector is not
/// modelled: scenario pods have no service accounts.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupPolicyDef {
    pub namespace: String,
    pub pod_selector: Labels,
    pub security_groups: Vec<String>,
}

impl SecurityGroupPolicyDef {
    /// Whether this policy selects the pods of `w`.
    pub fn selects(&self, w: &Workload) -> bool {
        self.namespace == w.namespace && self.pod_selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
    }
}

/// Custom networking's ENIConfig for one availability zone (named after it, as AWS advises).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EniConfigDef {
    pub az: String,
    /// A subnet of `vpc.subnets` in that AZ (usually `kind: Pod`).
    pub subnet: String,
    #[serde(default)]
    pub security_groups: Vec<String>,
}

impl IpamConfig {
    /// Host-local's cluster CIDR; None for the VPC CNI, whose pods have VPC addresses.
    pub fn host_local_cidr(&self) -> Option<Ipv4Net> {
        match self {
            IpamConfig::HostLocal { cluster_cidr, .. } => Some(*cluster_cidr),
            IpamConfig::AwsVpcCni { .. } => None,
        }
    }

    pub fn is_vpc_cni(&self) -> bool {
        matches!(self, IpamConfig::AwsVpcCni { .. })
    }

    /// ENABLE_POD_ENI: nodes attach trunk ENIs and advertise `vpc.amazonaws.com/pod-eni`.
    pub fn pod_eni(&self) -> bool {
        matches!(self, IpamConfig::AwsVpcCni { pod_eni: true, .. })
    }

    /// Per workload: whether its pods get branch ENIs (a SecurityGroupPolicy selects them).
    pub fn branch_workloads(&self, workloads: &[Workload]) -> Vec<bool> {
        let policies: &[SecurityGroupPolicyDef] = match self {
            IpamConfig::AwsVpcCni {
                pod_eni: true,
                security_group_policies,
                ..
            } => security_group_policies,
            _ => &[],
        };
        workloads
            .iter()
            .map(|w| policies.iter().any(|p| p.selects(w)))
            .collect()
    }

    /// Which pod traffic the node masquerades to its own address (`sim::egress`). The VPC CNI:
    /// aws-node's SNAT rule, for destinations outside the VPC's CIDRs and the excluded ones.
    /// Host-local: traffic leaving both the VPC and the cluster CIDR (assumption: Flannel's
    /// `--ip-masq`, Calico's `natOutgoing` and kubenet's non-masquerade CIDR all masquerade
    /// internet-bound pod traffic by default; see CALIBRATION.md "Egress").
    pub fn snat_policy(&self, vpc_cidrs: &[Ipv4Net]) -> cnsim_ipam::SnatPolicy {
        match self {
            IpamConfig::AwsVpcCni {
                external_snat,
                exclude_snat_cidrs,
                ..
            } => cnsim_ipam::SnatPolicy {
                external_snat: *external_snat,
                vpc_cidrs: vpc_cidrs.to_vec(),
                exclude_snat_cidrs: exclude_snat_cidrs.clone(),
            },
            IpamConfig::HostLocal { cluster_cidr, .. } => cnsim_ipam::SnatPolicy {
                external_snat: false,
                vpc_cidrs: vpc_cidrs.iter().copied().chain([*cluster_cidr]).collect(),
                exclude_snat_cidrs: Vec::new(),
            },
        }
    }

    /// ipamd's settings for the VPC CNI; None for host-local.
    pub fn ipamd(&self) -> Option<cnsim_ipam::IpamdConfig> {
        let IpamConfig::AwsVpcCni {
            warm_eni_target,
            warm_ip_target,
            minimum_ip_target,
            warm_prefix_target,
            prefix_delegation,
            max_eni,
            eni_configs,
            pod_eni,
            security_group_policies: _,
            external_snat: _,
            exclude_snat_cidrs: _,
        } = self
        else {
            return None;
        };
        Some(cnsim_ipam::IpamdConfig {
            warm_eni_target: *warm_eni_target,
            warm_ip_target: *warm_ip_target,
            minimum_ip_target: *minimum_ip_target,
            warm_prefix_target: *warm_prefix_target,
            prefix_delegation: *prefix_delegation,
            max_eni: *max_eni,
            eni_configs: (!eni_configs.is_empty()).then(|| {
                eni_configs
                    .iter()
                    .map(|e| cnsim_ipam::EniConfig {
                        az: e.az.clone(),
                        subnet: e.subnet.clone(),
                        security_groups: e.security_groups.clone(),
                    })
                    .collect()
            }),
            // Pods take addresses from the node's subnet (or the ENIConfig's): the scenario's
            // subnets carry no kubernetes.io/role/cni tags.
            subnet_discovery: true,
            pod_eni: *pod_eni,
            // Per node group: `NodeGroup::max_pods` caps scheduling; ipamd sizes its pool by
            // the instance's own value.
            max_pods: None,
        })
    }
}

/// Something resized at `at`, in one of two forms (validation demands exactly one):
/// - `scale: "NS/WORKLOAD", replicas: N`: a Deployment scaled (`kubectl scale`). Scaling down
///   deletes the highest-numbered replicas; scaling up creates the missing ones, which the
///   scheduler places and the CNI addresses as at start.
/// - `node_group: "NAME", count: N`: the node group's desired size set to N (an EKS managed
///   node group's `scalingConfig.desiredSize`). The new nodes launch at `at` and become Ready
///   a join latency later (`calibration::NODE_JOIN_LATENCY`); only growth is modelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleEvent {
    pub at: SimTime,
    /// `NAMESPACE/WORKLOAD`, with `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// A node group's name, with `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// What a scale event resizes, once validation has checked it has exactly one form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleTarget<'a> {
    Workload { scale: &'a str, replicas: u32 },
    NodeGroup { name: &'a str, count: u32 },
}

impl ScaleEvent {
    /// The event's form; None when it has neither or both (a validation error).
    pub fn target(&self) -> Option<ScaleTarget<'_>> {
        match (&self.scale, self.replicas, &self.node_group, self.count) {
            (Some(scale), Some(replicas), None, None) => Some(ScaleTarget::Workload { scale, replicas }),
            (None, None, Some(name), Some(count)) => Some(ScaleTarget::NodeGroup { name, count }),
            _ => None,
        }
    }
}

impl Default for IpamConfig {
    fn default() -> Self {
        IpamConfig::HostLocal {
            cluster_cidr: default_cluster_cidr(),
            node_cidr_mask: default_node_cidr_mask(),
        }
    }
}

/// Flannel's documented default network.
fn default_cluster_cidr() -> Ipv4Net {
    "10.244.0.0/16".parse().expect("constant")
}

fn default_node_cidr_mask() -> u8 {
    cnsim_ipam::DEFAULT_NODE_CIDR_MASK
}

/// VPC fabric and per-hop costs; every default is in models/cluster/CALIBRATION.md.
/// Where the policies come from and the points where CNIs differ (models/policy crate doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicyConfig {
    /// Kubernetes manifest files or directories, relative to the scenario file. Their
    /// NetworkPolicy, ClusterNetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy
    /// objects apply to the scenario's pods; other kinds are listed as warnings.
    #[serde(default)]
    pub manifests: Vec<String>,
    /// Whether ipBlock peers match pod addresses (the API's reading; Cilium: false).
    #[serde(default = "yes")]
    pub ip_block_matches_pods: bool,
}

fn yes() -> bool {
    true
}

impl Default for NetworkPolicyConfig {
    fn default() -> Self {
        NetworkPolicyConfig {
            manifests: Vec::new(),
            ip_block_matches_pods: true,
        }
    }
}

/// Prices, in US dollars; defaults are AWS's published rates (models/cluster/CALIBRATION.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// Inter-AZ data transfer, charged in each direction, per GB (10^9 bytes).
    #[serde(default = "crate::calibration::inter_az_usd_per_gb_each_way")]
    pub inter_az_usd_per_gb: f64,
    /// NAT gateway data processing, per GB (10^9 bytes) in either direction.
    #[serde(default = "crate::calibration::nat_gateway_usd_per_gb")]
    pub nat_gateway_usd_per_gb: f64,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            inter_az_usd_per_gb: crate::calibration::inter_az_usd_per_gb_each_way(),
            nat_gateway_usd_per_gb: crate::calibration::nat_gateway_usd_per_gb(),
        }
    }
}

impl Pricing {
    /// The inter-AZ rate in micro-dollars per GB, so that costs are summed in integers.
    pub fn inter_az_micro_usd_per_gb(&self) -> u64 {
        (self.inter_az_usd_per_gb * 1e6).round() as u64
    }

    /// The NAT gateway processing rate in micro-dollars per GB.
    pub fn nat_gateway_micro_usd_per_gb(&self) -> u64 {
        (self.nat_gateway_usd_per_gb * 1e6).round() as u64
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fabric {
    #[serde(default = "crate::calibration::fabric_same_az_one_way")]
    pub same_az_latency: SimTime,
    #[serde(default = "crate::calibration::fabric_cross_az_one_way")]
    pub cross_az_latency: SimTime,
    /// Node ENI bandwidth when a node group does not set its own.
    #[serde(default = "crate::calibration::eni_bandwidth_default")]
    pub eni_bandwidth: Bandwidth,
    /// Packets an ENI may hold queued for transmission before it tail-drops.
    #[serde(default = "crate::calibration::eni_tx_queue_packets")]
    pub eni_tx_queue: u32,
    /// One way between the VPC's internet gateway and a flow's external destination.
    #[serde(default = "crate::calibration::internet_one_way")]
    pub internet_latency: SimTime,
}

impl Fabric {
    /// One way across the VPC fabric between availability zones `a` and `b`.
    pub fn one_way(&self, a: u16, b: u16) -> SimTime {
        if a == b {
            self.same_az_latency
        } else {
            self.cross_az_latency
        }
    }
}

impl Default for Fabric {
    fn default() -> Self {
        Fabric {
            same_az_latency: crate::calibration::fabric_same_az_one_way(),
            cross_az_latency: crate::calibration::fabric_cross_az_one_way(),
            eni_bandwidth: crate::calibration::eni_bandwidth_default(),
            eni_tx_queue: crate::calibration::eni_tx_queue_packets(),
            internet_latency: crate::calibration::internet_one_way(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    pub name: String,
    /// An EC2 instance type from the catalog, e.g. "m5.large".
    pub instance_type: String,
    /// Nodes at t=0 (may be 0); a `node_group` event may grow the group during the run.
    pub count: u32,
    /// Subnets the nodes go in, round-robin in this order. Default: every Private subnet.
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub labels: Labels,
    /// Default: the kubelet's default of 110 with host-local; with the AWS VPC CNI, what EKS
    /// bootstraps the instance type with (eni-max-pods.txt, or the max-pods calculator with
    /// prefix delegation or custom networking).
    #[serde(default)]
    pub max_pods: Option<u32>,
    /// Default: `fabric.eni_bandwidth`.
    #[serde(default)]
    pub bandwidth: Option<Bandwidth>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    pub name: String,
    #[serde(default)]
    pub labels: Labels,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    TCP,
    UDP,
    SCTP,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    #[serde(default)]
    pub name: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub protocol: Protocol,
}

/// A Deployment-like set of identical pods, named `NAME-0`, `NAME-1`, ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    #[serde(default = "one")]
    pub replicas: u32,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    /// Node labels a node must carry to run these pods.
    #[serde(default)]
    pub node_selector: Labels,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arrival {
    /// Evenly spaced at 1 / rate, each sending pod starting at its own phase within the first
    /// interval (drawn from its stream), so pods of one flow do not fire in lockstep.
    #[default]
    Constant,
    /// Exponential gaps with mean 1 / rate, from the flow's own RNG stream.
    Poisson,
}

/// Traffic from every pod of `from` to `to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub name: String,
    /// `NAMESPACE/WORKLOAD` (every pod of it sends) or `NAMESPACE/POD`.
    pub from: String,
    /// `NAMESPACE/WORKLOAD:PORT` (a pod of it, drawn per packet or connection),
    /// `NAMESPACE/POD:PORT` (PORT a number or a container port name), or
    /// `NAMESPACE/svc/NAME:PORT` (the Service's address; PORT its port number or name).
    pub to: String,
    #[serde(default)]
    pub protocol: Protocol,
    /// Per sending pod: datagrams per second (UDP) or new connections per second (TCP).
    pub rate: PacketRate,
    #[serde(default)]
    pub arrival: Arrival,
    /// UDP: the size of each IP packet.
    #[serde(default = "default_packet_size")]
    pub packet_size: ByteSize,
    /// TCP: request bytes the client sends once connected.
    #[serde(default = "default_request")]
    pub request: ByteSize,
    /// TCP: response bytes the server sends back once the request is in.
    #[serde(default = "default_response")]
    pub response: ByteSize,
    /// TCP: requests per connection, one after another (keep-alive). 1: a new connection per
    /// request.
    #[serde(default = "one")]
    pub requests: u32,
    #[serde(default)]
    pub start: SimTime,
    /// Default: the scenario's duration.
    #[serde(default)]
    pub stop: Option<SimTime>,
}

fn default_packet_size() -> ByteSize {
    ByteSize(512)
}

fn default_request() -> ByteSize {
    ByteSize(1024)
}

fn default_response() -> ByteSize {
    ByteSize(4096)
}

/// A named set of overrides: `path → value`. A path names fields with dots and list elements
/// by index (`node_groups[0].count`) or by their `name` (`node_groups.general.count`). A value
/// is JSON (`3`, `true`, `"10s"`, `{"HostLocal": {...}}`); anything that is not JSON is taken as
/// a string, so `Overlay` and `20s` need no quotes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}
