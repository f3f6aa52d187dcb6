//! Running the server: logging, the listener, housekeeping and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::config::{Config, LogFormat};
use crate::state::AppState;

/// How often a cluster node checks that the meetings live on it are still placed on it.
const RECONCILE_EVERY: Duration = Duration::from_secs(2);

/// Installs the global `tracing` subscriber (`RUST_LOG` overrides the default level).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs until SIGINT / SIGTERM, then finishes in-flight requests and exits.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    // Certificate problems stop start-up before anything else is opened.
    let tls = crate::tls::Tls::start(&config)?;
    let state = AppState::new(config).await?;
    let drain_state = state.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Cluster mode: move live meetings to other nodes before going away.
        let deadline = Duration::from_secs(drain_state.config.drain_deadline_s);
        drain_state.live.drain(&drain_state, deadline).await;
    };
    if let Some(tls) = tls {
        let (config, database, turn) = (state.config.clone(), state.store.backend(), state.turn.tls_streams());
        let app = state.clone();
        let main = |https: crate::tls::HttpsListener, stop| serve_on(app, https.tap_io(|_| ()), stop);
        crate::tls::serve(config, database, turn, tls, shutdown, main).await?;
    } else {
        let listener =
            TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        tracing::info!(
            address = %listener.local_addr()?,
            public_url = %state.config.public_url,
            database = ?state.store.backend(),
            data_dir = %state.config.data_dir.display(),
            "Convene is running"
        );
        serve(state.clone(), listener, shutdown).await?;
    }
    state.cluster.leave().await;
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves the app on a bound listener until `shutdown` resolves. Tests use this with port 0.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(state, without_nagle(listener), shutdown).await
}

/// `listener` with Nagle's algorithm off on every connection it accepts. Signaling is small
/// messages, often two in a row: with Nagle's algorithm the second waits until the first is
/// acknowledged, and the peer delays its ACK (40 ms on Linux) — a slot subscriber's offer,
/// written right after its welcome, did on every join (bench/RESULTS.md, twenty-first pass).
/// The HTTPS listener (`crate::tls`) sets the same.
fn without_nagle(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    fn no_delay(tcp: &mut TcpStream) {
        // A socket that cannot take the option still serves, just later.
        let _ = tcp.set_nodelay(true);
    }
    listener.tap_io(no_delay)
}

/// [`serve`] on any listener that knows its clients' addresses (the HTTPS one, `crate::tls`).
pub async fn serve_on<L>(
    state: AppState,
    listener: L,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    SocketAddr: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let live = state.live.clone();
    let heartbeat = state.cluster.spawn_heartbeat(move || live.load(), state.media.clone());
    let reconcile = state.cluster.is_clustered().then(|| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            loop {
                tick.tick().await;
                state.live.reconcile(&state).await;
            }
        })
    });
    let backlog = state.backlog.spawn(state.store.clone());
    let revocations = crate::live::revocation::spawn_listener(&state, &state.live).await;
    let webhooks = crate::webhooks::start(&state);
    let notifier = crate::jobs::spawn(&state);
    let live = state.live.clone();
    let recordings = crate::recording::spawn_upkeep(&state, move |m| live.is_recording(m));
    let metrics = match state.config.metrics_listen {
        Some(addr) => Some(spawn_metrics(addr).await?),
        None => None,
    };
    let app = crate::http::app(state);
    let result = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    housekeeping.abort();
    backlog.abort();
    for h in heartbeat.iter().chain(&reconcile).chain(&revocations) {
        h.abort();
    }
    recordings.abort();
    webhooks.abort();
    metrics.iter().for_each(JoinHandle::abort);
    notifier.iter().for_each(JoinHandle::abort);
    result
}

/// Serves `/metrics` on its own address, away from the public API port.
async fn spawn_metrics(addr: SocketAddr) -> std::io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen for metrics on {addr}: {e}")))?;
    tracing::info!(address = %listener.local_addr()?, "metrics listener");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, crate::http::metrics_app()).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    }))
}

/// Periodic chores that keep memory bounded.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.limits.prune(state.clock.now_ms());
        state.live.floodgates.prune();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_nagles_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut served = without_nagle(listener);
        let client = tokio::spawn(TcpStream::connect(addr));
        let (stream, _) = served.accept().await;
        assert!(stream.nodelay().unwrap(), "a signaling connection must not hold small writes back");
        client.await.unwrap().unwrap();
    }
}
