//! The scenario: format v1 (serde types), loading with located diagnostics, variant
//! overrides, and validation.

pub mod diag;
pub mod events;
pub mod expand;
pub mod format;
pub mod load;
pub mod manifest_source;
pub mod names;
pub mod overrides;
pub mod policy_source;
pub mod refs;
pub mod services;
pub mod source_map;
pub mod validate;
pub mod validate_egress;
pub mod validate_events;
pub mod validate_flows;
pub mod validate_ipam;
pub mod validate_services;
pub mod validate_vpc;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use format::*;
pub use load::{load_file, load_str, LoadedScenario, VariantSpec};
pub use services::*;
