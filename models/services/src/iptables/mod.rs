//! iptables service datapath (being written).
