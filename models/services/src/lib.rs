//! cnsim's service datapaths: how a node turns a packet to a Service address into a packet to
//! an endpoint, and what that costs, in each of kube-proxy's modes and Cilium's eBPF.
//!
//! A pure library (no simulator, no I/O): `model` is the seam, each engine module implements
//! `model::ServiceDatapath` twice (a reference that walks rules as the kernel does, and a fast
//! one held equal to it by proptest), and `conntrack` is the connection table in front of them.

pub mod conntrack;
pub mod cost;
pub mod ebpf;
pub mod iptables;
pub mod ipvs;
pub mod model;
pub mod nftables;
pub mod testing;

pub use model::*;
