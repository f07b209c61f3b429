//! nftables service datapath (being written).
