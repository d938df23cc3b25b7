//! See `perma::fuzzing::referer` for what this target checks.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| perma::fuzzing::referer(data));
