//! cnsim-policy's differential check on fuzzed bytes: the bytes decode to a small cluster and
//! policy set, and the compiled engine must give the reference engine's verdicts and
//! explanations on every pair of ends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = cnsim_policy::testing::check_bytes(data) {
        panic!("{e}");
    }
});
