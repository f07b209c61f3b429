//! cnsim's IP address management: the EC2 instance catalog, max pods per node, VPC subnet
//! accounting, the IPAM seam every engine sits behind, and the engines themselves: host-local and
//! the AWS VPC CNI's ipamd (warm pools, ENIs, prefix delegation, custom networking, security
//! groups for pods) with its SNAT rule.
//!
//! A pure library: no simulator dependency, no I/O, no clock of its own.

pub mod catalog;
pub mod host_local;
pub mod max_pods;
pub mod seam;
pub mod subnet;
pub mod vpc_cni;

pub use catalog::{Hypervisor, InstanceCatalog, InstanceType};
pub use host_local::{HostLocal, HostLocalConfig, DEFAULT_NODE_CIDR_MASK};
pub use max_pods::{max_pods, AddressMode, CniVersion, MaxPods, MaxPodsError, MaxPodsQuery, MaxPodsSource};
pub use seam::{IpamEngine, IpamError, NodeAddressing, NodeId, NodeJoin, NodeRemoval, PodId};
pub use subnet::{Ec2Error, SubnetIdx, SubnetSpec, Subnets};
pub use vpc_cni::config::{EniConfig, IpamdConfig, NodeLimits};
pub use vpc_cni::ec2::Ec2Calls;
pub use vpc_cni::node::{EniSnapshot, NodeSnapshot, PoolStats};
pub use vpc_cni::snat::{SnatDecision, SnatPolicy};
pub use vpc_cni::timeline::{pool_timeline, PoolRow, PoolTimeline, RowEvent};
pub use vpc_cni::VpcCni;
