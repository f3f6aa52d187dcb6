//! Command line, environment and config file, merged into one [`Config`].
//!
//! Precedence: flags, then `CONVENE_*` environment variables (clap reads both), then the TOML
//! file named by `--config`, then built-in defaults.

mod media;
pub mod tls;

pub use media::HighWater;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

/// Convene: self-hosted video meetings.
#[derive(Debug, Parser)]
#[command(name = "convene", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server and storage options; they apply to every subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve,
    /// Administer accounts directly in the database the server uses.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an administrator account.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// The password; prefer --password-stdin or CONVENE_ADMIN_PASSWORD so it stays out of
        /// shell history.
        #[arg(long, env = "CONVENE_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make an existing account (by username or e-mail) an administrator.
    Promote { account: String },
    /// Mark an account's (by username or e-mail) address as verified, vouching for it.
    Verify { account: String },
    /// List accounts.
    List,
}

/// Every server setting; each flag also reads `CONVENE_<NAME>` and the config file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ServeArgs {
    /// TOML config file (keys are the long flag names with underscores).
    #[arg(long, env = "CONVENE_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address the HTTP server listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "CONVENE_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite database, uploads and the mail outbox [default: ./data].
    #[arg(long, env = "CONVENE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL; `postgres://…` for PostgreSQL [default: SQLite file in the data dir].
    #[arg(long, env = "CONVENE_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// URL people use to reach this server, used in links [default: http://<listen>].
    #[arg(long, env = "CONVENE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "CONVENE_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Whether anyone may register an account (the first account may always) [default: true].
    #[arg(long, env = "CONVENE_ALLOW_REGISTRATION", global = true)]
    pub allow_registration: Option<bool>,
    /// Server-wide cap on participants per meeting [default: 100].
    #[arg(long, env = "CONVENE_MAX_PARTICIPANTS", global = true)]
    pub max_participants: Option<u32>,
    /// Duration limit given to new meetings, in minutes [default: 60].
    #[arg(long, env = "CONVENE_DEFAULT_DURATION_LIMIT", global = true)]
    pub default_duration_limit: Option<u32>,
    /// Whether new meetings connect two participants directly (peer-to-peer), each meeting's
    /// `peer_to_peer` setting can say otherwise [default: true].
    #[arg(long, env = "CONVENE_PEER_TO_PEER", global = true)]
    pub peer_to_peer: Option<bool>,
    /// Longest duration limit a host may choose, in minutes [default: 1440].
    #[arg(long, env = "CONVENE_MAX_DURATION_LIMIT", global = true)]
    pub max_duration_limit: Option<u32>,
    /// Login attempts allowed per client IP per minute [default: 20].
    #[arg(long, env = "CONVENE_LOGIN_RATE_PER_IP", global = true)]
    pub login_rate_per_ip: Option<u32>,
    /// Failed logins allowed per account per 15 minutes before it is locked out [default: 10].
    #[arg(long, env = "CONVENE_LOGIN_FAILURES_PER_ACCOUNT", global = true)]
    pub login_failures_per_account: Option<u32>,
    /// Wrong meeting passcodes allowed per client IP per 10 minutes [default: 10].
    #[arg(long, env = "CONVENE_PASSCODE_FAILURES_PER_IP", global = true)]
    pub passcode_failures_per_ip: Option<u32>,
    /// Most invitees one meeting may have [default: 100].
    #[arg(long, env = "CONVENE_MAX_INVITEES", global = true)]
    pub max_invitees: Option<u32>,
    /// Most mails one account may cause per hour (invitations, updates, verification links)
    /// [default: 200].
    #[arg(long, env = "CONVENE_MAILS_PER_HOUR", global = true)]
    pub mails_per_hour: Option<u32>,
    /// Take the client IP from X-Forwarded-For (only behind a trusted proxy) [default: false].
    #[arg(long, env = "CONVENE_TRUST_PROXY", global = true)]
    pub trust_proxy: Option<bool>,
    /// Meeting WebSockets one client IP may hold open at once; NAT'd offices share an
    /// address, so keep it above the largest office [default: 200].
    #[arg(long, env = "CONVENE_MAX_SOCKETS_PER_IP", global = true)]
    pub max_sockets_per_ip: Option<u32>,
    /// Wait before the first webhook retry, in ms; it doubles per attempt up to an hour
    /// [default: 10000].
    #[arg(long, env = "CONVENE_WEBHOOK_RETRY_BASE_MS", global = true)]
    pub webhook_retry_base_ms: Option<u64>,
    /// Attempts per webhook delivery before it is marked failed [default: 10].
    #[arg(long, env = "CONVENE_WEBHOOK_MAX_ATTEMPTS", global = true)]
    pub webhook_max_attempts: Option<u32>,
    /// SMTP server for outgoing mail: smtp://host:25 (plain), smtp://user:pass@host:587?tls=required
    /// (STARTTLS) or smtps://user:pass@host:465 (TLS). Unset: mail goes to <data-dir>/outbox/*.eml.
    #[arg(long, env = "CONVENE_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of outgoing mail [default: Convene <no-reply@<public host>>].
    #[arg(long, env = "CONVENE_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// How often the background job worker looks for due jobs, in ms [default: 1000].
    #[arg(long, env = "CONVENE_JOB_POLL_MS", global = true)]
    pub job_poll_ms: Option<u64>,
    /// UDP address the media engine (SFU) listens on [default: 127.0.0.1:50000].
    #[arg(long, env = "CONVENE_MEDIA_LISTEN", global = true)]
    pub media_listen: Option<SocketAddr>,
    /// IP address advertised to browsers in ICE candidates (the public address of this host)
    /// [default: the media listen IP, or 127.0.0.1 when it is 0.0.0.0].
    #[arg(long, env = "CONVENE_MEDIA_PUBLIC_IP", global = true, alias = "public-ip")]
    pub media_public_ip: Option<std::net::IpAddr>,
    /// NATS server for cluster mode (JetStream required); unset: a single node.
    #[arg(long, env = "CONVENE_NATS_URL", global = true, hide_env_values = true)]
    pub nats_url: Option<String>,
    /// This node's name in the cluster [default: the host name].
    #[arg(long, env = "CONVENE_NODE_ID", global = true)]
    pub node_id: Option<String>,
    /// This node's own HTTP address; clients of meetings hosted here are sent to it
    /// [default: the public URL].
    #[arg(long, env = "CONVENE_NODE_URL", global = true)]
    pub node_url: Option<String>,
    /// Region tag of this node, for region-aware placement.
    #[arg(long, env = "CONVENE_REGION", global = true)]
    pub region: Option<String>,
    /// Request header in which the load balancer names the client's region (e.g. from
    /// GeoIP); placement prefers nodes of that region [default: X-Convene-Region].
    #[arg(long, env = "CONVENE_REGION_HEADER", global = true)]
    pub region_header: Option<String>,
    /// Name of the cluster: nodes with the same name (and NATS) form one [default: convene].
    #[arg(long, env = "CONVENE_CLUSTER_NAME", global = true)]
    pub cluster_name: Option<String>,
    /// Cluster mode: on SIGTERM, how long live meetings may stay before they are moved to
    /// other nodes, in seconds [default: 30].
    #[arg(long, env = "CONVENE_DRAIN_DEADLINE_S", global = true)]
    pub drain_deadline_s: Option<u64>,
    /// Media worker threads; each meeting's media runs on one of them [default: 0, one per core].
    #[arg(long, env = "CONVENE_MEDIA_WORKERS", global = true)]
    pub media_workers: Option<usize>,
    /// In a meeting with more than ten open microphones, only this many of the loudest are
    /// forwarded to everyone (Google Meet forwards three); 0 forwards every microphone
    /// [default: 3].
    #[arg(long, env = "CONVENE_AUDIBLE_SPEAKERS", global = true)]
    pub audible_speakers: Option<usize>,
    /// Live captions engine: `off`, `pocketsphinx` (Debian's `pocketsphinx-en-us` model
    /// unless `--captions-model` names another directory) or `whisper` (a build with the
    /// `whisper` feature and a ggml model file) [default: off].
    #[arg(long, env = "CONVENE_CAPTIONS_ENGINE", global = true)]
    pub captions_engine: Option<String>,
    /// The captions engine's model: PocketSphinx's model directory, whisper's ggml file.
    #[arg(long, env = "CONVENE_CAPTIONS_MODEL", global = true)]
    pub captions_model: Option<PathBuf>,
    /// Engine threads, i.e. people captioned while speaking at once [default: two per core
    /// for pocketsphinx, one per core for whisper].
    #[arg(long, env = "CONVENE_CAPTIONS_WORKERS", global = true)]
    pub captions_workers: Option<usize>,
    /// The spoken language for whisper (`en`, `de`, …) [default: detect].
    #[arg(long, env = "CONVENE_CAPTIONS_LANGUAGE", global = true)]
    pub captions_language: Option<String>,
    /// A media worker busy more than this percentage of a second is overloaded: joins are
    /// refused with `server_busy` and its meetings shed video [default: 85].
    #[arg(long, env = "CONVENE_MEDIA_HIGH_WATER_BUSY_PCT", global = true)]
    pub media_high_water_busy_pct: Option<u32>,
    /// A media worker whose media packets waited longer than this (ms) before it handled
    /// them is overloaded, whatever its busy share [default: 20].
    #[arg(long, env = "CONVENE_MEDIA_HIGH_WATER_DELAY_MS", global = true)]
    pub media_high_water_delay_ms: Option<u64>,
    /// Largest file people may share in a meeting chat, in MB [default: 25].
    #[arg(long, env = "CONVENE_MAX_UPLOAD_MB", global = true)]
    pub max_upload_mb: Option<u64>,
    /// How long a participant whose connection drops keeps their seat, in ms [default: 30000].
    #[arg(long, env = "CONVENE_RECONNECT_GRACE_MS", global = true)]
    pub reconnect_grace_ms: Option<u64>,
    /// How often live rooms check their duration limit, in ms [default: 1000].
    #[arg(long, env = "CONVENE_ROOM_TICK_MS", global = true)]
    pub room_tick_ms: Option<u64>,
    /// How often meetings are scanned for reminders to schedule, in ms [default: 15000].
    #[arg(long, env = "CONVENE_REMINDER_SCAN_MS", global = true)]
    pub reminder_scan_ms: Option<u64>,
    /// Where composed recordings are kept [default: <data-dir>/recordings].
    #[arg(long, env = "CONVENE_RECORDINGS_DIR", global = true)]
    pub recordings_dir: Option<PathBuf>,
    /// Days a ready recording is kept before it is deleted; 0 keeps recordings until
    /// someone deletes them [default: 0].
    #[arg(long, env = "CONVENE_RECORDING_RETENTION_DAYS", global = true)]
    pub recording_retention_days: Option<u32>,
    /// Lifetime of a signed recording download / streaming link, in seconds [default: 3600].
    #[arg(long, env = "CONVENE_RECORDING_LINK_TTL_SECS", global = true)]
    pub recording_link_ttl_secs: Option<u64>,
    /// Length of a raw recording chunk file, in ms: a crash loses at most this much
    /// [default: 10000].
    #[arg(long, env = "CONVENE_RECORDING_CHUNK_MS", global = true)]
    pub recording_chunk_ms: Option<u64>,
    /// Recorded packets the recorder may have queued before it drops new ones [default: 20000].
    #[arg(long, env = "CONVENE_RECORDING_QUEUE", global = true)]
    pub recording_queue: Option<usize>,
    /// The ffmpeg program that composes recordings [default: ffmpeg].
    #[arg(long, env = "CONVENE_FFMPEG", global = true)]
    pub ffmpeg: Option<String>,
    /// The ffprobe program that measures uploaded recordings; without it their duration is
    /// what the browser reported [default: ffprobe].
    #[arg(long, env = "CONVENE_FFPROBE", global = true)]
    pub ffprobe: Option<String>,
    /// Largest recording a participant may upload from their device, in MB [default: 2048].
    #[arg(long, env = "CONVENE_MAX_LOCAL_RECORDING_MB", global = true)]
    pub max_local_recording_mb: Option<u64>,
    /// How long an unfinished upload of a local recording is kept after its last chunk, in
    /// seconds, before it is deleted [default: 86400].
    #[arg(long, env = "CONVENE_RECORDING_UPLOAD_TTL_SECS", global = true)]
    pub recording_upload_ttl_secs: Option<u64>,
    /// Keep composed recordings in this S3-compatible bucket instead of a directory
    /// (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "CONVENE_RECORDINGS_S3_BUCKET", global = true)]
    pub recordings_s3_bucket: Option<String>,
    /// Endpoint of a non-AWS S3-compatible server, e.g. http://127.0.0.1:9000 [default: AWS].
    #[arg(long, env = "CONVENE_RECORDINGS_S3_ENDPOINT", global = true)]
    pub recordings_s3_endpoint: Option<String>,
    /// Region of the bucket [default: us-east-1].
    #[arg(long, env = "CONVENE_RECORDINGS_S3_REGION", global = true)]
    pub recordings_s3_region: Option<String>,
    /// Serve HTTPS: self-signed (a certificate made once in the data dir) or acme (certificates
    /// for --acme-domain); --tls-cert/--tls-key serve certificate files instead [default: off].
    #[arg(long, env = "CONVENE_TLS", global = true)]
    pub tls: Option<tls::TlsChoice>,
    /// PEM certificate chain to serve HTTPS with (reloaded on SIGHUP or when it changes).
    #[arg(long, env = "CONVENE_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "CONVENE_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,
    /// Address HTTPS listens on; --listen then only redirects to HTTPS [default: HTTPS on --listen].
    #[arg(long, env = "CONVENE_HTTPS_LISTEN", global = true)]
    pub https_listen: Option<SocketAddr>,
    /// Domain name(s) to get ACME certificates for (comma-separated; the first is the public host).
    #[arg(long, env = "CONVENE_ACME_DOMAIN", global = true, value_delimiter = ',')]
    pub acme_domain: Option<Vec<String>>,
    /// Contact e-mail(s) for the ACME account (comma-separated).
    #[arg(long, env = "CONVENE_ACME_EMAIL", global = true, value_delimiter = ',')]
    pub acme_email: Option<Vec<String>>,
    /// ACME directory URL [default: Let's Encrypt production].
    #[arg(long, env = "CONVENE_ACME_DIRECTORY", global = true)]
    pub acme_directory: Option<String>,
    /// PEM root certificate to trust for the ACME directory (a private or test CA).
    #[arg(long, env = "CONVENE_ACME_CA_ROOT", global = true)]
    pub acme_ca_root: Option<PathBuf>,
    /// ACME validation: tls-alpn-01 (on the HTTPS port) or http-01 (on --listen) [default: tls-alpn-01].
    #[arg(long, env = "CONVENE_ACME_CHALLENGE", global = true)]
    pub acme_challenge: Option<tls::AcmeChallenge>,
    /// Run the embedded TURN server: UDP and TCP on --turn-listen, TLS on the HTTPS port
    /// [default: false].
    #[arg(long, env = "CONVENE_TURN", global = true, num_args = 0..=1, default_missing_value = "true")]
    pub turn: Option<bool>,
    /// UDP and TCP address of the embedded TURN server [default: the media listen IP, port 3478].
    #[arg(long, env = "CONVENE_TURN_LISTEN", global = true)]
    pub turn_listen: Option<SocketAddr>,
    /// IP address clients reach the embedded TURN server at [default: --media-public-ip].
    #[arg(long, env = "CONVENE_TURN_PUBLIC_IP", global = true)]
    pub turn_public_ip: Option<std::net::IpAddr>,
    /// Shared secret for TURN credentials (coturn's static-auth-secret) [default: generated and
    /// kept in the database].
    #[arg(long, env = "CONVENE_TURN_SECRET", global = true, hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// External STUN/TURN server URLs handed to clients, e.g. turn:turn.example.com:3478?transport=udp
    /// (comma-separated; turn: and turns: URLs need --turn-secret).
    #[arg(long, env = "CONVENE_TURN_URL", global = true, value_delimiter = ',')]
    pub turn_url: Option<Vec<String>>,
    /// Lifetime of the TURN credentials in a join ticket, in seconds [default: 86400].
    #[arg(long, env = "CONVENE_TURN_TTL_SECS", global = true)]
    pub turn_ttl_secs: Option<u64>,
    /// A network (CIDR, e.g. 10.1.0.0/16) that webhooks and Web Push may reach although it is
    /// internal; repeat the flag (or comma-separate) for more. Unset: loopback, private,
    /// link-local, CGNAT, ULA and metadata addresses are all refused.
    #[arg(long, env = "CONVENE_OUTBOUND_ALLOW", global = true, value_delimiter = ',')]
    #[serde(default)]
    pub outbound_allow: Vec<ipnet::IpNet>,
    /// Serve /metrics on this separate address (e.g. 127.0.0.1:9090) instead of the API port.
    #[arg(long, env = "CONVENE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve /metrics on the API port to requests bearing this token
    /// (`Authorization: Bearer …`). Without it and without --metrics-listen, /metrics is off.
    #[arg(long, env = "CONVENE_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// End-to-end encrypted meetings: `allow` (each host chooses), `require` (every meeting
    /// is end-to-end encrypted) or `forbid` (none is) [default: allow].
    #[arg(long, env = "CONVENE_E2EE_POLICY", global = true)]
    pub e2ee_policy: Option<E2eePolicy>,
}

/// The server-wide rule for end-to-end encrypted meetings (docs/e2ee.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum E2eePolicy {
    /// Each host chooses per meeting (with a per-user default).
    #[default]
    Allow,
    /// Every meeting is end-to-end encrypted.
    Require,
    /// No meeting is end-to-end encrypted.
    Forbid,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

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
    /// When a media worker counts as overloaded.
    pub media_high_water: HighWater,
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

impl ServeArgs {
    /// Fills what flags and environment left unset from the config file, then defaults.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => ServeArgs::default(),
        };
        let listen = self.listen.or(file.listen).unwrap_or_else(|| ([127, 0, 0, 1], 8080).into());
        let data_dir = self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./data"));
        let database_url =
            self.database_url.or(file.database_url).unwrap_or_else(|| sqlite_url(&data_dir.join("convene.db")));
        let media_listen = self.media_listen.or(file.media_listen).unwrap_or_else(|| ([127, 0, 0, 1], 50000).into());
        let media_public_ip = self.media_public_ip.or(file.media_public_ip);
        let tls = tls::TlsFlags {
            tls: self.tls.or(file.tls),
            cert: self.tls_cert.or(file.tls_cert),
            key: self.tls_key.or(file.tls_key),
            https_listen: self.https_listen.or(file.https_listen),
            acme_domains: self.acme_domain.or(file.acme_domain).unwrap_or_default(),
            acme_email: self.acme_email.or(file.acme_email).unwrap_or_default(),
            acme_directory: self.acme_directory.or(file.acme_directory),
            acme_ca_root: self.acme_ca_root.or(file.acme_ca_root),
            acme_challenge: self.acme_challenge.or(file.acme_challenge),
        }
        .resolve()?;
        let turn = crate::turn::TurnConfig {
            embedded: self.turn.or(file.turn).unwrap_or(false),
            listen: self.turn_listen.or(file.turn_listen).unwrap_or((media_listen.ip(), 3478).into()),
            public_ip: self.turn_public_ip.or(file.turn_public_ip),
            secret: self.turn_secret.or(file.turn_secret),
            urls: self.turn_url.or(file.turn_url).unwrap_or_default(),
            ttl_secs: self.turn_ttl_secs.or(file.turn_ttl_secs).unwrap_or(86_400),
        };
        let public_url = self
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| tls.default_public_url(listen, media_public_ip))
            .trim_end_matches('/')
            .to_owned();
        url::Url::parse(&public_url).map_err(|e| anyhow::anyhow!("public_url {public_url:?}: {e}"))?;
        let node_url =
            self.node_url.or(file.node_url).unwrap_or_else(|| public_url.clone()).trim_end_matches('/').to_owned();
        let recordings_dir = self.recordings_dir.or(file.recordings_dir).unwrap_or_else(|| data_dir.join("recordings"));
        let outbound_allow = if self.outbound_allow.is_empty() { file.outbound_allow } else { self.outbound_allow };
        let captions = match self.captions_engine.or(file.captions_engine) {
            Some(engine) if !engine.trim().eq_ignore_ascii_case("off") => {
                let model = self.captions_model.or(file.captions_model);
                let mut c = convene_captions::EngineConfig::parse(&engine, model.as_deref())
                    .map_err(|e| anyhow::anyhow!("captions_engine: {e}"))?;
                c.language = self.captions_language.or(file.captions_language);
                Some(c)
            }
            _ => None,
        };
        let cfg = Config {
            captions,
            captions_workers: self.captions_workers.or(file.captions_workers).unwrap_or(0),
            outbound_allow,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            metrics_token: self.metrics_token.or(file.metrics_token).filter(|t| !t.is_empty()),
            e2ee_policy: self.e2ee_policy.or(file.e2ee_policy).unwrap_or_default(),
            recordings_dir,
            recording_retention_days: self.recording_retention_days.or(file.recording_retention_days).unwrap_or(0),
            recording_link_ttl_secs: self
                .recording_link_ttl_secs
                .or(file.recording_link_ttl_secs)
                .unwrap_or(3600)
                .max(1),
            recording_chunk_ms: self.recording_chunk_ms.or(file.recording_chunk_ms).unwrap_or(10_000).max(100),
            recording_queue: self.recording_queue.or(file.recording_queue).unwrap_or(20_000).max(16),
            ffmpeg: self.ffmpeg.or(file.ffmpeg).unwrap_or_else(|| "ffmpeg".into()),
            ffprobe: self.ffprobe.or(file.ffprobe).unwrap_or_else(|| "ffprobe".into()),
            max_local_recording_bytes: self
                .max_local_recording_mb
                .or(file.max_local_recording_mb)
                .unwrap_or(2048)
                .max(1)
                * 1024
                * 1024,
            recording_upload_ttl_secs: self
                .recording_upload_ttl_secs
                .or(file.recording_upload_ttl_secs)
                .unwrap_or(86_400)
                .max(60),
            recordings_s3_bucket: self.recordings_s3_bucket.or(file.recordings_s3_bucket),
            recordings_s3_endpoint: self.recordings_s3_endpoint.or(file.recordings_s3_endpoint),
            recordings_s3_region: self
                .recordings_s3_region
                .or(file.recordings_s3_region)
                .unwrap_or_else(|| "us-east-1".into()),
            listen,
            data_dir,
            database_url,
            public_url,
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
            allow_registration: self.allow_registration.or(file.allow_registration).unwrap_or(true),
            max_participants: self.max_participants.or(file.max_participants).unwrap_or(100),
            default_duration_limit: self.default_duration_limit.or(file.default_duration_limit).unwrap_or(60),
            peer_to_peer: self.peer_to_peer.or(file.peer_to_peer).unwrap_or(true),
            max_duration_limit: self.max_duration_limit.or(file.max_duration_limit).unwrap_or(1440),
            login_rate_per_ip: self.login_rate_per_ip.or(file.login_rate_per_ip).unwrap_or(20),
            login_failures_per_account: self
                .login_failures_per_account
                .or(file.login_failures_per_account)
                .unwrap_or(10),
            passcode_failures_per_ip: self.passcode_failures_per_ip.or(file.passcode_failures_per_ip).unwrap_or(10),
            max_invitees: self.max_invitees.or(file.max_invitees).unwrap_or(100),
            mails_per_hour: self.mails_per_hour.or(file.mails_per_hour).unwrap_or(200),
            trust_proxy: self.trust_proxy.or(file.trust_proxy).unwrap_or(false),
            max_sockets_per_ip: self.max_sockets_per_ip.or(file.max_sockets_per_ip).unwrap_or(200),
            webhook_retry_base_ms: self.webhook_retry_base_ms.or(file.webhook_retry_base_ms).unwrap_or(10_000),
            webhook_max_attempts: self.webhook_max_attempts.or(file.webhook_max_attempts).unwrap_or(10),
            smtp_url: self.smtp_url.or(file.smtp_url),
            smtp_from: self.smtp_from.or(file.smtp_from),
            media_listen,
            media_public_ip,
            tls,
            turn,
            media_workers: self.media_workers.or(file.media_workers).unwrap_or(0),
            audible_speakers: self
                .audible_speakers
                .or(file.audible_speakers)
                .unwrap_or(convene_sfu::DEFAULT_AUDIBLE_LIMIT),
            media_high_water: HighWater {
                busy_pct: self.media_high_water_busy_pct.or(file.media_high_water_busy_pct).unwrap_or(85),
                delay_ms: self.media_high_water_delay_ms.or(file.media_high_water_delay_ms).unwrap_or(20),
            },
            nats_url: self.nats_url.or(file.nats_url),
            node_id: self.node_id.or(file.node_id).unwrap_or_else(default_node_id),
            node_url,
            region: self.region.or(file.region),
            region_header: self
                .region_header
                .or(file.region_header)
                .unwrap_or_else(|| "x-convene-region".into())
                .to_ascii_lowercase(),
            cluster_name: self.cluster_name.or(file.cluster_name).unwrap_or_else(|| "convene".into()),
            drain_deadline_s: self.drain_deadline_s.or(file.drain_deadline_s).unwrap_or(30).min(3600),
            max_upload_bytes: self.max_upload_mb.or(file.max_upload_mb).unwrap_or(25).max(1) * 1024 * 1024,
            reconnect_grace_ms: self.reconnect_grace_ms.or(file.reconnect_grace_ms).unwrap_or(30_000),
            room_tick_ms: self.room_tick_ms.or(file.room_tick_ms).unwrap_or(1000).max(10),
            job_poll_ms: self.job_poll_ms.or(file.job_poll_ms).unwrap_or(1000).max(10),
            reminder_scan_ms: self.reminder_scan_ms.or(file.reminder_scan_ms).unwrap_or(15_000).max(10),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Config {
    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_participants >= 2, "max_participants must be at least 2");
        anyhow::ensure!(self.max_duration_limit >= 1, "max_duration_limit must be at least 1");
        anyhow::ensure!(
            (1..=self.max_duration_limit).contains(&self.default_duration_limit),
            "default_duration_limit must be between 1 and max_duration_limit"
        );
        anyhow::ensure!(self.login_rate_per_ip >= 1, "login_rate_per_ip must be at least 1");
        anyhow::ensure!(self.max_sockets_per_ip >= 1, "max_sockets_per_ip must be at least 1");
        anyhow::ensure!((1..=10_000).contains(&self.max_invitees), "max_invitees must be between 1 and 10000");
        anyhow::ensure!(self.mails_per_hour >= 1, "mails_per_hour must be at least 1");
        anyhow::ensure!(
            self.login_failures_per_account >= 1 && self.passcode_failures_per_ip >= 1,
            "failure limits must be at least 1"
        );
        url::Url::parse(&self.node_url).map_err(|e| anyhow::anyhow!("node_url {:?}: {e}", self.node_url))?;
        let name_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        anyhow::ensure!(name_ok(&self.node_id), "node_id may hold only letters, digits, - and _");
        anyhow::ensure!(name_ok(&self.cluster_name), "cluster_name may hold only letters, digits, - and _");
        anyhow::ensure!(self.media_workers <= 1024, "media_workers must be at most 1024 (0: one per core)");
        anyhow::ensure!(self.audible_speakers <= 100, "audible_speakers must be at most 100 (0: every microphone)");
        let high_water = self.media_high_water;
        anyhow::ensure!(
            (1..=100).contains(&high_water.busy_pct),
            "media_high_water_busy_pct must be 1-100 (100: never by busy share)"
        );
        anyhow::ensure!(high_water.delay_ms <= 60_000, "media_high_water_delay_ms must be at most 60000");
        anyhow::ensure!(self.webhook_retry_base_ms >= 1, "webhook_retry_base_ms must be at least 1");
        self.turn.validate()?;
        anyhow::ensure!(
            (1..=100).contains(&self.webhook_max_attempts),
            "webhook_max_attempts must be between 1 and 100"
        );
        if let Some(token) = &self.metrics_token {
            anyhow::ensure!(token.len() >= 16, "metrics_token must be at least 16 characters");
        }
        Ok(())
    }

    /// A configuration for tests and embedding: everything default under `data_dir`, media on
    /// a free port.
    pub fn for_data_dir(data_dir: &Path) -> Config {
        ServeArgs {
            data_dir: Some(data_dir.to_owned()),
            media_listen: Some(([127, 0, 0, 1], 0).into()),
            ..Default::default()
        }
        .resolve()
        .expect("defaults are valid")
    }
}

/// The host name (a node's default id), cleaned to what registry keys allow.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let id: String =
        host.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if id.is_empty() {
        "node".into()
    } else {
        id
    }
}

fn read_file(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("convene.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_participants = 50\n").unwrap();
        let cli = Cli::parse_from(["convene", "--config", file.to_str().unwrap(), "--max-participants", "20"]);
        let cfg = cli.serve.resolve().unwrap();
        assert_eq!(cfg.listen.port(), 9000, "file value used when no flag");
        assert_eq!(cfg.max_participants, 20, "flag wins over file");
        assert_eq!(cfg.default_duration_limit, 60, "default when nobody sets it");
        assert_eq!(cfg.public_url, "http://127.0.0.1:9000");
    }

    #[test]
    fn unknown_keys_in_file_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let cli = Cli::parse_from(["convene", "--config", file.to_str().unwrap()]);
        let err = cli.serve.resolve().unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn invalid_limits_are_refused() {
        let cli = Cli::parse_from(["convene", "--default-duration-limit", "100", "--max-duration-limit", "50"]);
        assert!(cli.serve.resolve().is_err());
        let cli = Cli::parse_from(["convene", "--audible-speakers", "101"]);
        let err = cli.serve.resolve().unwrap_err().to_string();
        assert!(err.contains("audible_speakers"), "{err}");
    }

    #[test]
    fn outbound_allow_list_and_metrics_settings() {
        let cfg = Cli::parse_from(["convene"]).serve.resolve().unwrap();
        assert!(cfg.outbound_allow.is_empty(), "nothing internal is reachable by default");
        assert!(cfg.metrics_listen.is_none() && cfg.metrics_token.is_none(), "metrics are off by default");
        let cli = Cli::parse_from([
            "convene",
            "--outbound-allow",
            "10.1.0.0/16",
            "--outbound-allow",
            "fd00::/8,127.0.0.1/32",
        ]);
        let cfg = cli.serve.resolve().unwrap();
        assert_eq!(cfg.outbound_allow.len(), 3);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "outbound_allow = [\"192.168.5.0/24\"]\nmetrics_listen = \"127.0.0.1:9090\"\n").unwrap();
        let cfg = Cli::parse_from(["convene", "--config", file.to_str().unwrap()]).serve.resolve().unwrap();
        assert_eq!(cfg.outbound_allow, vec!["192.168.5.0/24".parse::<ipnet::IpNet>().unwrap()]);
        assert_eq!(cfg.metrics_listen, Some(([127, 0, 0, 1], 9090).into()));
        assert!(Cli::try_parse_from(["convene", "--outbound-allow", "not-a-network"]).is_err());
        let err = Cli::parse_from(["convene", "--metrics-token", "short"]).serve.resolve().unwrap_err().to_string();
        assert!(err.contains("metrics_token"), "{err}");
    }

    #[test]
    fn large_meetings_forward_the_three_loudest_microphones_unless_told_otherwise() {
        let cfg = Cli::parse_from(["convene"]).serve.resolve().unwrap();
        assert_eq!(cfg.audible_speakers, 3);
        let cfg = Cli::parse_from(["convene", "--audible-speakers", "0"]).serve.resolve().unwrap();
        assert_eq!(cfg.audible_speakers, 0, "0: every microphone");
    }
}
