//! The reference model (next commit).
