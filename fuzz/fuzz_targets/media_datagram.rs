//! Datagrams on the media port: the STUN ufrag demultiplexing and what a room does with
//! a packet from a path it does not know.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| convene_sfu::fuzzing::media_datagram(data));
