//! Recordings kept in an S3-compatible bucket: a real S3 API server (moto, from PyPI;
//! `scripts/test` installs it) receives the composed file; playback with Range and deletion
//! go through the bucket.
mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::media::{MediaClient, RealMedia};
use common::ws::meeting_with;
use common::{Backend, TestApp};
use serde_json::json;

/// A moto S3 server on a free port, stopped on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto; `None` (skipped, with a notice) when it is not installed, unless CI=true.
async fn s3_server() -> Option<S3Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spawned = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("moto_server (pip install 'moto[server]') is needed for the S3 tests and CI=true: {e}");
            }
            eprintln!("SKIPPED: moto_server not found ({e}); pip install 'moto[server]'");
            return None;
        }
    };
    let server = S3Server { child, endpoint: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(server)
}

async fn recordings_go_to_the_bucket_and_play_from_it(backend: Backend) {
    let Some(s3) = s3_server().await else { return };
    // moto checks no signatures, but object_store wants credentials to sign with.
    std::env::set_var("AWS_ACCESS_KEY_ID", "convene-test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "convene-test-secret");
    let http = reqwest::Client::new();
    let created = http.put(format!("{}/recordings", s3.endpoint)).send().await.unwrap();
    assert!(created.status().is_success(), "create bucket: {}", created.status());

    let endpoint = s3.endpoint.clone();
    let app = TestApp::spawn_with(backend, |c| {
        c.job_poll_ms = 100;
        c.recordings_s3_bucket = Some("recordings".into());
        c.recordings_s3_endpoint = Some(endpoint);
    })
    .await;
    let host = app.account("s3host").await;
    let m = meeting_with(&app, &host, json!({"auto_record": true})).await;
    let mut c = MediaClient::join(&app, &m, Some(&host), "Hana").await;
    c.send_real_media(Arc::new(RealMedia::generate(app.data_dir.path(), 440)));
    c.publish().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.signaling().send(json!({"type": "end_meeting"}));
    c.signaling().expect("meeting_ended").await;

    let list = app.get("/api/v1/recordings", Some(&host.token)).await;
    let id = list.expect(200)[0]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(90);
    let ready = loop {
        let r = app.get(&format!("/api/v1/recordings/{id}"), Some(&host.token)).await;
        let body = r.expect(200).clone();
        if body["status"] == "ready" || body["status"] == "failed" {
            break body;
        }
        assert!(Instant::now() < deadline, "still {}", body["status"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ready["status"], "ready", "{ready}");

    // The object is in the bucket (read with a client of our own), not on local disk.
    use object_store::ObjectStore as _;
    let bucket = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name("recordings")
        .with_region("us-east-1")
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .build()
        .unwrap();
    let key = object_store::path::Path::from(format!("{id}.webm"));
    let stored = bucket.get(&key).await.expect("the object is in the bucket").bytes().await.unwrap();
    assert_eq!(stored.len() as i64, ready["size_bytes"].as_i64().unwrap());
    assert!(!app.data_dir.path().join("recordings").join(format!("{id}.webm")).exists());

    // Playback reads the bucket, ranges included.
    let stream = ready["stream_url"].as_str().unwrap();
    let whole = app.raw(app.client.get(format!("{}{stream}", app.base))).await;
    assert_eq!(whole.status.as_u16(), 200);
    assert_eq!(whole.bytes, stored);
    let part = app.raw(app.client.get(format!("{}{stream}", app.base)).header("Range", "bytes=10-19")).await;
    assert_eq!(part.status.as_u16(), 206);
    assert_eq!(part.bytes, stored[10..20]);

    // Deleting the recording deletes the object.
    app.delete(&format!("/api/v1/recordings/{id}"), Some(&host.token), None).await.expect(204);
    assert!(matches!(bucket.head(&key).await, Err(object_store::Error::NotFound { .. })), "the object is gone");
    app.stop().await;
}

backend_tests!(recordings_go_to_the_bucket_and_play_from_it);
