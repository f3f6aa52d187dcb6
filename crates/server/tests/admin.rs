//! Server administration: the admin API (list, disable, enable) and the `convene admin` command line.
mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Backend, TestApp, PASSWORD};
use serde_json::{json, Value};

// ----- helpers -----

async fn login_status(app: &TestApp, email: &str, password: &str) -> common::Reply {
    app.post("/api/v1/users/login", None, json!({"email": email, "password": password})).await
}

fn usernames(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
}

/// Runs the real `convene` binary against `data_dir`, feeding `stdin` if given.
fn convene(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convene"));
    cmd.arg("--data-dir").arg(data_dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CONVENE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run convene");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().expect("convene output")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", out.status, stdout(out), String::from_utf8_lossy(&out.stderr))
}

/// The `admin list` line for `username`, split into its tab-separated columns.
fn listed(out: &Output, username: &str) -> Option<Vec<String>> {
    stdout(out)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.len() == 6 && cols[1] == username)
}

/// A server using the SQLite database in `dir` (which outlives the server).
async fn spawn_on_dir(dir: &Path) -> TestApp {
    let dir = dir.to_owned();
    TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.database_url = format!("sqlite://{}?mode=rwc", dir.join("convene.db").display());
        c.data_dir = dir;
    })
    .await
}

// ----- admin API -----

async fn list_users_paginates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    for name in ["bob", "carol", "dave", "erin"] {
        app.account(name).await;
    }
    let r = app.get("/api/v1/admin/users", Some(&alice.token)).await;
    let all = r.expect(200);
    assert_eq!(all["total"], 5);
    assert_eq!(all["page"], 1);
    assert_eq!(all["page_size"], 20, "default page size");
    assert_eq!(usernames(all), ["alice", "bob", "carol", "dave", "erin"], "oldest first");
    let bob = &all["items"][1];
    assert_eq!(bob["email"], "bob@example.com", "admins see e-mail addresses");
    assert_eq!(bob["role"], "user");
    assert_eq!(bob["disabled"], false);
    assert_eq!(all["items"][0]["role"], "admin");
    assert!(!String::from_utf8_lossy(&r.bytes).contains("argon2"), "no password hashes");

    let mut seen = Vec::new();
    for (page, expected) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let r = app.get(&format!("/api/v1/admin/users?page={page}&page_size=2"), Some(&alice.token)).await;
        let body = r.expect(200);
        assert_eq!(body["page"], page);
        assert_eq!(body["page_size"], 2);
        assert_eq!(body["total"], 5, "total counts every match, not the page");
        assert_eq!(body["items"].as_array().unwrap().len(), expected, "page {page}");
        seen.extend(usernames(body));
    }
    assert_eq!(seen, ["alice", "bob", "carol", "dave", "erin"], "pages neither overlap nor skip");
    let r = app.get("/api/v1/admin/users?page_size=100", Some(&alice.token)).await;
    assert_eq!(r.expect(200)["items"].as_array().unwrap().len(), 5);
    let r = app.get("/api/v1/admin/users?page_size=1", Some(&alice.token)).await;
    assert_eq!(usernames(r.expect(200)), ["alice"]);
    app.stop().await;
}

async fn list_users_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    app.account("bobby").await;
    app.account("carol_x").await;
    app.patch("/api/v1/users/me", Some(&bob.token), json!({"display_name": "Robert Tables"})).await.expect(200);

    let q = |query: &str| {
        let path = format!("/api/v1/admin/users?{query}");
        let token = alice.token.clone();
        let app = &app;
        async move { app.get(&path, Some(&token)).await }
    };
    let r = q("q=bob").await;
    assert_eq!(usernames(r.expect(200)), ["bob", "bobby"]);
    assert_eq!(r.body["total"], 2);
    assert_eq!(usernames(q("q=BOB").await.expect(200)), ["bob", "bobby"], "case-insensitive");
    assert_eq!(usernames(q("q=tables").await.expect(200)), ["bob"], "matches display names");
    assert_eq!(usernames(q("q=alice%40example").await.expect(200)), ["alice"], "matches e-mail");
    let none = q("q=zzz").await;
    assert_eq!(none.expect(200)["total"], 0);
    assert!(none.body["items"].as_array().unwrap().is_empty());
    let paged = q("q=bob&page=2&page_size=1").await;
    assert_eq!(usernames(paged.expect(200)), ["bobby"]);
    assert_eq!(paged.body["total"], 2);
    // SQL wildcards in the search text are matched literally.
    assert_eq!(usernames(q("q=_").await.expect(200)), ["carol_x"], "'_' is not a wildcard");
    assert_eq!(q("q=%25").await.expect(200)["total"], 0, "'%' is not a wildcard");
    assert_eq!(q("q=%5C").await.expect(200)["total"], 0, "a backslash is just a character");
    assert_eq!(usernames(q("q=l_x").await.expect(200)), ["carol_x"]);
    app.stop().await;
}

async fn admin_api_requires_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    app.get("/api/v1/admin/users", None).await.expect_error(401, "missing_token");
    app.get("/api/v1/admin/users", Some("garbage")).await.expect_error(401, "invalid_token");
    app.get("/api/v1/admin/users", Some(&bob.token)).await.expect_error(403, "admin_only");
    let disable = format!("/api/v1/admin/users/{}/disable", alice.user_id);
    app.post(&disable, Some(&bob.token), json!({})).await.expect_error(403, "admin_only");
    app.post(&disable, None, json!({})).await.expect_error(401, "missing_token");
    app.post(&format!("/api/v1/admin/users/{}/enable", bob.user_id), Some(&bob.token), json!({}))
        .await
        .expect_error(403, "admin_only");
    // The refused calls did nothing.
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200);
    app.stop().await;
}

async fn list_users_rejects_bad_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    for query in ["page_size=0", "page_size=1000", "page_size=101", "page=0", "page=-1", "page_size=-5"] {
        app.get(&format!("/api/v1/admin/users?{query}"), Some(&alice.token)).await.expect_error(400, "invalid_page");
    }
    for query in ["page=abc", "page_size=ten"] {
        app.get(&format!("/api/v1/admin/users?{query}"), Some(&alice.token)).await.expect_error(400, "invalid_query");
    }
    app.stop().await;
}

async fn disable_and_enable_a_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let bob = app.account("bob").await;
    app.get("/api/v1/users/me", Some(&bob.token)).await.expect(200);

    let r = app.post(&format!("/api/v1/admin/users/{}/disable", bob.user_id), Some(&alice.token), json!({})).await;
    let me = r.expect(200);
    assert_eq!(me["user_id"], bob.user_id.as_str());
    assert_eq!(me["disabled"], true);

    app.get("/api/v1/users/me", Some(&bob.token)).await.expect_error(401, "account_disabled");
    app.get("/api/v1/users/me/export", Some(&bob.token)).await.expect_error(401, "account_disabled");
    app.post("/api/v1/users/refresh", None, json!({"refresh_token": bob.refresh_token})).await.expect(401);
    login_status(&app, "bob@example.com", PASSWORD).await.expect_error(403, "account_disabled");
    // A wrong password still gets the generic answer.
    login_status(&app, "bob@example.com", "wrong password!").await.expect_error(401, "invalid_credentials");
    // No reset mail for a disabled account (but the same 202 answer). Mail goes out in order
    // through a background job, so once alice's (asked for afterwards) is there, bob's would be.
    app.post("/api/v1/users/password-reset", None, json!({"email": "bob@example.com"})).await.expect(202);
    app.post("/api/v1/users/password-reset", None, json!({"email": "alice@example.com"})).await.expect(202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !app.outbox().iter().any(|m| m.contains("reset-password")) {
        assert!(std::time::Instant::now() < deadline, "alice's reset mail never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let outbox: Vec<String> = app.outbox().into_iter().filter(|m| m.contains("reset-password")).collect();
    assert_eq!(outbox.len(), 1, "no reset mail for a disabled account");
    assert!(outbox[0].contains("alice@example.com") && !outbox[0].contains("bob@example.com"));

    let list = app.get("/api/v1/admin/users?q=bob", Some(&alice.token)).await;
    assert_eq!(list.expect(200)["items"][0]["disabled"], true);
    // Disabling twice is harmless.
    let again = app.post(&format!("/api/v1/admin/users/{}/disable", bob.user_id), Some(&alice.token), json!({})).await;
    assert_eq!(again.expect(200)["disabled"], true);

    let r = app.post(&format!("/api/v1/admin/users/{}/enable", bob.user_id), Some(&alice.token), json!({})).await;
    assert_eq!(r.expect(200)["disabled"], false);
    let back = login_status(&app, "bob@example.com", PASSWORD).await;
    let token = back.expect(200)["token"].as_str().unwrap().to_owned();
    app.get("/api/v1/users/me", Some(&token)).await.expect(200);
    // Sessions ended by the disable stay ended.
    app.get("/api/v1/users/me", Some(&bob.token)).await.expect(401);
    app.stop().await;
}

async fn disable_refuses_self_and_unknown_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    app.post(&format!("/api/v1/admin/users/{}/disable", alice.user_id), Some(&alice.token), json!({}))
        .await
        .expect_error(409, "cannot_disable_self");
    app.get("/api/v1/users/me", Some(&alice.token)).await.expect(200);
    let ghost = "00000000-0000-0000-0000-000000000000";
    app.post(&format!("/api/v1/admin/users/{ghost}/disable"), Some(&alice.token), json!({}))
        .await
        .expect_error(404, "user_not_found");
    app.post(&format!("/api/v1/admin/users/{ghost}/enable"), Some(&alice.token), json!({}))
        .await
        .expect_error(404, "user_not_found");
    app.get(&format!("/api/v1/admin/users/{}/disable", alice.user_id), Some(&alice.token))
        .await
        .expect_error(405, "method_not_allowed");
    app.stop().await;
}

backend_tests!(
    list_users_paginates,
    list_users_filters,
    admin_api_requires_an_admin,
    list_users_rejects_bad_paging,
    disable_and_enable_a_user,
    disable_refuses_self_and_unknown_users,
);

// ----- command line (SQLite) -----

#[test]
fn cli_create_admin_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = convene(
        dir.path(),
        &["admin", "create", "--username", "root", "--email", "Root@Example.com", "--password-stdin"],
        Some("a strong root password\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains("root"), "{}", describe(&out));
    assert!(dir.path().join("convene.db").exists(), "the database lives in the data dir");

    let list = convene(dir.path(), &["admin", "list"], None);
    assert!(list.status.success(), "{}", describe(&list));
    assert!(stdout(&list).contains("1 account"), "{}", describe(&list));
    let root = listed(&list, "root").unwrap_or_else(|| panic!("root not listed\n{}", describe(&list)));
    assert_eq!(root[2], "root@example.com");
    assert_eq!(root[3], "admin");
    assert_eq!(root[4], "active");
    assert_eq!(root[5], "verified", "an administrator the operator created needs no link");

    // The same name again is refused.
    let dup = convene(
        dir.path(),
        &["admin", "create", "--username", "root", "--email", "other@example.com", "--password-stdin"],
        Some("a strong root password\n"),
    );
    assert!(!dup.status.success(), "{}", describe(&dup));
}

#[test]
fn cli_create_refuses_weak_or_missing_password() {
    let dir = tempfile::tempdir().unwrap();
    let weak = convene(
        dir.path(),
        &["admin", "create", "--username", "root", "--email", "root@example.com", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!weak.status.success(), "{}", describe(&weak));
    let missing = convene(dir.path(), &["admin", "create", "--username", "root", "--email", "root@example.com"], None);
    assert!(!missing.status.success(), "{}", describe(&missing));
    let list = convene(dir.path(), &["admin", "list"], None);
    assert!(list.status.success(), "{}", describe(&list));
    assert!(stdout(&list).contains("0 account"), "{}", describe(&list));
    assert!(listed(&list, "root").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_promote_registered_account() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on_dir(dir.path()).await;
    app.account("alice").await;
    let bob = app.unverified_account("bob").await;
    app.get("/api/v1/admin/users", Some(&bob.token)).await.expect_error(403, "admin_only");
    app.stop().await;

    let before = convene(dir.path(), &["admin", "list"], None);
    let listed_bob = listed(&before, "bob").unwrap_or_else(|| panic!("{}", describe(&before)));
    assert_eq!((listed_bob[3].as_str(), listed_bob[5].as_str()), ("user", "unverified"));
    // The operator vouches for bob's address.
    let out = convene(dir.path(), &["admin", "verify", "bob@example.com"], None);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(listed(&convene(dir.path(), &["admin", "list"], None), "bob").unwrap()[5], "verified");
    let out = convene(dir.path(), &["admin", "promote", "bob"], None);
    assert!(out.status.success(), "{}", describe(&out));
    let after = convene(dir.path(), &["admin", "list"], None);
    assert!(stdout(&after).contains("2 account"), "{}", describe(&after));
    assert_eq!(listed(&after, "bob").unwrap()[3], "admin");
    assert_eq!(listed(&after, "alice").unwrap()[3], "admin");

    let unknown = convene(dir.path(), &["admin", "promote", "nobody"], None);
    assert!(!unknown.status.success(), "{}", describe(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody"), "{}", describe(&unknown));

    // A server on the same data dir sees bob as an administrator.
    let app = spawn_on_dir(dir.path()).await;
    let bob = app.login("bob@example.com", PASSWORD).await;
    let list = app.get("/api/v1/admin/users", Some(&bob.token)).await;
    assert_eq!(list.expect(200)["total"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_created_admin_makes_registrations_plain_users() {
    let dir = tempfile::tempdir().unwrap();
    let out = convene(
        dir.path(),
        &["admin", "create", "--username", "root", "--email", "root@example.com", "--password-stdin"],
        Some("a strong root password\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let app = spawn_on_dir(dir.path()).await;
    let r = app
        .post(
            "/api/v1/users/register",
            None,
            json!({"username": "stranger", "email": "stranger@example.com", "password": PASSWORD}),
        )
        .await;
    r.expect(202);
    let stranger = app.login("stranger", PASSWORD).await;
    let stranger = app.get("/api/v1/users/me", Some(&stranger.token)).await;
    assert_eq!(stranger.expect(200)["role"], "user", "the server already has an administrator");
    assert_eq!(stranger.body["email_verified"], false, "a registered address still needs its link");
    let root = app.login("root@example.com", "a strong root password").await;
    let me = app.get("/api/v1/users/me", Some(&root.token)).await;
    assert_eq!(me.expect(200)["role"], "admin");
    assert_eq!(me.body["email_verified"], true, "an administrator created by the operator is verified");
    app.stop().await;
}

#[test]
fn cli_help_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_convene")).arg("--help").output().unwrap();
    assert!(help.status.success(), "{}", describe(&help));
    let text = stdout(&help);
    assert!(text.contains("serve") && text.contains("admin"), "{text}");
    let admin_help = Command::new(env!("CARGO_BIN_EXE_convene")).args(["admin", "--help"]).output().unwrap();
    assert!(admin_help.status.success());
    let text = stdout(&admin_help);
    assert!(text.contains("create") && text.contains("promote") && text.contains("list"), "{text}");

    for args in [
        &["--max-participants", "lots", "admin", "list"][..],
        &["--max-participants", "1", "admin", "list"],
        &["--allow-registration", "maybe", "admin", "list"],
        &["--no-such-flag", "admin", "list"],
        &["admin", "frobnicate"],
    ] {
        let out = convene(dir.path(), args, None);
        assert!(!out.status.success(), "{args:?} should fail\n{}", describe(&out));
        assert!(!out.stderr.is_empty(), "{args:?} explains itself\n{}", describe(&out));
    }
}
