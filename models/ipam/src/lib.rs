//! cnsim's IP address management: the EC2 instance catalog, the IPAM seam every engine sits
//! behind, and the engines themselves (host-local now; the AWS VPC CNI's ipamd next).
//!
//! A pure library: no simulator dependency, no I/O, no clock of its own.

pub mod catalog;
pub mod host_local;
pub mod max_pods;
pub mod seam;

pub use catalog::{Hypervisor, InstanceCatalog, InstanceType};
pub use host_local::{HostLocal, HostLocalConfig, DEFAULT_NODE_CIDR_MASK};
pub use max_pods::{max_pods, AddressMode, CniVersion, MaxPods, MaxPodsError, MaxPodsQuery, MaxPodsSource};
pub use seam::{IpamEngine, IpamError, NodeAddressing, NodeId, NodeJoin, PodId};
