//! cnsim's network policy engine: who may open a connection to whom, and why.
//!
//! A pure library (no simulator, no I/O, no YAML). It owns:
//! - the policy objects in its own small types, named as in the Kubernetes API: namespaced
//!   `NetworkPolicy` (networking.k8s.io/v1, `types`) and the cluster tiers of the
//!   network-policy-api project (`tiers`: ClusterNetworkPolicy v1alpha2, and v1alpha1
//!   AdminNetworkPolicy / BaselineAdminNetworkPolicy mapped onto the same tiers);
//! - the question and the answer (`verdict`): a connection's first packet, the options where
//!   network plugins differ, and a verdict per direction with its reason; `explain` names it;
//! - two engines that give the same answer, reason included: `reference::Reference`, the
//!   specification read plainly, and `compiled::Compiled`, indexed for the packet path;
//! - `testing`: a byte decoder to small clusters and the differential check, for proptest and
//!   cargo-fuzz.
//!
//! # Evaluation
//! A connection is allowed iff egress allows it at the source AND ingress allows it at the
//! destination. Each direction is decided at its end, if that end is a pod policies can
//! select (not an address, not a hostNetwork pod; otherwise nothing is enforced there):
//! 1. **Admin tier** (ClusterNetworkPolicy `tier: Admin`, AdminNetworkPolicy): policies whose
//!    subject is the pod, by priority (lower first), then name, then input order; rules in
//!    written order. The first matching rule decides: Accept/Allow and Deny are final, Pass
//!    skips the rest of the tier.
//! 2. **Exceptions** NetworkPolicy cannot block (options): a pod reaching itself; traffic from
//!    (and, by default, to) the pod's own node.
//! 3. **NetworkPolicy**: if any policy selects the pod for this direction, the pod is isolated
//!    and the connection is allowed iff some rule of some selecting policy matches (union).
//!    This decides for every pod it isolates; lower tiers are not consulted.
//! 4. **Baseline tier** (ClusterNetworkPolicy `tier: Baseline`, BaselineAdminNetworkPolicy),
//!    as the Admin tier; Pass here means the default.
//! 5. **Default**: allowed.
//!
//! Rule matching follows the API: peers and ports are each ORed, a peer's podSelector and
//! namespaceSelector are ANDed, a podSelector alone means the policy's namespace, an empty
//! `from`/`to` or `ports` list matches everything, and a present-but-empty rule list
//! (`ingress: []`) with the direction in policyTypes allows nothing. A port entry without a
//! port matches every port of its protocol (TCP when omitted) and only that protocol; endPort
//! makes an inclusive range; a named port is looked up on the destination pod's container
//! ports by name and protocol. Defaulting: policyTypes absent means Ingress, plus Egress when
//! there is at least one egress rule.
//!
//! Explanations list policies in a defined order (NetworkPolicies by namespace, name and input
//! order; cluster policies by evaluation order) and name the first rule that allowed.
//!
//! # Implementation-defined points, and cnsim's choice
//! - **ipBlock and pod addresses** (`EvalOptions::ip_block_matches_pods`, default true): the
//!   API text says ipBlock selects IP ranges and pod IPs are in ranges; iptables-based plugins
//!   (Calico, kube-router, kube-network-policies) match them. Cilium matches pods only by
//!   selectors: set it to false. The same switch governs cluster `networks` peers.
//! - **Traffic from the pod's own node** (`allow_from_own_node`, default true): allowed, as
//!   the Kubernetes documentation states (kubelet probes must work). An address counts as the
//!   node's when it is one of the pod's `host_ips`; hostNetwork pods on that node have them.
//! - **Pod to its own node** (`allow_to_own_node`, default true): the documentation says
//!   traffic to and from the node is allowed; Cilium enforces egress to the host (false).
//! - **hostNetwork pods**: no selector picks them (podSelector, namespaceSelector, cluster
//!   subjects and peers) and nothing is enforced at them; as a peer they are their address,
//!   like anything outside the cluster, so ipBlock and `nodes` peers can match them.
//! - **A pod reaching itself** (`allow_self`, default true): the documentation says a pod
//!   cannot block access to itself; upstream e2e tests ignore loopback for that reason. Via
//!   its own Service, kube-proxy masquerades hairpin traffic, so the source becomes the node
//!   address, which is allowed as own-node traffic. The Admin tier still applies to both.
//! - **Connections established before a policy change**: kept. Only a connection's first
//!   packet is judged (`PolicyEngine::admits` with `CtState`); conntrack keeps admitted flows
//!   and their replies, as every iptables and eBPF plugin does.
//! - **ICMP**: a NetworkPolicy port cannot name ICMP, so a rule with ports never matches it
//!   and a rule without ports does; ipBlock applies. Pass port 0 for ICMP.
//! - **Equal priorities** in a cluster tier: the API says the outcome is undefined; cnsim
//!   orders by name, then by input order.
//! - **Dual stack**: a connection uses the family of its address end, or IPv4 when both pods
//!   have it; a pod is matched by its address of that family.
//! - **Invalid objects** the API would reject (a peer with nothing set, In with no values,
//!   endPort on a named port) are evaluated as written: the peer matches nothing, In with no
//!   values matches nothing, endPort is ignored for a named port.

pub mod compiled;
pub mod explain;
pub mod reference;
pub mod selector;
pub mod testing;
pub mod tiers;
pub mod types;
pub mod verdict;

pub use compiled::Compiled;
pub use explain::Explanation;
pub use reference::Reference;
pub use tiers::*;
pub use types::*;
pub use verdict::*;
