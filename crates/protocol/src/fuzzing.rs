//! The entry point of the `signaling` fuzz target in `fuzz/` (and of its corpus replay in
//! the test suite). Not an API: hidden from the docs.

use serde_json::Value;

use crate::parse_client;

/// A text frame from a client, decoded as the server does; whatever is accepted must survive
/// a round trip, a refusal must make an error frame, and whatever the schema's
/// `ClientMessage` accepts (`schema_accepts`) must be accepted.
///
/// # Panics
/// When one of those does not hold: that is what the fuzzer looks for.
pub fn client_frame(data: &[u8], schema_accepts: impl Fn(&Value) -> bool) {
    // A WebSocket text frame is UTF-8 by then (the WebSocket layer checks it).
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = parse_client(text);
    match &parsed {
        Ok(msg) => {
            let again = serde_json::to_string(msg).expect("a message serializes");
            assert_eq!(parse_client(&again).as_ref(), Ok(msg), "round trip of {text}");
        }
        Err(e) => {
            serde_json::to_string(&e.to_message()).expect("an error frame serializes");
        }
    }
    // Numbers outside the 64-bit integers are floats to a JSON Schema validator too, where
    // a schema cannot tell 1.0 from 1: leave those out.
    let Ok(value) = serde_json::from_str::<Value>(text) else { return };
    if has_inexact_number(&value) {
        return;
    }
    if schema_accepts(&value) {
        assert!(parsed.is_ok(), "the schema accepts {text} but the server refuses it: {parsed:?}");
    }
}

fn has_inexact_number(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_u64().is_none() && n.as_i64().is_none(),
        Value::Array(items) => items.iter().any(has_inexact_number),
        Value::Object(fields) => fields.values().any(has_inexact_number),
        _ => false,
    }
}
