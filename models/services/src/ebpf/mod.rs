//! ebpf service datapath (being written).
