//! The EC2 API calls ipamd makes, counted by kind.
//!
//! Owns only the counters. Which calls make up one ipamd action is a fact of
//! pkg/awsutils/awsutils.go: a new ENI is DescribeSubnets (subnet discovery only),
//! CreateNetworkInterface, DescribeInstances (free device index), AttachNetworkInterface and
//! ModifyNetworkInterfaceAttribute (delete on termination); freeing one is
//! DescribeNetworkInterfaces (attachment id), DetachNetworkInterface and DeleteNetworkInterface;
//! addresses and prefixes go through AssignPrivateIpAddresses / UnassignPrivateIpAddresses.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ec2Calls {
    pub describe_subnets: u64,
    pub create_network_interface: u64,
    pub describe_instances: u64,
    pub attach_network_interface: u64,
    pub modify_network_interface_attribute: u64,
    pub describe_network_interfaces: u64,
    pub detach_network_interface: u64,
    pub delete_network_interface: u64,
    pub assign_private_ip_addresses: u64,
    pub unassign_private_ip_addresses: u64,
    /// The VPC resource controller's calls for security groups for pods.
    pub associate_trunk_interface: u64,
    pub disassociate_trunk_interface: u64,
    /// Calls that failed with InsufficientFreeAddressesInSubnet / InsufficientCidrBlocks.
    pub insufficient_free_addresses: u64,
    pub insufficient_cidr_blocks: u64,
}

impl Ec2Calls {
    /// All calls, failed ones included (the failures are already counted under their kind).
    pub fn total(&self) -> u64 {
        self.describe_subnets
            + self.create_network_interface
            + self.describe_instances
            + self.attach_network_interface
            + self.modify_network_interface_attribute
            + self.describe_network_interfaces
            + self.detach_network_interface
            + self.delete_network_interface
            + self.assign_private_ip_addresses
            + self.unassign_private_ip_addresses
            + self.associate_trunk_interface
            + self.disassociate_trunk_interface
    }

    pub fn add(&mut self, o: &Ec2Calls) {
        self.describe_subnets += o.describe_subnets;
        self.create_network_interface += o.create_network_interface;
        self.describe_instances += o.describe_instances;
        self.attach_network_interface += o.attach_network_interface;
        self.modify_network_interface_attribute += o.modify_network_interface_attribute;
        self.describe_network_interfaces += o.describe_network_interfaces;
        self.detach_network_interface += o.detach_network_interface;
        self.delete_network_interface += o.delete_network_interface;
        self.assign_private_ip_addresses += o.assign_private_ip_addresses;
        self.unassign_private_ip_addresses += o.unassign_private_ip_addresses;
        self.associate_trunk_interface += o.associate_trunk_interface;
        self.disassociate_trunk_interface += o.disassociate_trunk_interface;
        self.insufficient_free_addresses += o.insufficient_free_addresses;
        self.insufficient_cidr_blocks += o.insufficient_cidr_blocks;
    }

    /// `self − earlier`, for "calls made during this step".
    pub fn since(&self, earlier: &Ec2Calls) -> Ec2Calls {
        let d = |a: u64, b: u64| a - b;
        Ec2Calls {
            describe_subnets: d(self.describe_subnets, earlier.describe_subnets),
            create_network_interface: d(self.create_network_interface, earlier.create_network_interface),
            describe_instances: d(self.describe_instances, earlier.describe_instances),
            attach_network_interface: d(self.attach_network_interface, earlier.attach_network_interface),
            modify_network_interface_attribute: d(
                self.modify_network_interface_attribute,
                earlier.modify_network_interface_attribute,
            ),
            describe_network_interfaces: d(self.describe_network_interfaces, earlier.describe_network_interfaces),
            detach_network_interface: d(self.detach_network_interface, earlier.detach_network_interface),
            delete_network_interface: d(self.delete_network_interface, earlier.delete_network_interface),
            assign_private_ip_addresses: d(self.assign_private_ip_addresses, earlier.assign_private_ip_addresses),
            unassign_private_ip_addresses: d(
                self.unassign_private_ip_addresses,
                earlier.unassign_private_ip_addresses,
            ),
            associate_trunk_interface: d(self.associate_trunk_interface, earlier.associate_trunk_interface),
            disassociate_trunk_interface: d(self.disassociate_trunk_interface, earlier.disassociate_trunk_interface),
            insufficient_free_addresses: d(self.insufficient_free_addresses, earlier.insufficient_free_addresses),
            insufficient_cidr_blocks: d(self.insufficient_cidr_blocks, earlier.insufficient_cidr_blocks),
        }
    }

    pub(crate) fn record_error(&mut self, err: &crate::subnet::Ec2Error) {
        match err {
            crate::subnet::Ec2Error::InsufficientFreeAddressesInSubnet { .. } => self.insufficient_free_addresses += 1,
            crate::subnet::Ec2Error::InsufficientCidrBlocks { .. } => self.insufficient_cidr_blocks += 1,
        }
    }
}
