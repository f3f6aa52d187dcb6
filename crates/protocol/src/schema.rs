//! The JSON Schema of every signaling message, generated from the types of this crate, so
//! that clients in any language can check what they send and receive. The server serves it
//! (`GET /api/v1/protocol/schema.json`) and `docs/protocol.schema.json` is a copy of it
//! (regenerate with `cargo run -p convene-protocol --bin protocol-schema`).

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use crate::{ClientMessage, ServerMessage, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, REACTIONS};

/// The schema document (JSON Schema 2020-12): `$defs/ClientMessage` is what a client may
/// send, `$defs/ServerMessage` what the server sends; the document itself accepts either.
pub fn schema() -> Value {
    let mut generator =
        SchemaSettings::draft2020_12().with_transform(RecursiveTransform(integer_bounds)).into_generator();
    let client = generator.subschema_for::<ClientMessage>();
    let server = generator.subschema_for::<ServerMessage>();
    let defs = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("Convene signaling protocol, version {PROTOCOL_VERSION}"),
        "description": format!(
            "Every frame on the meeting WebSocket is one JSON object with a string `type`. \
             `#/$defs/ClientMessage` is what a client sends (at most {MAX_MESSAGE_BYTES} bytes a frame; \
             unknown fields are refused), `#/$defs/ServerMessage` what the server sends (clients \
             ignore unknown types and fields: additions keep the version). docs/protocol.md says \
             when each is sent and what it means."
        ),
        "anyOf": [client, server],
        "$defs": defs,
    })
}

/// [`schema`] as the text the server serves and `docs/protocol.schema.json` holds.
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Gives fixed-size integers their bounds, which schemars leaves to the `format` (that
/// validators do not check): a client sending 2^32 as a width is told so by the schema.
fn integer_bounds(schema: &mut Schema) {
    let (min, max): (Value, Value) = match schema.get("format").and_then(Value::as_str) {
        Some("uint32") => (0.into(), u32::MAX.into()),
        Some("uint64") => (0.into(), u64::MAX.into()),
        Some("int64") => (i64::MIN.into(), i64::MAX.into()),
        _ => return,
    };
    schema.insert("minimum".into(), min);
    schema.insert("maximum".into(), max);
}

/// `MeetingInfo.settings`: the meeting's settings as the REST API shows them.
pub(crate) fn meeting_settings(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "The meeting's settings, as the REST API shows them (more may be added).",
        "type": "object",
        "properties": {
            "waiting_room": {"type": "boolean", "description": "People wait until a moderator admits them."},
            "join_before_host": {"type": "boolean", "description": "Participants may enter before the host."},
            "mute_on_entry": {"type": "boolean", "description": "Participants enter muted."},
            "allow_guests": {"type": "boolean", "description": "People without an account may join."},
            "max_participants": {"type": "integer", "minimum": 1},
            "duration_limit_minutes": {"type": "integer", "minimum": 1},
            "auto_record": {"type": "boolean", "description": "Recording starts when the meeting goes live."},
            "recording_access": {"enum": ["host", "participants", "organisation"]},
            "e2ee": {"type": "boolean", "description": "End-to-end encrypted: media is encrypted in the browsers (docs/e2ee.md)."},
            "peer_to_peer": {"type": "boolean", "description": "Two participants connect directly while nothing needs the server's media."},
            "captions": {"type": "boolean", "description": "Live captions start when the meeting goes live (not with e2ee)."}
        },
        "required": ["waiting_room", "join_before_host", "mute_on_entry", "allow_guests",
            "max_participants", "duration_limit_minutes", "auto_record", "recording_access", "peer_to_peer"]
    })
}

/// `react.emoji`: one of [`REACTIONS`].
pub(crate) fn reaction(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": REACTIONS})
}

/// `Track.kind`.
pub(crate) fn track_kind(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": ["audio", "video"]})
}

/// `set_role.role`: the roles a host can give.
pub(crate) fn assignable_role(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": ["cohost", "participant"]})
}

/// A time: an RFC 3339 string.
pub(crate) fn time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

/// `e2ee_key.blob`: a sealed key blob, base64url without padding.
pub(crate) fn e2ee_blob(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "minLength": 1, "maxLength": crate::MAX_E2EE_BLOB_CHARS})
}

/// `Participant.e2ee_identity`: a P-256 public key (65 bytes uncompressed), base64url.
pub(crate) fn e2ee_identity(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]{87}$"})
}
