//! The Convene adapter: an account and instant meetings over the REST API, then each
//! participant joins as a guest (`POST …/join` for a ticket, the meeting WebSocket), offers
//! its microphone and simulcast camera with `publish_offer`, answers every
//! `subscribe_offer`, and asks for the scenario's layer with `set_video_size`
//! (docs/protocol.md).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use convene_protocol::{ClientMessage, ServerMessage, Track};
use convene_testkit::peer::offer_microphone_and_camera;
use convene_testkit::signaling;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::peer::{Peer, Sink, Source};
use crate::plan::{Ctx, Record, Spec, Stage};
use crate::remb::Remb;
use crate::synth::LAYER_SIZES;
use crate::{Error, Result};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A Convene meeting: its id and passcode.
#[derive(Debug, Clone)]
struct Meeting {
    id: i64,
    passcode: String,
}

/// The meetings of one run.
pub(crate) struct Meetings {
    base: String,
    meetings: Vec<Meeting>,
}

impl Meetings {
    /// Registers a host account (the first account of a fresh server) and creates the
    /// scenario's meetings: instant, guests allowed, joining before the host allowed.
    pub(crate) async fn create(ctx: &Ctx, base: &str) -> Result<Meetings> {
        let http = &ctx.http;
        let n = rand::random::<u32>();
        let (email, password) = (format!("bench-{n}@example.com"), format!("bench password {n}"));
        let body = json!({"username": format!("bench{n}"), "email": email, "password": password});
        // 202 "check your mail": the first account of a fresh server is verified at once.
        expect(http.post(format!("{base}/api/v1/users/register")).json(&body).send().await?, 202, "register").await?;
        let login = json!({"email": email, "password": password});
        let r =
            expect(http.post(format!("{base}/api/v1/users/login")).json(&login).send().await?, 200, "login").await?;
        let token = r["token"].as_str().ok_or_else(|| Error::signaling("login: no token"))?.to_owned();
        let mut meetings = Vec::new();
        for i in 0..ctx.scenario.meetings {
            let body = json!({
                "title": format!("bench {i}"),
                "start_time": null,
                "settings": {"join_before_host": true, "allow_guests": true,
                             "max_participants": ctx.scenario.participants.max(2)},
            });
            let r = http.post(format!("{base}/api/v1/meetings")).bearer_auth(&token).json(&body).send().await?;
            let m = expect(r, 201, "create meeting").await?;
            meetings.push(Meeting {
                id: m["meeting_id"].as_i64().ok_or_else(|| Error::signaling("meeting without id"))?,
                passcode: m["passcode"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(Meetings { base: base.to_owned(), meetings })
    }

    /// One participant, from the join request until `stop`; then it leaves.
    pub(crate) async fn participant(&self, ctx: Arc<Ctx>, spec: Spec, mut stop: watch::Receiver<bool>) -> Result<()> {
        let m = &self.meetings[spec.meeting];
        let join_started = Instant::now();
        let mut body = json!({"passcode": m.passcode, "display_name": spec.name, "client_id": spec.name});
        if let Some(video) = ctx.scenario.video_slots {
            body["slots"] = json!({ "video": video });
        }
        let r = ctx.http.post(format!("{}/api/v1/meetings/{}/join", self.base, m.id)).json(&body).send().await?;
        if ctx.scenario.admission && r.status().as_u16() == 503 {
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if body["error"]["code"] == "server_busy" {
                ctx.refused(join_started, Stage::Http);
                return Ok(());
            }
            return Err(Error::signaling(format!("join: HTTP 503 {body}")));
        }
        let ticket = expect(r, 200, "join").await?["ticket"].as_str().unwrap_or_default().to_owned();
        let url = format!("{}/api/v1/meetings/{}/ws?ticket={ticket}", self.base.replacen("http", "ws", 1), m.id);
        // Nagle off, as browsers have it on their WebSockets.
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
        let welcome = next_message(&mut ws).await?.ok_or_else(|| Error::signaling("socket closed before welcome"))?;
        if busy(&ctx, &welcome) {
            ctx.refused(join_started, Stage::Socket);
            return Ok(());
        }
        let ServerMessage::Welcome { tracks, .. } = welcome else {
            return Err(Error::signaling(format!("{}: first frame {}", spec.name, welcome.kind())));
        };
        // Track kinds by id: what `subscribe_offer` names needs a tile size if it is video.
        let mut kinds: HashMap<String, String> = HashMap::new();
        for t in &tracks {
            learn(&mut kinds, t);
        }
        let now = Instant::now();
        let mut sub = Peer::new(now, ctx.client_ip, ctx.scenario.twcc)?;
        // With Convene leaving the estimate to the browser, the subscriber reports one (REMB).
        let remb = Remb::of(&ctx.scenario, now);
        sub.sink = Some(Sink::new(ctx.phase.clone(), ctx.scenario.video_publishers > 0).reporting_remb(remb));
        let sub = ctx.engine.add(sub)?;
        let mut pending = None;
        let publ = if spec.audio || spec.video {
            let mut p = Peer::new(now, ctx.client_ip, ctx.scenario.twcc)?;
            let mut source = Source::new(ctx.tag(), ctx.scenario.profile, now);
            source.talking = spec.talks;
            let mut api = p.conn.rtc.sdp_api();
            let offered = offer_microphone_and_camera(&mut api, spec.audio, spec.video);
            source.audio = offered.audio;
            source.video = offered.video;
            let (offer, pend) = api.apply().ok_or_else(|| Error::Rtc("no offer".into()))?;
            pending = Some(pend);
            p.source = Some(source);
            send(&mut ws, &signaling::publish_offer(offer.to_sdp_string(), offered.tracks, false)).await?;
            Some(ctx.engine.add(p)?)
        } else {
            None
        };
        let mut record = Record::new(&spec, join_started, sub.clone(), publ.clone());
        record.welcomed = Some(now);
        // A publisher counts once its offer is answered: a server with overload admission may
        // refuse a new publisher (then it leaves, refused).
        let mut record = if publ.is_some() {
            Some(record)
        } else {
            ctx.add_record(record);
            None
        };
        let (w, h) = LAYER_SIZES[usize::from(ctx.scenario.layer)];
        let mut sized: HashSet<String> = HashSet::new();
        if ctx.scenario.video_slots.is_some() {
            for (id, kind) in &kinds {
                if kind == "video" && sized.insert(id.clone()) {
                    send(&mut ws, &signaling::set_video_size(id, (w.into(), h.into()))).await?;
                }
            }
        }
        loop {
            let msg = tokio::select! {
                m = next_message(&mut ws) => m?,
                _ = stop.changed() => None,
            };
            let Some(msg) = msg else { break };
            match msg {
                ServerMessage::PublishAnswer { sdp } => {
                    let (Some(publ), Some(pend)) = (&publ, pending.take()) else {
                        return Err(Error::signaling("publish_answer without an offer"));
                    };
                    publ.with(|p| {
                        signaling::accept_publish_answer(&mut p.conn.rtc, pend, &sdp)?;
                        if let Some(s) = p.source.as_mut() {
                            s.sending = true;
                        }
                        Ok::<_, String>(())
                    })
                    .map_err(Error::Rtc)?;
                    if let Some(r) = record.take() {
                        ctx.add_record(r);
                    }
                }
                ServerMessage::SubscribeOffer { sdp, tracks, offer_id } => {
                    let answer = sub
                        .with(|p| {
                            p.answered_at.get_or_insert_with(Instant::now);
                            signaling::answer_subscribe_offer(&mut p.conn.rtc, &sdp, offer_id)
                        })
                        .map_err(Error::Rtc)?;
                    send(&mut ws, &answer).await?;
                    for t in tracks {
                        if kinds.get(&t.track_id).is_some_and(|k| k == "video") && sized.insert(t.track_id.clone()) {
                            send(&mut ws, &signaling::set_video_size(&t.track_id, (w.into(), h.into()))).await?;
                        }
                    }
                }
                ServerMessage::TrackPublished { track } => {
                    learn(&mut kinds, &track);
                    // A slot subscriber's offer names no tracks: every video is sized as it
                    // appears, so its slot gets the scenario's layer.
                    if ctx.scenario.video_slots.is_some()
                        && track.kind == "video"
                        && sized.insert(track.track_id.clone())
                    {
                        send(&mut ws, &signaling::set_video_size(&track.track_id, (w.into(), h.into()))).await?;
                    }
                }
                ServerMessage::Error { .. } if record.is_some() && busy(&ctx, &msg) => {
                    ctx.refused(join_started, Stage::Publish);
                    break;
                }
                ServerMessage::Error { .. } => {
                    return Err(Error::signaling(format!("{}: server error {msg:?}", spec.name)))
                }
                _ => {}
            }
        }
        let _ = send(&mut ws, &ClientMessage::Leave).await;
        let _ = ws.close(None).await;
        Ok(())
    }
}

/// Whether `msg` is a `server_busy` refusal the scenario expects (overload admission on).
fn busy(ctx: &Ctx, msg: &ServerMessage) -> bool {
    ctx.scenario.admission && matches!(msg, ServerMessage::Error { code, .. } if code == "server_busy")
}

fn learn(kinds: &mut HashMap<String, String>, track: &Track) {
    kinds.insert(track.track_id.clone(), track.kind.clone());
}

/// The JSON body of an answer with the expected status, else an error naming `what`.
async fn expect(r: reqwest::Response, status: u16, what: &str) -> Result<Value> {
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if got != status {
        return Err(Error::signaling(format!("{what}: HTTP {got} {body}")));
    }
    Ok(body)
}

async fn send(ws: &mut Socket, message: &ClientMessage) -> Result<()> {
    ws.send(Message::Text(signaling::encode(message).into())).await?;
    Ok(())
}

/// The next server message; `None` when the socket closes.
async fn next_message(ws: &mut Socket) -> Result<Option<ServerMessage>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return signaling::parse(&t).map(Some).map_err(Error::signaling),
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}
