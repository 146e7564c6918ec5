#![no_main]
//! Arbitrary bytes through the X12 reader and validator (seeded from samples/x12).

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::run(data);
});
