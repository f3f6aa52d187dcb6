//! Text frames on the meeting WebSocket: the client message decoder, its error replies, a
//! round trip of what it accepts, and agreement with the published JSON Schema.
#![no_main]

use std::sync::LazyLock;

static CLIENT_MESSAGE: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let doc = convene_protocol::schema();
    let schema = serde_json::json!({"$defs": doc["$defs"], "$ref": "#/$defs/ClientMessage"});
    jsonschema::validator_for(&schema).expect("the protocol schema compiles")
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    convene_protocol::fuzzing::client_frame(data, |v| CLIENT_MESSAGE.is_valid(v));
});
