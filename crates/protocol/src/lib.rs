//! Convene's signaling protocol: the JSON messages exchanged on the meeting WebSocket.
//!
//! Every message is one JSON object with a `"type"` field. The client sends
//! [`ClientMessage`]s, the server [`ServerMessage`]s. The first server message on every
//! connection is [`ServerMessage::Welcome`], carrying [`PROTOCOL_VERSION`]. `docs/protocol.md`
//! describes the order of messages, errors and an example session; this crate is the
//! authoritative shape. No I/O here: the server and test clients share these types.
#![warn(unreachable_pub)]

#[doc(hidden)]
pub mod fuzzing;
mod schema;
pub use schema::{schema, schema_json};

/// Bumped on incompatible changes. Version 1 is the first.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame the server accepts; larger ones get a `message_too_large` error.
///
/// SDP dominates: a subscriber answer carries one m-section (~600 bytes) per remote track,
/// so a full 100-person meeting (100 microphones, a few cameras) needs well over 64 KB.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Longest `e2ee_key` blob, in base64url characters (a sealed key is about 115).
pub const MAX_E2EE_BLOB_CHARS: usize = 1024;

/// Whether `key` has the form of an E2EE identity key: a P-256 public key in uncompressed
/// form (65 bytes) as base64url without padding, 87 characters. The server checks the form
/// only; the browsers check that it is a point on the curve.
pub fn is_e2ee_identity(key: &str) -> bool {
    key.len() == 87 && key.bytes().all(is_base64url)
}

/// Whether `blob` is non-empty base64url text (the length limit is checked apart).
pub fn is_base64url_text(blob: &str) -> bool {
    !blob.is_empty() && blob.bytes().all(is_base64url)
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

mod client;
mod model;
mod server;
pub use client::{parse_client, ClientMessage, ParseError};
pub use model::*;
pub use server::ServerMessage;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_by_type() {
        assert_eq!(parse_client(r#"{"type":"ping","id":7}"#), Ok(ClientMessage::Ping { id: Some(7) }));
        assert_eq!(
            parse_client(r#"{"type":"set_state","muted":true}"#),
            Ok(ClientMessage::SetState {
                muted: Some(true),
                camera_on: None,
                hand_raised: None,
                recording_locally: None
            })
        );
        assert_eq!(parse_client(r#"{"type":"leave"}"#), Ok(ClientMessage::Leave));
    }

    #[test]
    fn local_recording_messages_and_who_may_record() {
        assert_eq!(
            parse_client(r#"{"type":"allow_local_recording","participant_id":"p_1","allowed":true}"#),
            Ok(ClientMessage::AllowLocalRecording { participant_id: "p_1".into(), allowed: true })
        );
        assert!(matches!(
            parse_client(r#"{"type":"set_state","recording_locally":true}"#),
            Ok(ClientMessage::SetState { recording_locally: Some(true), .. })
        ));
        // Older servers' participants (without the fields) still parse.
        let old = r#"{"participant_id":"p_1","user_id":"u","display_name":"A","role":"participant",
            "joined_at":"","muted":false,"camera_on":false,"hand_raised":false,"presenting":false,"reconnecting":false}"#;
        let p: Participant = serde_json::from_str(old).unwrap();
        assert!(!p.local_recording_allowed && !p.recording_locally);
    }

    #[test]
    fn e2ee_forms() {
        assert_eq!(
            parse_client(r#"{"type":"e2ee_key","to":"p_1","blob":"AAA"}"#),
            Ok(ClientMessage::E2eeKey { to: "p_1".into(), blob: "AAA".into() })
        );
        assert!(is_e2ee_identity(&"B".repeat(87)));
        assert!(!is_e2ee_identity(&"B".repeat(86)));
        assert!(!is_e2ee_identity(&format!("{}=", "B".repeat(86))));
        assert!(is_base64url_text("a-_Z09"));
        assert!(!is_base64url_text("") && !is_base64url_text("a+b") && !is_base64url_text("a b"));
    }

    #[test]
    fn bad_frames_are_classified() {
        assert!(matches!(parse_client("{not json"), Err(ParseError::Malformed(_))));
        assert!(matches!(parse_client(r#"{"no":"type"}"#), Err(ParseError::Malformed(_))));
        assert_eq!(parse_client(r#"{"type":"fly"}"#), Err(ParseError::UnknownType("fly".into())));
        assert!(
            matches!(parse_client(r#"{"type":"set_state","muted":"yes"}"#), Err(ParseError::InvalidFields(k, _)) if k == "set_state")
        );
        assert!(matches!(parse_client(r#"{"type":"ping","extra":1}"#), Err(ParseError::InvalidFields(..))));
    }

    #[test]
    fn a_slot_map_names_every_slot_and_what_it_carries() {
        let msg = ServerMessage::SlotMap {
            slots: vec![
                MediaSlot { mid: "0".into(), kind: "audio".into(), track_id: Some("t3".into()) },
                MediaSlot { mid: "3".into(), kind: "video".into(), track_id: None },
            ],
        };
        let json = serde_json::to_value(&msg).unwrap();
        // An idle slot says so with `null`, not by leaving the field out.
        assert_eq!(
            json,
            serde_json::json!({"type": "slot_map", "slots": [
                {"mid": "0", "kind": "audio", "track_id": "t3"},
                {"mid": "3", "kind": "video", "track_id": null},
            ]})
        );
        assert_eq!(msg.kind(), "slot_map");
        assert_eq!(serde_json::from_value::<ServerMessage>(json).unwrap(), msg);
    }

    #[test]
    fn server_messages_carry_their_type_tag() {
        let json = serde_json::to_value(ServerMessage::Pong { id: Some(1) }).unwrap();
        assert_eq!(json["type"], "pong");
        let err = serde_json::to_value(ServerMessage::error("x", "y", Some("ping"))).unwrap();
        assert_eq!(err["type"], "error");
        assert_eq!(err["request"], "ping");
    }
}
