//! Every `convene serve` option in one struct: each a flag, a `CONVENE_*` environment
//! variable and a config-file key; unset is `None` until [`ServeArgs::resolve`] fills it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::tls;

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
    /// Where a viewer's downlink estimate comes from, which picks the video layers they get:
    /// `remb` (the browser estimates and reports it; no pacing or padding) or `twcc` (str0m
    /// estimates from the browser's transport-wide feedback, paces and probes with padding;
    /// only on str0m's transport, which it then selects) [default: remb].
    #[arg(long, env = "CONVENE_DOWNLINK_ESTIMATE", global = true)]
    pub downlink_estimate: Option<String>,
    /// Whose transport sends viewers their media: `own` (Convene's own ICE, DTLS-SRTP, RTX and
    /// RTCP; about half the server CPU per forwarded packet of str0m's with `twcc`; needs
    /// `--downlink-estimate remb`) or `str0m` (str0m's WebRTC session) [default: own, str0m
    /// with `--downlink-estimate twcc`].
    #[arg(long, env = "CONVENE_DOWNLINK_TRANSPORT", global = true)]
    pub downlink_transport: Option<String>,
    /// Whose transport reads what publishers send: `own` (Convene's own ICE, DTLS-SRTP and RTP
    /// session: NACK, receiver reports, transport-wide feedback for the browser's send-side
    /// estimate, keyframe requests) or `str0m` (str0m's WebRTC session) [default: own].
    #[arg(long, env = "CONVENE_UPLINK_TRANSPORT", global = true)]
    pub uplink_transport: Option<String>,
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
    /// Send each viewer's run of packets (a video frame's) as one segmented send where the
    /// kernel offers UDP segmentation offload (Linux 4.18+); `false` sends every datagram on
    /// its own [default: true].
    #[arg(long, env = "CONVENE_MEDIA_UDP_GSO", global = true)]
    pub media_udp_gso: Option<bool>,
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
