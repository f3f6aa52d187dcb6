//! Test harness: a real Convene server on port 0 with a fresh database (SQLite file or a new
//! PostgreSQL database), and small helpers that speak its HTTP API like a client would.
#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod media;
pub mod proxy;
pub mod ws;

use std::time::Duration;

use convene::{AppState, Config};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

/// Which database a test runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// URL of the server (its maintenance database), e.g. postgres://postgres@127.0.0.1:5432/postgres
    Postgres(String),
}

impl Backend {
    /// PostgreSQL if it is reachable. When it is not: under CI=true the test fails (a missing
    /// service must never silently skip tests); locally the test is skipped with a notice.
    pub fn postgres() -> Option<Backend> {
        let url = std::env::var("CONVENE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let addr = url::Url::parse(&url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(5432))))
            .unwrap_or_default();
        let reachable =
            addr.parse().ok().is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
        if reachable {
            return Some(Backend::Postgres(url));
        }
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("PostgreSQL is not reachable at {url} and CI=true: refusing to skip PostgreSQL tests");
        }
        eprintln!("SKIPPED: PostgreSQL not reachable at {url} (set CI=true to make this an error)");
        None
    }
}

/// Generates `sqlite::name` and `postgres::name` tests from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   if let Some(b) = $crate::common::Backend::postgres() { super::$name(b).await }
               } )*
        }
    };
}

/// A throwaway PostgreSQL database, dropped when the test ends.
struct PgDb {
    admin_url: String,
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub data_dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _db: Option<PgDb>,
}

/// An HTTP answer: status, headers and body (JSON if it parses, else `Value::Null`).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }

    /// Asserts the status and, for errors, that the body has the documented shape.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        if status >= 400 {
            assert!(self.body["error"]["code"].is_string(), "error without code: {}", self.body);
            assert!(self.body["error"]["message"].is_string(), "error without message: {}", self.body);
        }
        &self.body
    }

    /// Asserts an error status and code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        self.expect(status);
        assert_eq!(self.code(), code, "body: {}", self.body);
    }
}

/// The bearer token test servers want for `/metrics` on the API port.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// A signed-in account.
#[derive(Clone, Debug)]
pub struct Account {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// Starts a server whose config `tweak` may change first.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        // `RUST_LOG=convene=debug cargo nextest run … --no-capture` shows the server's logs.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ =
                tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
        }
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::for_data_dir(data_dir.path());
        // Tests share a busy machine and a debug build, whose delays (a 12-person meeting's
        // renegotiations hold a worker for a second or more) would count as media overload:
        // refused joins, shed video. Only the overload test sets real marks.
        config.media_high_water = convene::media::HighWater { busy_pct: 100, delay_ms: 60_000 };
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin_url) => {
                use sqlx::Connection;
                let name = format!("convene_t_{}", uuid::Uuid::new_v4().simple());
                let mut c = sqlx::PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create database");
                let mut url = url::Url::parse(&admin_url).unwrap();
                url.set_path(&name);
                config.database_url = url.to_string();
                Some(PgDb { admin_url, name })
            }
        };
        // Tests' webhook receivers and push services listen on loopback; a test of the
        // outbound rule clears this in its tweak.
        config.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()];
        config.metrics_token = Some(METRICS_TOKEN.into());
        tweak(&mut config);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        TestApp::start(config, client, data_dir, db).await
    }

    /// Binds a free port, builds the state and serves until `stop`.
    async fn start(mut config: Config, client: reqwest::Client, data_dir: TempDir, db: Option<PgDb>) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        config.listen = addr;
        config.public_url = format!("http://{addr}");
        config.node_url = format!("http://{addr}");
        OUTBOXES.lock().unwrap().push(config.data_dir.join("outbox"));
        let state = AppState::new(config).await.expect("server state");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            convene::server::serve(server_state, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server");
        });
        TestApp {
            base: format!("http://{addr}"),
            client,
            state,
            data_dir,
            shutdown: Some(tx),
            server: Some(server),
            _db: db,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
        self.state.store.close().await;
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::reply(req.send().await.expect("request")).await
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Reply {
        Self::reply(req.send().await.expect("request")).await
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body, bytes }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.request(Method::DELETE, path, token, body).await
    }

    /// Registers `username` (e-mail `<username>@example.com`), confirms the address with the
    /// link mailed to it, as its owner would, and signs in.
    pub async fn account(&self, username: &str) -> Account {
        let account = self.unverified_account(username).await;
        let me = self.get("/api/v1/users/me", Some(&account.token)).await;
        if me.body["email_verified"] != true {
            self.verify_email(&account.email).await;
        }
        account
    }

    /// Registers `username` and signs in without opening the verification link.
    pub async fn unverified_account(&self, username: &str) -> Account {
        let email = format!("{username}@example.com");
        self.post("/api/v1/users/register", None, json!({"username": username, "email": email, "password": PASSWORD}))
            .await
            .expect(202);
        self.login(&email, PASSWORD).await
    }

    /// The token of the newest verification link mailed to `email` (waits for the mail).
    pub async fn verification_token(&self, email: &str) -> String {
        let text = self.mail_to(email, "verify-email?token=").await;
        let start = text.find("verify-email?token=").unwrap() + "verify-email?token=".len();
        text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
    }

    /// The newest mail to `to` containing `needle` (quoted-printable soft breaks undone),
    /// waiting for the mail job to write it.
    pub async fn mail_to(&self, to: &str, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let header = format!("To: {to}");
        loop {
            // A cluster's nodes share the mail queue: any node's worker may have written it.
            let found = every_outbox()
                .iter()
                .rev()
                .map(|raw| raw.replace("=\r\n", "").replace("=3D", "="))
                .find(|text| text.lines().any(|l| l.trim_end() == header) && text.contains(needle));
            if let Some(text) = found {
                return text;
            }
            assert!(std::time::Instant::now() < deadline, "no mail to {to} containing {needle:?} in the outbox");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens the newest verification link mailed to `email`, as its owner would.
    pub async fn verify_email(&self, email: &str) {
        let token = self.verification_token(email).await;
        self.post("/api/v1/users/verify-email", None, json!({"token": token})).await.expect(200);
    }

    pub async fn login(&self, email: &str, password: &str) -> Account {
        let r = self.post("/api/v1/users/login", None, json!({"email": email, "password": password})).await;
        let body = r.expect(200);
        let user_id = body["user_id"].as_str().unwrap().to_owned();
        let me = self.get("/api/v1/users/me", body["token"].as_str()).await;
        Account {
            user_id,
            username: me.body["username"].as_str().unwrap_or_default().to_owned(),
            email: email.to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Schedules a meeting as `host` with extra fields merged into a valid body.
    pub async fn meeting(&self, host: &Account, extra: Value) -> Value {
        let mut body = json!({"title": "Weekly sync", "start_time": in_hours(1), "duration_minutes": 30});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/v1/meetings", Some(&host.token), body).await.expect(201).clone()
    }

    /// The messages written to the mail outbox so far, as text.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.state.config.data_dir.join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

/// The outbox folders of every server this test process started (nextest runs each test in a
/// process of its own): a cluster's nodes share the mail queue, so a mail may land in any.
static OUTBOXES: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

fn every_outbox() -> Vec<String> {
    let dirs = OUTBOXES.lock().unwrap().clone();
    let mut files: Vec<_> = dirs
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten())
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    // Outbox files are named by time, so the newest sorts last whichever node wrote it.
    files.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

/// RFC 3339 time `hours` from now (negative for the past).
pub fn in_hours(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339()
}

impl TestApp {
    /// Stops the server and starts a new one (a fresh `AppState`, as after a process restart)
    /// on the same database and data directory.
    pub async fn restart(mut self) -> TestApp {
        self.halt().await;
        let config = (*self.state.config).clone();
        TestApp::start(config, self.client, self.data_dir, self._db).await
    }
}
