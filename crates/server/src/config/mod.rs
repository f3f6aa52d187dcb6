//! Command line, environment and config file, merged into one [`Config`].
//!
//! Precedence: flags, then `CONVENE_*` environment variables (clap reads both), then the TOML
//! file named by `--config`, then built-in defaults. The command line is in `cli.rs`, every
//! serve option in `flags.rs`, the merge and its checks in `resolve.rs`.

mod cli;
mod flags;
mod media;
mod resolve;
pub mod tls;

pub use cli::{AdminAction, Cli, Command};
pub use flags::{E2eePolicy, LogFormat, ServeArgs};
pub use media::HighWater;

use std::net::SocketAddr;
use std::path::PathBuf;

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub public_url: String,
    pub log_format: LogFormat,
    pub allow_registration: bool,
    pub max_participants: u32,
    pub default_duration_limit: u32,
    /// The default of the meetings' `peer_to_peer` setting.
    pub peer_to_peer: bool,
    pub max_duration_limit: u32,
    pub login_rate_per_ip: u32,
    pub login_failures_per_account: u32,
    pub passcode_failures_per_ip: u32,
    pub max_invitees: u32,
    pub mails_per_hour: u32,
    pub trust_proxy: bool,
    pub max_sockets_per_ip: u32,
    pub webhook_retry_base_ms: u64,
    pub webhook_max_attempts: u32,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub job_poll_ms: u64,
    pub reconnect_grace_ms: u64,
    pub media_listen: SocketAddr,
    pub media_public_ip: Option<std::net::IpAddr>,
    /// Media worker threads (0: one per core).
    pub media_workers: usize,
    /// Loudest microphones forwarded in a crowded meeting (0: all).
    pub audible_speakers: usize,
    /// Where a viewer's downlink estimate comes from, and whose transport carries media each
    /// way.
    pub forwarding: convene_sfu::Forwarding,
    /// When a media worker counts as overloaded.
    pub media_high_water: HighWater,
    /// Whether media sends use UDP segmentation offload where the kernel offers it.
    pub media_udp_gso: bool,
    /// The live captions engine (`None`: off server-wide) and its worker threads (0: the
    /// engine's default for this machine).
    pub captions: Option<convene_captions::EngineConfig>,
    pub captions_workers: usize,
    pub nats_url: Option<String>,
    pub node_id: String,
    pub node_url: String,
    pub region: Option<String>,
    /// Lower-case header name carrying the client's region.
    pub region_header: String,
    pub cluster_name: String,
    pub drain_deadline_s: u64,
    /// Largest shared file, in bytes.
    pub max_upload_bytes: u64,
    pub room_tick_ms: u64,
    pub reminder_scan_ms: u64,
    pub recordings_dir: PathBuf,
    pub recording_retention_days: u32,
    pub recording_link_ttl_secs: u64,
    pub recording_chunk_ms: u64,
    pub recording_queue: usize,
    pub ffmpeg: String,
    pub ffprobe: String,
    /// Largest uploaded (local) recording, in bytes.
    pub max_local_recording_bytes: u64,
    pub recording_upload_ttl_secs: u64,
    pub recordings_s3_bucket: Option<String>,
    pub recordings_s3_endpoint: Option<String>,
    pub recordings_s3_region: String,
    /// HTTPS (off by default).
    pub tls: tls::TlsConfig,
    /// TURN servers handed to clients, the embedded one included.
    pub turn: crate::turn::TurnConfig,
    /// Internal networks outbound requests to user-chosen URLs may reach anyway.
    pub outbound_allow: Vec<ipnet::IpNet>,
    pub metrics_listen: Option<SocketAddr>,
    pub metrics_token: Option<String>,
    pub e2ee_policy: E2eePolicy,
}
