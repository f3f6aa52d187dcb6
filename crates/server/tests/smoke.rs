//! A first sign of life on both backends: register, sign in, read my account.
mod common;
use common::{Backend, TestApp};

async fn register_and_read_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.account("alice").await;
    let me = app.get("/api/v1/users/me", Some(&alice.token)).await;
    assert_eq!(me.expect(200)["username"], "alice");
    assert_eq!(me.body["role"], "admin", "first account is admin");
    app.stop().await;
}

backend_tests!(register_and_read_me);
