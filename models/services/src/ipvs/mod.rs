//! ipvs service datapath (being written).
