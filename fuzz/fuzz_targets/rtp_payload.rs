//! RTP payloads as publishers send them: keyframe detection, VP8 picture ids and the munger
//! (the SFU), and VP8 frame reassembly (the recorder).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    convene_sfu::fuzzing::rtp_payloads(data);
    convene::fuzzing::recorded_vp8(data);
});
