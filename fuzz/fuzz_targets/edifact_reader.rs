#![no_main]
//! Arbitrary bytes through the EDIFACT reader and validator (seeded from samples/edifact).

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::run(data);
});
