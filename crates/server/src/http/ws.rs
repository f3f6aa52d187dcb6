//! The meeting WebSocket: authenticates a join ticket (or a resume token), seats the
//! participant and relays the signaling protocol (`convene_protocol`) both ways.
//!
//! Refusals happen after the upgrade, as an `error` frame followed by a close with a 4xxx
//! code, because browsers cannot read the body of a refused upgrade.
//!
//! Flood limits (`live::limits`): each message is charged to its sender's token buckets;
//! over them it is refused with `rate_limited`, and a sender who keeps on is disconnected
//! (4429). A client address holds at most `max_sockets_per_ip` sockets at once.
//!
//! Every close the server starts completes the closing handshake (RFC 6455 §7.1.1): the
//! server waits briefly for the client's Close before it drops TCP. Dropped at once, the
//! client's answer meets a closed socket, the reset can discard the Close still unread in
//! the browser, and the page sees 1006 ("connection lost": it resumes) instead of the code.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use convene_protocol::{parse_client, ClientMessage, ServerMessage, MAX_MESSAGE_BYTES};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ClientIp, Query};
use crate::cluster::Owner;
use crate::error::{error_response, Error};
use crate::live::limits::{SocketSlot, Verdict};
use crate::live::revocation;
use crate::live::{Entered, Room};
use crate::meeting::MeetingId;
use crate::state::AppState;

/// Application close codes (4000 + the closest HTTP status).
mod close {
    pub(super) const BAD_REQUEST: u16 = 4400;
    pub(super) const UNAUTHORIZED: u16 = 4401;
    pub(super) const FORBIDDEN: u16 = 4403;
    pub(super) const NOT_FOUND: u16 = 4404;
    pub(super) const CONFLICT: u16 = 4409;
    pub(super) const GONE: u16 = 4410;
    pub(super) const ENDED: u16 = 4000;
    pub(super) const REPLACED: u16 = 4001;
    /// Cluster mode: the meeting is on another node (a `moved` frame says where).
    pub(super) const MOVED: u16 = 4302;
    pub(super) const TOO_SLOW: u16 = 4002;
    /// The account's live access was revoked (disabled, deleted, password changed).
    pub(super) const REVOKED: u16 = 4003;
    /// The participant kept sending past the rate limits.
    pub(super) const FLOODING: u16 = 4429;
    /// RFC 6455 "try again later": this address has too many sockets open.
    pub(super) const TRY_LATER: u16 = 1013;
}

/// How often the server pings an idle socket, so dead connections are noticed.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// How long the server waits for the client's Close after its own before dropping TCP.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WsQuery {
    /// Join ticket from `POST /api/v1/meetings/{id}/join` (single use).
    ticket: Option<String>,
    /// Resume token from an earlier `welcome`, to get the same seat back.
    resume: Option<String>,
    /// End-to-end encrypted meetings, with `resume`: the new public identity key of a
    /// reloaded page (others learn it from `participant_updated`).
    e2ee_identity: Option<String>,
}

/// Open the meeting's signaling WebSocket (see docs/protocol.md).
#[utoipa::path(get, path = "/api/v1/meetings/{id}/ws", tag = "meetings",
    params(("id" = i64, Path, description = "meeting ID"), WsQuery),
    responses((status = 101, description = "WebSocket upgrade. The first frame is `welcome` (in the meeting), `waiting` \
            (in the waiting room), `moved` (cluster mode: connect to its `ws_url` with the same query; close 4302) or `error` \
            (refused; a close with a 4xxx or 1011 code follows). docs/protocol.md §1 and §5."),
        (status = 426, description = "not a WebSocket upgrade request", body = crate::error::ErrorBody)))]
pub(crate) async fn meeting_ws(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Query(q): Query<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return error_response(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            "this endpoint speaks WebSocket: send an upgrade request",
        );
    };
    // A little headroom above the protocol limit, so an oversized frame gets a clear error
    // instead of a torn-down socket.
    let region = client_region(&state, &headers);
    // Counted before the upgrade, so a burst of connections cannot overshoot the cap.
    let slot = state.live.floodgates.open_socket(&ip, state.config.max_sockets_per_ip);
    // Signaling messages are small: a 16 KiB read buffer instead of tungstenite's 128 KiB
    // saves ~110 KiB per connected participant (larger messages still arrive whole).
    ws.max_message_size(MAX_MESSAGE_BYTES * 4)
        .read_buffer_size(16 << 10)
        .on_upgrade(move |socket| session(socket, state, id, q, region, slot))
}

/// The client's region as the load balancer named it (a short tag such as `eu-west`).
fn client_region(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(state.config.region_header.as_str())?.to_str().ok()?.trim();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then(|| value.to_owned())
}

async fn session(
    mut socket: WebSocket,
    state: AppState,
    id: String,
    q: WsQuery,
    region: Option<String>,
    slot: Option<SocketSlot>,
) {
    // Held until the socket ends.
    let Some(_slot) = slot else {
        let _ = send(
            &mut socket,
            &ServerMessage::error(
                "too_many_connections",
                "too many meeting connections from your address; close some and try again",
                None,
            ),
        )
        .await;
        return close_with(socket, close::TRY_LATER, "too many connections").await;
    };
    let meeting_id = match MeetingId::parse(&id) {
        Ok(id) => id.get(),
        Err(e) => return refuse(socket, e).await,
    };
    match owner(&state, meeting_id, region.as_deref()).await {
        Ok(Owner::Here) => {}
        Ok(Owner::Elsewhere { node_id, url }) => return moved(socket, &url, meeting_id, node_id).await,
        Err(e) => return refuse(socket, e).await,
    }
    let entered = match enter(&state, meeting_id, &q).await {
        Ok(e) => e,
        Err(e) => return refuse(socket, e).await,
    };
    let Entered { room, attached, first } = entered;
    let pid = attached.participant.participant_id.clone();
    let generation = attached.generation;
    let mut rx = attached.rx;
    if send(&mut socket, &first).await.is_err() {
        state.live.connection_lost(&state, &room, &pid, generation);
        return;
    }
    let (mut sink, mut stream) = socket.split();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    // Set when the room says this person is out (removed, denied, access revoked): the close
    // that follows.
    let mut dismissed = None;
    // The close the server sends once the connection is given up (the seat is kept).
    let mut closing = None;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(msg) => {
                    let ended = matches!(msg, ServerMessage::MeetingEnded { .. });
                    let moved = matches!(msg, ServerMessage::Moved { .. });
                    if let ServerMessage::Error { code, .. } = &msg {
                        if code == "removed" || code == "denied" {
                            dismissed = Some((close::FORBIDDEN, "dismissed"));
                        } else if revocation::is_revocation(code) {
                            dismissed = Some((close::REVOKED, "access revoked"));
                        }
                    }
                    if sink.send(text(&msg)).await.is_err() {
                        break;
                    }
                    if ended {
                        return close_split(sink, stream, close::ENDED, "meeting ended").await;
                    }
                    if moved {
                        // The node is draining: the meeting goes on elsewhere.
                        return close_split(sink, stream, close::MOVED, "moved").await;
                    }
                }
                None => match dismissed {
                    Some((code, reason)) => return close_split(sink, stream, code, reason).await,
                    None if room.is_current(&pid, generation) => {
                        // The room let go of this connection because it fell behind; the seat
                        // is kept, and the client resumes it (a fresh welcome has the current
                        // state).
                        closing = Some((close::TOO_SLOW, "too slow"));
                        break;
                    }
                    None => {
                        // A resume took this seat over (another window, or a reconnect that
                        // beat the old socket's end): this connection must not resume again.
                        closing = Some((close::REPLACED, "connection replaced"));
                        break;
                    }
                },
            },
            frame = stream.next() => {
                let reply = match frame {
                    Some(Ok(Message::Text(body))) => handle(&state, &room, &pid, Some(body.as_str())).await,
                    Some(Ok(Message::Binary(_))) => handle(&state, &room, &pid, None).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Reply::Nothing,
                    Some(Ok(Message::Close(_))) => {
                        // The client closes: send the Close tungstenite queued as the answer.
                        let _ = sink.flush().await;
                        break;
                    }
                    None => break,
                    Some(Err(e)) => {
                        tracing::debug!(participant = %pid, error = %e, "websocket error");
                        break;
                    }
                };
                match reply {
                    Reply::Nothing => {}
                    Reply::Send(msg) => {
                        if sink.send(text(&msg)).await.is_err() {
                            break;
                        }
                    }
                    Reply::Leave => {
                        state.live.leave(&state, &room, &pid).await;
                        return close_split(sink, stream, 1000, "left").await;
                    }
                    Reply::Flooding => {
                        // The seat goes too (its resume token with it): joining again is the
                        // way back, through the HTTP join and its limits.
                        tracing::warn!(participant = %pid, meeting_id, "disconnected for flooding");
                        let msg = ServerMessage::error(
                            "flooding",
                            "you sent too many messages too quickly and were disconnected",
                            None,
                        );
                        let _ = sink.send(text(&msg)).await;
                        state.live.leave(&state, &room, &pid).await;
                        return close_split(sink, stream, close::FLOODING, "flooding").await;
                    }
                }
            }
            _ = heartbeat.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    state.live.connection_lost(&state, &room, &pid, generation);
    if let Some((code, reason)) = closing {
        close_split(sink, stream, code, reason).await;
    }
}

enum Reply {
    Nothing,
    Send(Box<ServerMessage>),
    Leave,
    /// Over the rate limits again and again: disconnect.
    Flooding,
}

/// Handles one client frame (`None`: a binary one); what to answer, if anything.
async fn handle(state: &AppState, room: &Arc<Room>, pid: &str, body: Option<&str>) -> Reply {
    // Frames refused unread still count against the sender.
    let unread = match body {
        None => Some(ServerMessage::error("malformed_message", "frames are JSON text, not binary", None)),
        Some(b) if b.len() > MAX_MESSAGE_BYTES => Some(ServerMessage::error(
            "message_too_large",
            format!("messages are limited to {MAX_MESSAGE_BYTES} bytes"),
            None,
        )),
        Some(_) => None,
    };
    if let Some(refusal) = unread {
        return match state.live.floodgates.check(pid, None) {
            Verdict::Flooding => Reply::Flooding,
            _ => Reply::Send(Box::new(refusal)),
        };
    }
    let body = body.unwrap_or_default();
    let parsed = parse_client(body);
    match state.live.floodgates.check(pid, parsed.as_ref().ok()) {
        Verdict::Pass => {}
        Verdict::Limited(wait) => {
            let request = parsed.as_ref().ok().and_then(message_type).unwrap_or_else(|| "malformed".to_owned());
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            return Reply::Send(Box::new(ServerMessage::rate_limited(&request, ms)));
        }
        Verdict::Flooding => return Reply::Flooding,
    }
    match parsed {
        Err(e) => Reply::Send(Box::new(e.to_message())),
        Ok(ClientMessage::Ping { id }) => Reply::Send(Box::new(ServerMessage::Pong { id })),
        Ok(ClientMessage::Leave) => Reply::Leave,
        Ok(msg) => match state.live.act(state, room, pid, msg).await {
            Some(err) => Reply::Send(Box::new(err)),
            None => Reply::Nothing,
        },
    }
}

/// The `type` of a client message, as it was sent.
fn message_type(msg: &ClientMessage) -> Option<String> {
    let value = serde_json::to_value(msg).ok()?;
    value.get("type")?.as_str().map(str::to_owned)
}

/// Which node hosts the meeting (cluster mode); a room live here is here without asking.
async fn owner(state: &AppState, meeting_id: i64, region: Option<&str>) -> Result<Owner, Error> {
    if !state.cluster.is_clustered() || state.live.room(meeting_id).is_some() {
        return Ok(Owner::Here);
    }
    state.cluster.owner(meeting_id, region).await
}

/// Sends the client to the node that hosts the meeting.
async fn moved(mut socket: WebSocket, node_url: &str, meeting_id: i64, node_id: String) {
    let ws_url = crate::cluster::ws_url(node_url, meeting_id);
    let _ = send(&mut socket, &ServerMessage::Moved { ws_url, node_id }).await;
    close_with(socket, close::MOVED, "moved").await;
}

async fn enter(state: &AppState, meeting_id: i64, q: &WsQuery) -> Result<Entered, Error> {
    // What the account's standing is checked against: when the ticket was issued, or when the
    // seat being resumed was taken.
    let (entered, since_ms) = match (&q.ticket, &q.resume) {
        (_, Some(resume)) => {
            if let Some(key) = &q.e2ee_identity {
                crate::live::e2ee::check_identity(key)?;
            }
            let entered = state.live.resume(state, meeting_id, resume).await?;
            if let Some(key) = &q.e2ee_identity {
                crate::live::e2ee::replace_identity(&entered.room, &entered.attached.participant.participant_id, key);
            }
            let since = revocation::seated_ms(&entered.attached.participant);
            (entered, since)
        }
        (Some(ticket), None) => {
            let claims = state.keys.verify_ticket(ticket, state.clock.now().timestamp())?;
            if claims.mid != meeting_id {
                return Err(Error::forbidden("wrong_meeting", "this ticket is for another meeting"));
            }
            if !claims.sub.starts_with("guest:") {
                // Before the seat, so a void ticket never shows as a join.
                revocation::standing(state, &claims.sub, claims.iat_ms).await?;
            }
            (state.live.enter(state, &claims).await?, claims.iat_ms)
        }
        (None, None) => {
            return Err(Error::unauthorized("missing_ticket", "connect with ?ticket=<join ticket> or ?resume=<token>"))
        }
    };
    revocation::hold(state, &state.live, &entered, since_ms).await?;
    Ok(entered)
}

async fn refuse(mut socket: WebSocket, e: Error) {
    let (status, code, message) = match &e {
        Error::Client { status, code, message, .. } => (status.as_u16(), *code, message.clone()),
        other => {
            tracing::error!(error = %other, "websocket entry failed");
            (500, "internal", "internal server error".to_owned())
        }
    };
    let close_code = match status {
        _ if revocation::is_revocation(code) => close::REVOKED,
        400 | 422 => close::BAD_REQUEST,
        401 => close::UNAUTHORIZED,
        403 => close::FORBIDDEN,
        404 => close::NOT_FOUND,
        409 => close::CONFLICT,
        410 => close::GONE,
        _ => 1011,
    };
    let _ = send(&mut socket, &ServerMessage::error(code, message, None)).await;
    close_with(socket, close_code, code).await;
}

/// [`close_with`] for a socket split into its halves.
async fn close_split(sink: SplitSink<WebSocket, Message>, stream: SplitStream<WebSocket>, code: u16, reason: &str) {
    // The halves of one socket always reunite.
    if let Ok(socket) = stream.reunite(sink) {
        close_with(socket, code, reason).await;
    }
}

/// Sends a Close with `code`, then reads (and drops) what the client still sends until its
/// Close arrives, for at most [`CLOSE_WAIT`]; the socket, and TCP, end after that.
async fn close_with(mut socket: WebSocket, code: u16, reason: &str) {
    if socket.send(close_frame(code, reason)).await.is_err() {
        return;
    }
    let answered = async {
        while let Some(Ok(frame)) = socket.recv().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, answered).await;
}

async fn send(socket: &mut WebSocket, msg: &ServerMessage) -> Result<(), axum::Error> {
    socket.send(text(msg)).await
}

fn text(msg: &ServerMessage) -> Message {
    Message::Text(serde_json::to_string(msg).unwrap_or_default().into())
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.to_owned().into() }))
}
