//! Resolving the options into a [`Config`]: flags and environment, then the config file,
//! then defaults; then the checks a running server relies on.

use std::path::{Path, PathBuf};

use super::{tls, Config, HighWater, ServeArgs};

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
        let forwarding = forwarding(
            self.downlink_estimate.or(file.downlink_estimate).as_deref(),
            self.downlink_transport.or(file.downlink_transport).as_deref(),
            self.uplink_transport.or(file.uplink_transport).as_deref(),
        )?;
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
            forwarding,
            audible_speakers: self
                .audible_speakers
                .or(file.audible_speakers)
                .unwrap_or(convene_sfu::DEFAULT_AUDIBLE_LIMIT),
            media_high_water: HighWater {
                busy_pct: self.media_high_water_busy_pct.or(file.media_high_water_busy_pct).unwrap_or(85),
                delay_ms: self.media_high_water_delay_ms.or(file.media_high_water_delay_ms).unwrap_or(20),
            },
            media_udp_gso: self.media_udp_gso.or(file.media_udp_gso).unwrap_or(true),
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

/// Where viewers' estimates come from and whose transport carries media each way: the SFU's
/// default (`remb`, the `own` transport both ways) unless told; `twcc` is str0m's, on str0m's
/// downlink transport.
fn forwarding(
    estimate: Option<&str>,
    transport: Option<&str>,
    uplink: Option<&str>,
) -> anyhow::Result<convene_sfu::Forwarding> {
    use convene_sfu::{DownlinkEstimate, Forwarding};
    let estimate = match estimate {
        None => Forwarding::default().estimate,
        Some("twcc") => DownlinkEstimate::SenderSide,
        Some("remb") => DownlinkEstimate::Receiver,
        Some(other) => anyhow::bail!("downlink_estimate {other:?}: expected `twcc` or `remb`"),
    };
    let own_downlink = match transport {
        None => estimate == DownlinkEstimate::Receiver && Forwarding::default().own_downlink,
        Some("str0m") => false,
        Some("own") if estimate == DownlinkEstimate::Receiver => true,
        Some("own") => anyhow::bail!(
            "downlink_transport \"own\" needs downlink_estimate \"remb\": it has no sender-side estimator"
        ),
        Some(other) => anyhow::bail!("downlink_transport {other:?}: expected `str0m` or `own`"),
    };
    let own_uplink = match uplink {
        None => Forwarding::default().own_uplink,
        Some("own") => true,
        Some("str0m") => false,
        Some(other) => anyhow::bail!("uplink_transport {other:?}: expected `str0m` or `own`"),
    };
    Ok(Forwarding { estimate, own_downlink, own_uplink })
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
    use clap::Parser as _;

    use crate::config::Cli;

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

    #[test]
    fn media_sends_segment_unless_told_not_to() {
        assert!(Cli::parse_from(["convene"]).serve.resolve().unwrap().media_udp_gso);
        let cfg = Cli::parse_from(["convene", "--media-udp-gso", "false"]).serve.resolve().unwrap();
        assert!(!cfg.media_udp_gso);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "media_udp_gso = false\n").unwrap();
        let cfg = Cli::parse_from(["convene", "--config", file.to_str().unwrap()]).serve.resolve().unwrap();
        assert!(!cfg.media_udp_gso, "from the config file");
        assert!(Cli::try_parse_from(["convene", "--media-udp-gso", "sometimes"]).is_err());
    }

    #[test]
    fn viewers_get_the_browsers_estimate_on_the_own_transport_unless_told() {
        use convene_sfu::{DownlinkEstimate, Forwarding};
        let resolve = |args: &[&str]| Cli::parse_from([&["convene"], args].concat()).serve.resolve();
        let cfg = resolve(&[]).unwrap();
        assert_eq!((cfg.forwarding.estimate, cfg.forwarding.own_downlink), (DownlinkEstimate::Receiver, true));
        assert!(cfg.forwarding.own_uplink, "publishers are read by the own uplink unless told");
        // str0m's sender-side estimate comes with str0m's transport, the only one that has it.
        assert_eq!(resolve(&["--downlink-estimate", "twcc"]).unwrap().forwarding, Forwarding::STR0M_SENDER_SIDE);
        let str0m = resolve(&["--downlink-transport", "str0m"]).unwrap().forwarding;
        assert_eq!((str0m.estimate, str0m.own_downlink, str0m.own_uplink), (DownlinkEstimate::Receiver, false, true));
        let up = resolve(&["--uplink-transport", "str0m"]).unwrap().forwarding;
        assert_eq!((up.own_downlink, up.own_uplink), (true, false));
        let err = resolve(&["--uplink-transport", "mine"]).unwrap_err().to_string();
        assert!(err.contains("uplink_transport") && err.contains("own"), "{err}");
        let own = resolve(&["--downlink-estimate", "remb", "--downlink-transport", "own"]).unwrap().forwarding;
        assert_eq!(own, Forwarding::default());
        let err = resolve(&["--downlink-estimate", "twcc", "--downlink-transport", "own"]).unwrap_err().to_string();
        assert!(err.contains("downlink_transport") && err.contains("remb"), "{err}");
        let err = resolve(&["--downlink-estimate", "gcc"]).unwrap_err().to_string();
        assert!(err.contains("downlink_estimate") && err.contains("remb"), "{err}");
        let err = resolve(&["--downlink-transport", "quic"]).unwrap_err().to_string();
        assert!(err.contains("quic") && err.contains("own"), "{err}");
    }
}
