//! The process's one client for outbound HTTP requests (Web Push services, other cluster
//! nodes): pooled connections, bounded time, and no redirects — a push service or a node
//! answers directly, and a redirect would carry credentials somewhere else.

use std::sync::OnceLock;
use std::time::Duration;

pub(crate) fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("convene/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}
