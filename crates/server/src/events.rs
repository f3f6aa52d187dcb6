//! Domain events ("meeting.scheduled", "participant.joined", …) on an in-process bus.
//!
//! Producers emit and never wait; subscribers (webhooks, notifications, later the cluster
//! relay) each get every event. The embedded default needs nothing more; cluster mode will
//! bridge this bus to NATS.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

/// Event kinds Convene emits.
pub const KINDS: &[&str] = &[
    "meeting.scheduled",
    "meeting.updated",
    "meeting.cancelled",
    "meeting.started",
    "meeting.ended",
    "participant.joined",
    "participant.left",
    "recording.ready",
    "chat.message",
];

/// Something that happened, as webhook payloads carry it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unique id, so receivers can drop duplicates (delivery is at least once).
    pub id: String,
    /// One of [`KINDS`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub created_at: DateTime<Utc>,
    /// The meeting it concerns, if any.
    pub meeting_id: Option<i64>,
    /// The account that owns the meeting (user-level webhooks receive only these).
    #[serde(skip)]
    pub owner_id: Option<String>,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(
        kind: &'static str,
        at: DateTime<Utc>,
        meeting_id: Option<i64>,
        owner_id: Option<String>,
        data: serde_json::Value,
    ) -> Event {
        debug_assert!(KINDS.contains(&kind), "unknown event kind {kind}");
        Event { id: uuid::Uuid::new_v4().to_string(), kind, created_at: at, meeting_id, owner_id, data }
    }
}

/// Fan-out of events to every subscriber.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { tx: broadcast::channel(4096).0 }
    }
}

impl EventBus {
    /// Publishes; never blocks. With no subscriber the event is simply dropped.
    pub fn emit(&self, event: Event) {
        tracing::debug!(kind = event.kind, meeting_id = ?event.meeting_id, "event");
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
