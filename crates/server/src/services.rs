//! What the server's parts below the HTTP API share: config, store, clock, domain events,
//! the write backlog, mail, the outbound rule, the media runtime, the cluster and recordings.
//! The live meetings, recordings, notifications, push and webhooks take these (never the
//! whole `AppState`, which holds the live meetings themselves), so no import runs back up.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::events::EventBus;
use crate::mail::Mailer;
use crate::store::Store;

/// Shared services; cloning is cheap.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    pub events: EventBus,
    pub mailer: Mailer,
    /// Chat and attendance writes waiting for the database to come back.
    pub backlog: crate::store::Backlog,
    /// The rule and client for requests to user-chosen URLs (webhooks, Web Push).
    pub outbound: crate::outbound::Outbound,
    pub media: crate::media::Media,
    /// This node's place in the cluster (a cluster of one without NATS).
    pub cluster: crate::cluster::Cluster,
    pub recordings: crate::recorder::Recordings,
    /// The STUN / TURN servers handed to clients (and the embedded TURN server, when on);
    /// peer-to-peer pairs open its relay to each other (live/p2p.rs).
    pub turn: crate::turn::Turn,
    /// The live captions engine (off server-wide unless `--captions-engine`).
    pub captions: crate::captions::Captions,
}
