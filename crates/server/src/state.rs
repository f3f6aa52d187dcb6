//! What every request handler can reach: the shared services (services.rs, reached through
//! `Deref`: `state.store`), and above them the live meetings, token keys and attempt
//! limits.

use std::sync::Arc;

use crate::auth::ratelimit::Limiter;
use crate::auth::token::Keys;
use crate::clock::Clock;
use crate::config::Config;
use crate::events::EventBus;
use crate::mail::Mailer;
use crate::services::Services;
use crate::store::Store;

/// Shared server state; cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    services: Services,
    pub keys: Keys,
    pub limits: Arc<Limits>,
    /// The live meetings on this node (they take the services, not this state).
    pub live: crate::live::Live,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Attempt limits, kept in memory (per node).
pub struct Limits {
    /// Login and registration attempts per client IP per minute.
    pub auth_per_ip: Limiter,
    /// Failed logins per account per 15 minutes.
    pub login_failures: Limiter,
    /// Wrong passcodes per client IP per 10 minutes.
    pub passcode_failures: Limiter,
    /// Mails each account causes per hour (`--mails-per-hour`).
    pub mails: Limiter,
    /// Account mails (verification links, "you already have an account") per address per
    /// hour, so registration cannot be used to flood someone's inbox.
    pub account_mails: Limiter,
}

impl Limits {
    pub fn new(cfg: &Config) -> Limits {
        Limits {
            auth_per_ip: Limiter::new(cfg.login_rate_per_ip, 60_000),
            login_failures: Limiter::new(cfg.login_failures_per_account, 15 * 60_000),
            passcode_failures: Limiter::new(cfg.passcode_failures_per_ip, 10 * 60_000),
            mails: Limiter::new(cfg.mails_per_hour, 60 * 60_000),
            account_mails: Limiter::new(5, 60 * 60_000),
        }
    }

    pub fn prune(&self, now_ms: i64) {
        self.auth_per_ip.prune(now_ms);
        self.login_failures.prune(now_ms);
        self.passcode_failures.prune(now_ms);
        self.mails.prune(now_ms);
        self.account_mails.prune(now_ms);
    }
}

impl AppState {
    /// Connects the store and loads (or creates) the signing secret.
    pub async fn new(config: Config) -> crate::error::Result<AppState> {
        Self::build(config, true).await
    }

    /// State for commands that never serve meetings (no media ports opened).
    pub async fn without_media(config: Config) -> crate::error::Result<AppState> {
        Self::build(config, false).await
    }

    async fn build(config: Config, with_media: bool) -> crate::error::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Store::connect(&config.database_url).await?;
        let secret = store.secret("jwt_hmac", crate::auth::random_secret).await?;
        // Web Push keys exist from the first start on (every node reads the same ones).
        crate::push::VapidKeys::load(&store).await?;
        let live = crate::live::Live::default();
        // Media events reach the live meetings on a channel: the media runtime knows no meeting.
        let (media_events, media_rx) = crate::media::channel();
        let link_secret = store.secret("recording_links", crate::auth::random_secret).await?;
        let recordings = crate::recorder::Recordings::new(&config, link_secret.as_bytes())
            .map_err(|e| anyhow::anyhow!("recording storage: {e}"))?;
        // Before the media runtime, which feeds it; only a server that serves meetings loads
        // the engine (a bad model stops it here with the engine's message).
        let (captions, caption_rx) =
            if with_media { crate::captions::Captions::start(&config)? } else { Default::default() };
        let media = if with_media {
            // Before the workers take their counters (media_sent_bytes_total…): a counter taken
            // before the recorder exists counts into nothing.
            crate::metrics_recorder::prometheus();
            crate::media::Media::start(
                config.media_listen,
                config.media_public_ip,
                config.media_workers,
                config.audible_speakers,
                config.forwarding,
                config.media_high_water,
                config.media_udp_gso,
                media_events,
                recordings.recorder.sink(),
                captions.sink(),
            )
            .map_err(|e| anyhow::anyhow!("cannot open the media port {}: {e}", config.media_listen))?
        } else {
            crate::media::Media::detached()
        };
        let turn = if with_media {
            let secret = store.secret("turn_rest", crate::auth::random_secret).await?;
            crate::turn::Turn::start_for(&config, secret, media.candidate).await?
        } else {
            crate::turn::Turn::default()
        };
        let cluster = if with_media {
            crate::cluster::Cluster::connect(&config, &media).await?
        } else {
            crate::cluster::Cluster::single(&config.node_id)
        };
        // The server journals writes it must queue while the database is away; admin
        // commands (no media) never queue and must not replay another process's journal.
        let backlog = if with_media {
            let path = config.data_dir.join("db-backlog.jsonl");
            crate::store::Backlog::open(&path)
                .map_err(|e| anyhow::anyhow!("cannot open the write journal {}: {e}", path.display()))?
        } else {
            crate::store::Backlog::default()
        };
        if with_media {
            live.relay(media_rx);
        }
        let limits = Arc::new(Limits::new(&config));
        let services = Services {
            backlog,
            cluster,
            mailer: Mailer::from_config(&config)?,
            outbound: crate::outbound::Outbound::new(&config.outbound_allow),
            config: Arc::new(config),
            store,
            clock: Clock::default(),
            events: EventBus::default(),
            media,
            recordings,
            turn,
            captions,
        };
        if let Some(rx) = caption_rx {
            live.relay_captions(services.clone(), rx);
        }
        Ok(AppState { services, keys: Keys::new(secret.as_bytes()), limits, live })
    }
}
