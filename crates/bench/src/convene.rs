//! The Convene adapter: an account and instant meetings over the REST API, then each
//! participant joins as a guest (`POST …/join` for a ticket, the meeting WebSocket), offers
//! its microphone and simulcast camera with `publish_offer`, answers every
//! `subscribe_offer`, and asks for the scenario's layer with `set_video_size`
//! (docs/protocol.md).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Simulcast, SimulcastLayer};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::peer::{Peer, Sink, Source, RIDS};
use crate::run::{Ctx, Record, Spec};
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
        expect(http.post(format!("{base}/api/v1/users/register")).json(&body).send().await?, 201, "register").await?;
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
        let body = json!({"passcode": m.passcode, "display_name": spec.name, "client_id": spec.name});
        let r = ctx.http.post(format!("{}/api/v1/meetings/{}/join", self.base, m.id)).json(&body).send().await?;
        let ticket = expect(r, 200, "join").await?["ticket"].as_str().unwrap_or_default().to_owned();
        let url = format!("{}/api/v1/meetings/{}/ws?ticket={ticket}", self.base.replacen("http", "ws", 1), m.id);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let welcome = next_json(&mut ws).await?.ok_or_else(|| Error::signaling("socket closed before welcome"))?;
        if welcome["type"] != "welcome" {
            return Err(Error::signaling(format!("{}: first frame {welcome}", spec.name)));
        }
        // Track kinds by id: what `subscribe_offer` names needs a tile size if it is video.
        let mut kinds: HashMap<String, String> = HashMap::new();
        for t in welcome["tracks"].as_array().into_iter().flatten() {
            learn(&mut kinds, t);
        }
        let now = Instant::now();
        let mut sub = Peer::new(now, ctx.client_ip, ctx.scenario.twcc)?;
        sub.sink = Some(Sink::new(ctx.phase.clone(), ctx.scenario.video_publishers > 0));
        let sub = ctx.engine.add(sub)?;
        let mut pending = None;
        let publ = if spec.audio || spec.video {
            let mut p = Peer::new(now, ctx.client_ip, ctx.scenario.twcc)?;
            let mut source = Source::new(ctx.tag(), ctx.scenario.profile, now);
            source.talking = spec.talks;
            let mut api = p.rtc.sdp_api();
            let mut tracks = vec![];
            if spec.audio {
                let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
                tracks.push(json!({"mid": mid.to_string(), "source": "microphone"}));
                source.audio = Some(mid);
            }
            if spec.video {
                let mut simulcast = Simulcast::new();
                for rid in RIDS {
                    simulcast.add_send_layer(SimulcastLayer::new(rid));
                }
                let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast));
                tracks.push(json!({"mid": mid.to_string(), "source": "camera"}));
                source.video = Some(mid);
            }
            let (offer, pend) = api.apply().ok_or_else(|| Error::Rtc("no offer".into()))?;
            pending = Some(pend);
            p.source = Some(source);
            send(&mut ws, json!({"type": "publish_offer", "sdp": offer.to_sdp_string(), "tracks": tracks})).await?;
            Some(ctx.engine.add(p)?)
        } else {
            None
        };
        ctx.add_record(Record {
            meeting: spec.meeting,
            join_started,
            sub: sub.clone(),
            publ: publ.clone(),
            sends_audio: spec.audio,
            sends_video: spec.video,
            talks: spec.talks,
        });
        let (w, h) = LAYER_SIZES[usize::from(ctx.scenario.layer)];
        let mut sized: HashSet<String> = HashSet::new();
        loop {
            let msg = tokio::select! {
                m = next_json(&mut ws) => m?,
                _ = stop.changed() => None,
            };
            let Some(msg) = msg else { break };
            match msg["type"].as_str().unwrap_or_default() {
                "publish_answer" => {
                    let answer = SdpAnswer::from_sdp_string(msg["sdp"].as_str().unwrap_or_default())
                        .map_err(|e| Error::Rtc(format!("publish answer: {e}")))?;
                    let (Some(publ), Some(pend)) = (&publ, pending.take()) else {
                        return Err(Error::signaling("publish_answer without an offer"));
                    };
                    publ.with(|p| {
                        p.rtc.sdp_api().accept_answer(pend, answer)?;
                        if let Some(s) = p.source.as_mut() {
                            s.sending = true;
                        }
                        Ok::<_, str0m::RtcError>(())
                    })
                    .map_err(|e| Error::Rtc(format!("accept publish answer: {e}")))?;
                }
                "subscribe_offer" => {
                    let offer = SdpOffer::from_sdp_string(msg["sdp"].as_str().unwrap_or_default())
                        .map_err(|e| Error::Rtc(format!("subscribe offer: {e}")))?;
                    let answer = sub
                        .with(|p| p.rtc.sdp_api().accept_offer(offer))
                        .map_err(|e| Error::Rtc(format!("accept subscribe offer: {e}")))?;
                    send(
                        &mut ws,
                        json!({"type": "subscribe_answer", "sdp": answer.to_sdp_string(), "offer_id": msg["offer_id"]}),
                    )
                    .await?;
                    for t in msg["tracks"].as_array().into_iter().flatten() {
                        let id = t["track_id"].as_str().unwrap_or_default();
                        if kinds.get(id).is_some_and(|k| k == "video") && sized.insert(id.to_owned()) {
                            let size = json!({"type": "set_video_size", "track_id": id, "width": w, "height": h});
                            send(&mut ws, size).await?;
                        }
                    }
                }
                "track_published" => learn(&mut kinds, &msg["track"]),
                "error" => return Err(Error::signaling(format!("{}: server error {msg}", spec.name))),
                _ => {}
            }
        }
        let _ = send(&mut ws, json!({"type": "leave"})).await;
        let _ = ws.close(None).await;
        Ok(())
    }
}

fn learn(kinds: &mut HashMap<String, String>, track: &Value) {
    if let (Some(id), Some(kind)) = (track["track_id"].as_str(), track["kind"].as_str()) {
        kinds.insert(id.to_owned(), kind.to_owned());
    }
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

async fn send(ws: &mut Socket, v: Value) -> Result<()> {
    ws.send(Message::Text(v.to_string().into())).await?;
    Ok(())
}

/// The next text frame as JSON; `None` when the socket closes.
async fn next_json(ws: &mut Socket) -> Result<Option<Value>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(&t).map(Some).map_err(|e| Error::signaling(format!("bad frame: {e}")))
            }
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}
