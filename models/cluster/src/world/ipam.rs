//! The IPAM engine a world is built with, and its state at t=0.
//!
//! Owns the choice between host-local and the AWS VPC CNI, the VPC CNI's view of the scenario's
//! subnets, and the wording of a pod's pending reason when the CNI cannot address it. The
//! world keeps the engine as it stands after t=0 (nodes joined, first pods addressed); a run
//! that has timed behaviour (ipamd's pool, scale events) continues from a clone of it.

use crate::scenario::format::{IpamConfig, Scenario};
use cnsim_ipam::{
    HostLocal, HostLocalConfig, IpamEngine, IpamError, NodeId, NodeLimits, PodId, SubnetSpec, Subnets, VpcCni,
};
use std::net::Ipv4Addr;

/// The cluster's IPAM engine.
#[derive(Clone, Debug)]
pub enum IpamState {
    HostLocal(HostLocal),
    VpcCni(Box<VpcCni>),
}

impl IpamState {
    /// The engine a validated scenario asks for, with no node yet.
    pub fn new(s: &Scenario) -> IpamState {
        match &s.network.ipam {
            IpamConfig::HostLocal {
                cluster_cidr,
                node_cidr_mask,
            } => IpamState::HostLocal(HostLocal::new(HostLocalConfig {
                cluster_cidr: *cluster_cidr,
                node_cidr_mask: *node_cidr_mask,
            })),
            IpamConfig::AwsVpcCni { .. } => {
                let specs = s
                    .vpc
                    .subnets
                    .iter()
                    .map(|x| SubnetSpec {
                        name: x.name.clone(),
                        cidr: x.cidr,
                        az: x.az.clone(),
                        cni_discovery_tag: false,
                    })
                    .collect();
                let subnets = Subnets::new(specs).expect("validation checks subnet sizes and overlaps");
                let config = s.network.ipam.ipamd().expect("an AwsVpcCni config");
                IpamState::VpcCni(Box::new(
                    VpcCni::new(config, subnets).expect("validation checks ENIConfig subnets"),
                ))
            }
        }
    }

    pub fn engine(&mut self) -> &mut dyn IpamEngine {
        match self {
            IpamState::HostLocal(h) => h,
            IpamState::VpcCni(v) => v.as_mut(),
        }
    }

    /// The CNI ADD: a branch ENI of its own for a pod a SecurityGroupPolicy selects, else an
    /// address from the node's pool.
    pub fn assign(&mut self, node: NodeId, pod: PodId, now_ns: u64, branch: bool) -> Result<Ipv4Addr, IpamError> {
        match self {
            IpamState::VpcCni(v) if branch => v.assign_branch_pod(node, pod, now_ns),
            _ => self.engine().assign_pod(node, pod, now_ns),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            IpamState::HostLocal(h) => h.name(),
            IpamState::VpcCni(v) => v.name(),
        }
    }

    pub fn vpc_cni(&self) -> Option<&VpcCni> {
        match self {
            IpamState::VpcCni(v) => Some(v),
            IpamState::HostLocal(_) => None,
        }
    }

    /// The kubelet's max pods when the node group does not set it: 110 (the kubelet's default)
    /// with host-local; with the VPC CNI what EKS bootstraps the instance type with.
    pub fn default_max_pods(&self, instance: &cnsim_ipam::InstanceType) -> u32 {
        match self {
            IpamState::HostLocal(_) => super::KUBELET_DEFAULT_MAX_PODS,
            IpamState::VpcCni(v) => NodeLimits::resolve(v.config(), instance).max_pods,
        }
    }
}

/// The kubelet's event text when the CNI ADD fails: the sandbox is retried and the pod stays in
/// ContainerCreating (`FailedCreatePodSandBox`).
pub fn sandbox_reason(err: &IpamError) -> String {
    let message = match err {
        IpamError::Exhausted { message } | IpamError::Invalid { message } | IpamError::Retry { message, .. } => message,
    };
    format!("ContainerCreating: failed to set up sandbox network: {message}")
}
