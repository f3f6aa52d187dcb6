//! Convene: a self-hosted video-meeting server.
//!
//! `http` is the REST API, `store` persistence (SQLite or PostgreSQL), `meeting` the meeting
//! domain (IDs, settings, schedules), `auth` passwords, tokens and attempt limits. `server`
//! ties them to a socket; `admin` is the command-line account administration.
#![warn(unreachable_pub)]

pub mod account;
pub mod admin;
pub mod auth;
pub mod avatar;
pub mod background;
pub mod captions;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod jobs;
pub mod live;
pub mod mail;
pub mod media;
pub mod meeting;
pub mod metrics_recorder;
pub mod notify;
pub mod outbound;
pub mod push;
pub mod recorder;
pub mod recording;
pub mod server;
pub mod services;
pub mod state;
pub mod store;
pub mod tls;
pub mod turn;
pub mod webhooks;

pub use config::Config;
pub use error::{Error, Result};
pub use state::AppState;
