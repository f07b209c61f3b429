//! cnsim's cluster model: the scenario format, the world built from it, and the hop-by-hop
//! packet path driven by sim-core's event engine.
//!
//! Data flow: `scenario::load_file` (parse, variants, validation, located diagnostics) →
//! `world::World::build` (nodes, IPAM, placement, VPC routes) → `sim::run_variant` (traffic
//! sources and the packet path on the event engine) → `results::VariantResult`.

pub mod calibration;
pub mod dump;
pub mod lpm;
pub mod placement;
pub mod results;
pub mod scenario;
pub mod service_world;
pub mod sim;
pub mod trace;
pub mod world;

pub use results::{RunResult, VariantResult, RUN_SCHEMA};
pub use sim::run_variant;
