//! A signaling client for tests: joins over HTTP, speaks the meeting WebSocket.
#![allow(dead_code)]

use std::time::Duration;

use convene_protocol::ServerMessage;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{Account, TestApp};

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signaling client.
pub struct Client {
    pub ws: Socket,
}

impl Client {
    pub async fn connect(app: &TestApp, meeting_id: i64, query: &str) -> Client {
        let url = format!("{}/api/v1/meetings/{meeting_id}/ws?{query}", app.base.replace("http://", "ws://"));
        Client::connect_url(&url).await
    }

    pub async fn connect_url(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket upgrade");
        Client { ws }
    }

    /// Connects like a client should: when the node answers `moved` (cluster mode), connects
    /// to the node it names with the same query. Returns the first frame of the final socket.
    pub async fn connect_following(app: &TestApp, meeting_id: i64, query: &str) -> (Client, Value) {
        let mut c = Client::connect(app, meeting_id, query).await;
        let mut first = c.next().await.expect("a first frame");
        for _ in 0..3 {
            if first["type"] != "moved" {
                break;
            }
            assert_eq!(c.close_code().await, Some(4302), "moved is followed by close 4302");
            let url = format!("{}?{query}", first["ws_url"].as_str().unwrap());
            c = Client::connect_url(&url).await;
            first = c.next().await.expect("a first frame");
        }
        (c, first)
    }

    /// Joins through the REST API and connects with the ticket; returns the welcome too.
    pub async fn join(app: &TestApp, meeting: &Value, who: Option<&Account>, name: &str) -> (Client, Value) {
        let id = meeting["meeting_id"].as_i64().unwrap();
        let body = json!({"passcode": meeting["passcode"], "display_name": name});
        let ticket = app.post(&format!("/api/v1/meetings/{id}/join"), who.map(|a| a.token.as_str()), body).await;
        let ticket = ticket.expect(200)["ticket"].as_str().unwrap().to_owned();
        let (c, welcome) = Client::connect_following(app, id, &format!("ticket={ticket}")).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        (c, welcome)
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    /// Next protocol message (skipping pings), or None when the socket closes.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(10)).await
    }

    /// Next protocol message, waiting at most `within` (panics after).
    pub async fn next_within(&mut self, within: Duration) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(within, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("a message within {within:?}"));
            match frame {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    // Every frame must be a valid protocol message.
                    serde_json::from_value::<ServerMessage>(v.clone()).expect("frame matches the protocol");
                    return Some(v);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for a message of `kind`, skipping others.
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let m = self.next().await.unwrap_or_else(|| panic!("socket closed while waiting for {kind}"));
            if m["type"] == kind {
                return m;
            }
        }
    }

    /// Waits for a message of `kind` for which `pred` holds, skipping others.
    pub async fn expect_where(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let m = self.expect(kind).await;
            if pred(&m) {
                return m;
            }
        }
    }

    /// Waits for a `host_action` of the given action.
    pub async fn expect_action(&mut self, action: &str) -> Value {
        self.expect_where("host_action", |m| m["action"] == action).await
    }

    /// Reads until the close frame; returns its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await.expect("close within 10 s");
            match frame {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                _ => continue,
            }
        }
    }
}

/// An instant meeting that lets people in before the host unless `settings` say otherwise.
pub async fn meeting_with(app: &TestApp, host: &Account, settings: Value) -> Value {
    let mut s = json!({"join_before_host": true});
    s.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    app.meeting(host, json!({"start_time": null, "settings": s})).await
}

impl Client {
    /// Joins with an explicit join body (e.g. with `client_id`); panics unless admitted to
    /// the socket. Returns the first frame (`welcome` or `waiting`).
    pub async fn join_body(app: &TestApp, meeting: &Value, who: Option<&Account>, body: Value) -> (Client, Value) {
        let id = meeting["meeting_id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/meetings/{id}/join"), who.map(|a| a.token.as_str()), body).await;
        let ticket = r.expect(200)["ticket"].as_str().unwrap().to_owned();
        Client::connect_following(app, id, &format!("ticket={ticket}")).await
    }
}
