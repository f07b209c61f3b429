//! sim-core: cnsim's deterministic discrete-event engine, independent of any network model.
//!
//! It owns simulated time and quantities ([`time`]), the pending-event queue ([`queue`]), the
//! event loop core ([`engine`]), the trace digest that proves two runs identical ([`digest`]),
//! named random streams ([`rng`]), exact histograms ([`histogram`]) and parallel sweeps
//! ([`sweep`]). Nothing here reads the wall clock or depends on hash-map order; floats are
//! used only in RNG sampling, through `libm`, so results are identical on every platform.

pub mod digest;
pub mod engine;
pub mod histogram;
pub mod queue;
pub mod rng;
pub mod sweep;
pub mod time;

pub use digest::{Digest, DigestParseError, TraceDigest, TraceEvent, TraceWriter, DIGEST_VERSION};
pub use engine::Engine;
pub use histogram::{Histogram, HISTOGRAM_BUCKETS};
pub use queue::{BinaryHeapQueue, EventQueue, RadixHeapQueue};
pub use rng::{derive_stream_key, RngStream, RNG_NAME_MAX};
pub use sweep::{run_ordered, run_ordered_by_cost, SweepError, SWEEP_THREADS_MAX};
pub use time::{Bandwidth, ByteSize, PacketRate, SimTime, UnitError};
