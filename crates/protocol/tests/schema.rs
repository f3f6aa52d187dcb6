//! The published JSON Schema (docs/protocol.schema.json): it is what the generator makes, it
//! is a valid schema, it accepts every message the types accept and refuses what the docs
//! say is refused; and the signaling fuzz corpus replays through the decoder.

use std::path::{Path, PathBuf};

use convene_protocol::{schema, schema_json, ClientMessage, ServerMessage};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A validator for one of the document's definitions (`ClientMessage`, `ServerMessage`).
fn validator(def: &str) -> jsonschema::Validator {
    let doc = schema();
    let schema = json!({"$schema": doc["$schema"], "$defs": doc["$defs"], "$ref": format!("#/$defs/{def}")});
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// The `type`s a definition's variants have.
fn types_of(def: &str) -> Vec<String> {
    let doc = schema();
    let variants = doc["$defs"][def]["oneOf"].as_array().expect("a tagged union").clone();
    variants.iter().map(|v| v["properties"]["type"]["const"].as_str().expect("a type tag").to_owned()).collect()
}

#[test]
fn the_committed_schema_is_what_the_generator_makes() {
    let path = repo().join("docs/protocol.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema_json(),
        "{} is out of date: regenerate it with\n  cargo run -p convene-protocol --bin protocol-schema > docs/protocol.schema.json",
        path.display()
    );
}

#[test]
fn the_schema_is_a_valid_json_schema_and_names_both_directions() {
    let doc = schema();
    assert!(jsonschema::meta::is_valid(&doc), "not a valid JSON Schema");
    assert_eq!(doc["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(doc["title"].as_str().unwrap().contains("version 1"));
    let refs: Vec<&Value> = doc["anyOf"].as_array().unwrap().iter().map(|r| &r["$ref"]).collect();
    assert_eq!(refs, [&json!("#/$defs/ClientMessage"), &json!("#/$defs/ServerMessage")]);
}

/// One example of every client message, as docs/protocol.md shows them.
fn client_examples() -> Vec<Value> {
    vec![
        json!({"type": "ping", "id": 7}),
        json!({"type": "ping"}),
        json!({"type": "set_state", "muted": true, "camera_on": false, "hand_raised": true, "recording_locally": false}),
        json!({"type": "publish_offer", "sdp": "v=0\r\n", "tracks": [{"mid": "0", "source": "microphone"},
            {"mid": "1", "source": "camera", "muted": true}], "restart": true}),
        json!({"type": "subscribe_answer", "sdp": "v=0\r\n", "offer_id": 3}),
        json!({"type": "set_video_size", "track_id": "t3", "width": 640, "height": 360}),
        json!({"type": "leave"}),
        json!({"type": "chat_send", "text": "hello", "to": "p_1"}),
        json!({"type": "react", "emoji": "🎉"}),
        json!({"type": "mute", "participant_id": "p_1"}),
        json!({"type": "mute_all"}),
        json!({"type": "ask_unmute"}),
        json!({"type": "stop_video", "participant_id": "p_1"}),
        json!({"type": "lower_hand", "participant_id": "p_1"}),
        json!({"type": "remove", "participant_id": "p_1"}),
        json!({"type": "lock", "locked": true}),
        json!({"type": "admit", "participant_id": "p_1"}),
        json!({"type": "admit_all"}),
        json!({"type": "deny", "participant_id": "p_1"}),
        json!({"type": "set_role", "participant_id": "p_1", "role": "cohost"}),
        json!({"type": "transfer_host", "participant_id": "p_1"}),
        json!({"type": "end_meeting"}),
        json!({"type": "record", "recording": true}),
        json!({"type": "allow_local_recording", "participant_id": "p_1", "allowed": true}),
        json!({"type": "e2ee_key", "to": "p_2", "blob": "AbC-_9"}),
        json!({"type": "p2p_capable"}),
        json!({"type": "p2p_offer", "to": "p_2", "session": 1, "sdp": "v=0\r\n"}),
        json!({"type": "p2p_answer", "to": "p_1", "session": 1, "sdp": "v=0\r\n"}),
        json!({"type": "p2p_candidate", "to": "p_2", "session": 1, "candidate": {"candidate":
            "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}),
        json!({"type": "p2p_candidate", "to": "p_2", "session": 1, "candidate": null}),
        json!({"type": "p2p_status", "session": 1, "connected": true}),
        json!({"type": "captions", "on": true}),
        json!({"type": "poll_create", "question": "Lunch?", "options": ["Pizza", "Sushi"], "multiple": false,
            "anonymous": true}),
        json!({"type": "poll_vote", "poll_id": "poll_1", "choices": [1]}),
        json!({"type": "poll_end", "poll_id": "poll_1"}),
        json!({"type": "poll_share", "poll_id": "poll_1"}),
        json!({"type": "breakout_open", "rooms": 2, "assign": "manual", "names": ["Design", "Ops"],
            "assignments": [{"participant_id": "p_2", "room": 1}], "minutes": 10}),
        json!({"type": "breakout_rename", "room": 1, "name": "Design review"}),
        json!({"type": "breakout_move", "participant_id": "p_2", "room": 2}),
        json!({"type": "breakout_choose", "room": 0}),
        json!({"type": "breakout_broadcast", "text": "Five minutes left"}),
        json!({"type": "breakout_help"}),
        json!({"type": "breakout_close", "countdown_seconds": 60}),
    ]
}

#[test]
fn every_client_message_the_server_accepts_validates() {
    let v = validator("ClientMessage");
    let examples = client_examples();
    for example in &examples {
        serde_json::from_value::<ClientMessage>(example.clone()).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert!(errors(&v, example).is_empty(), "{example}: {:?}", errors(&v, example));
    }
    let covered: Vec<&str> = examples.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in types_of("ClientMessage") {
        assert!(covered.contains(&kind.as_str()), "no example of the client message {kind}: add one above");
    }
}

#[test]
fn the_schema_refuses_what_the_docs_refuse() {
    let v = validator("ClientMessage");
    for bad in [
        json!({"type": "fly"}),
        json!({"no": "type"}),
        json!({"type": "ping", "extra": 1}),
        json!({"type": "set_state", "muted": "yes"}),
        json!({"type": "mute"}),
        json!({"type": "set_role", "participant_id": "p_1", "role": "host"}),
        json!({"type": "react", "emoji": "🦀"}),
        json!({"type": "e2ee_key", "to": "p_2", "blob": "not base64url!"}),
        json!({"type": "e2ee_key", "to": "p_2", "blob": "A".repeat(1025)}),
        json!({"type": "e2ee_key", "to": "p_2"}),
        json!({"type": "chat_send", "text": ""}),
        json!({"type": "chat_send", "text": "x".repeat(4001)}),
        json!({"type": "set_video_size", "track_id": "t1", "width": -1, "height": 0}),
        json!({"type": "set_video_size", "track_id": "t1", "width": 4_294_967_296u64, "height": 0}),
        json!({"type": "publish_offer", "sdp": "v=0", "tracks": [{"mid": "0", "source": "webcam"}]}),
        json!({"type": "poll_create", "question": "", "options": ["a", "b"]}),
        json!({"type": "poll_create", "question": "Q", "options": ["only one"]}),
        json!({"type": "poll_vote", "poll_id": "poll_1", "choices": [-1]}),
        json!({"type": "breakout_open", "rooms": 2, "assign": "random"}),
    ] {
        assert!(!v.is_valid(&bad), "the schema accepts {bad}");
    }
}

/// One example of every server message.
fn server_examples() -> Vec<ServerMessage> {
    use convene_protocol::*;
    let participant = Participant {
        participant_id: "p_1".into(),
        user_id: None,
        display_name: "Gus".into(),
        avatar_url: None,
        role: Role::Guest,
        joined_at: "2026-11-23T19:40:00+00:00".into(),
        muted: false,
        camera_on: true,
        hand_raised: false,
        presenting: false,
        reconnecting: false,
        local_recording_allowed: false,
        recording_locally: false,
        e2ee_identity: Some("B".repeat(87)),
    };
    let track = Track {
        track_id: "t1".into(),
        participant_id: "p_1".into(),
        kind: "video".into(),
        source: TrackSource::Camera,
        simulcast: true,
        muted: false,
    };
    let chat = ChatMessage {
        message_id: "m_1".into(),
        from: "p_1".into(),
        from_name: "Gus".into(),
        to: None,
        text: "hi".into(),
        sent_at: "2026-11-23T19:41:00+00:00".into(),
        file: Some(SharedFile {
            file_id: "f_1".into(),
            name: "a.pdf".into(),
            size: 3,
            content_type: "application/pdf".into(),
            url: "/api/v1/meetings/1/files/f_1".into(),
        }),
        room: Some(2),
    };
    let settings = json!({"waiting_room": false, "join_before_host": true, "mute_on_entry": false,
        "allow_guests": true, "max_participants": 100, "duration_limit_minutes": 60, "auto_record": false,
        "recording_access": "participants", "e2ee": true, "peer_to_peer": false});
    let poll = Poll {
        poll_id: "poll_1".into(),
        question: "Lunch?".into(),
        options: vec!["Pizza".into(), "Sushi".into()],
        multiple: false,
        anonymous: false,
        status: PollStatus::Ended,
        shared: true,
        created_at: "2026-11-23T19:42:00+00:00".into(),
        my_choices: vec![1],
        results: Some(PollResults {
            counts: vec![0, 1],
            voters: 1,
            ballots: Some(vec![PollBallot { display_name: "Gus".into(), user_id: None, choices: vec![1] }]),
        }),
    };
    vec![
        ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            participant_id: "p_1".into(),
            role: Role::Guest,
            resume_token: "k3".into(),
            resumed: false,
            reconnect_grace_seconds: 30,
            meeting: MeetingInfo {
                meeting_id: 8412345678,
                title: "Team sync".into(),
                host_id: "u".into(),
                started_at: "2026-11-23T19:40:00+00:00".into(),
                time_left_seconds: 3581,
                settings,
                locked: false,
                recording: false,
                captions: false,
                captions_available: true,
            },
            participants: vec![participant.clone()],
            tracks: vec![track.clone()],
            chat: vec![chat.clone()],
            polls: vec![poll.clone()],
        },
        ServerMessage::ParticipantJoined { participant: participant.clone() },
        ServerMessage::ParticipantUpdated { participant },
        ServerMessage::ParticipantLeft { participant_id: "p_1".into(), reason: LeaveReason::Removed },
        ServerMessage::TrackPublished { track },
        ServerMessage::TrackUnpublished { track_id: "t1".into() },
        ServerMessage::PublishAnswer { sdp: "v=0\r\n".into() },
        ServerMessage::SubscribeOffer {
            sdp: "v=0\r\n".into(),
            tracks: vec![OfferedTrack { mid: "0".into(), track_id: "t1".into() }],
            offer_id: 1,
        },
        ServerMessage::SlotMap {
            slots: vec![
                MediaSlot { mid: "0".into(), kind: "audio".into(), track_id: Some("t1".into()) },
                MediaSlot { mid: "3".into(), kind: "video".into(), track_id: None },
            ],
        },
        ServerMessage::ActiveSpeaker { participant_id: None },
        ServerMessage::Warning { code: "ending_soon".into(), message: "soon".into(), seconds_left: Some(300) },
        ServerMessage::MeetingEnded { reason: EndReason::DurationLimit },
        ServerMessage::Pong { id: Some(1) },
        ServerMessage::Waiting { participant_id: "p_1".into(), meeting_title: "T".into(), resume_token: "k".into() },
        ServerMessage::WaitingRoom {
            waiting: vec![WaitingPerson {
                participant_id: "p_2".into(),
                display_name: "W".into(),
                user_id: None,
                since: "2026-11-23T19:40:00+00:00".into(),
            }],
        },
        ServerMessage::ChatMessage { message: chat },
        ServerMessage::Reaction { participant_id: "p_1".into(), emoji: "👍".into() },
        ServerMessage::HostAction { action: HostAction::Muted, by: "p_0".into(), target: Some("p_1".into()) },
        ServerMessage::MeetingUpdated { locked: true, recording: false },
        ServerMessage::Moved { ws_url: "wss://b/api/v1/meetings/1/ws".into(), node_id: "b".into() },
        ServerMessage::E2eeKey { from: "p_2".into(), blob: "AbC-_9".into() },
        ServerMessage::P2pMode {
            mode: MediaMode::P2p,
            peer: Some("p_2".into()),
            session: 1,
            offerer: true,
            reason: None,
        },
        ServerMessage::P2pMode {
            mode: MediaMode::Sfu,
            peer: None,
            session: 2,
            offerer: false,
            reason: Some("participants".into()),
        },
        ServerMessage::P2pOffer { from: "p_1".into(), session: 1, sdp: "v=0\r\n".into() },
        ServerMessage::P2pAnswer { from: "p_2".into(), session: 1, sdp: "v=0\r\n".into() },
        ServerMessage::P2pCandidate {
            from: "p_1".into(),
            session: 1,
            candidate: Some(IceCandidate {
                candidate: "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: None,
            }),
        },
        ServerMessage::CaptionsUpdated { on: true, by: Some("p_0".into()) },
        ServerMessage::Caption {
            participant_id: "p_1".into(),
            utterance: 3,
            text: "hello everyone".into(),
            is_final: true,
            start_ms: 1_500,
            end_ms: 2_900,
        },
        ServerMessage::error("not_allowed", "no", Some("mute")),
        ServerMessage::PollUpdated { poll },
        ServerMessage::BreakoutState {
            breakouts: Breakouts {
                open: true,
                assign: BreakoutAssign::Auto,
                rooms: vec![BreakoutRoom { room: 1, name: "Room 1".into(), participants: vec!["p_2".into()] }],
                seconds_left: Some(540),
                closing_in: None,
            },
        },
        ServerMessage::BreakoutMoved { room: 1, name: "Room 1".into(), tracks: vec![] },
        ServerMessage::BreakoutBroadcast { from: "p_1".into(), from_name: "Gus".into(), text: "Wrap up".into() },
        ServerMessage::BreakoutHelp {
            participant_id: "p_2".into(),
            display_name: "Ann".into(),
            room: 1,
            room_name: "Room 1".into(),
        },
    ]
}

#[test]
fn every_server_message_validates() {
    let v = validator("ServerMessage");
    let examples = server_examples();
    for msg in &examples {
        let value = serde_json::to_value(msg).unwrap();
        assert!(errors(&v, &value).is_empty(), "{value}: {:?}", errors(&v, &value));
    }
    let covered: Vec<&str> = examples.iter().map(ServerMessage::kind).collect();
    for kind in types_of("ServerMessage") {
        assert!(covered.contains(&kind.as_str()), "no example of the server message {kind}: add one above");
    }
    let bad = json!({"type": "participant_left", "participant_id": "p_1", "reason": "vanished"});
    assert!(!v.is_valid(&bad), "an unknown leave reason validates");
    let bad = json!({"type": "slot_map", "slots": [{"mid": "0", "kind": "data", "track_id": null}]});
    assert!(!v.is_valid(&bad), "a slot of an unknown kind validates");
}

/// The signaling fuzz target's corpus (seeds and crash regressions) and seeded mutations of
/// it through its entry point.
#[test]
fn the_signaling_fuzz_corpus_replays() {
    let v = validator("ClientMessage");
    let run = convene_testkit::fuzz::replay("signaling", 4_000, |data| {
        convene_protocol::fuzzing::client_frame(data, |value| v.is_valid(value));
    });
    assert!(run.corpus >= 10, "{run:?}");
}
