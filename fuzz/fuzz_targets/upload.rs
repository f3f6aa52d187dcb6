//! Uploads: a chat file's type sniffing, a profile photo's decoding, a recording's type.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| convene::fuzzing::upload(data));
