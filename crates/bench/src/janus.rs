//! The Janus adapter: the same simulated participants in Janus's VideoRoom plugin (Janus
//! 1.x, multistream), over its WebSocket API on loopback. Each participant has one session
//! with two handles: a publisher (one peer connection offering Opus and VP8 simulcast by
//! rid) and a subscriber (one peer connection receiving every other publisher, renegotiated
//! as they appear, each video asked for the scenario's `substream`).
//!
//! [`write_config`] writes the config directory the bench starts Janus with: VideoRoom as
//! the only plugin, the WebSocket transport on 127.0.0.1, ICE on this host's own address
//! only (Janus never gathers loopback candidates; the kernel still delivers locally),
//! one static event loop, warnings-only logging.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Simulcast, SimulcastLayer};
use str0m::Candidate;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::engine::PeerHandle;
use crate::peer::{Peer, Sink, Source, RIDS};
use crate::plan::{Ctx, Record, Spec};
use crate::{Error, Result};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PLUGIN: &str = "janus.plugin.videoroom";
/// Janus drops sessions silent for 60 s; keep-alives go out well before.
const KEEPALIVE: Duration = Duration::from_secs(20);
/// The plugins and transports folders of a Debian install.
const LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// Writes a Janus config directory into `dir` for a WebSocket API on 127.0.0.1:`ws_port`.
pub(crate) fn write_config(dir: &Path, ws_port: u16, ice_ip: std::net::IpAddr) -> Result<()> {
    let plugins = dir.join("plugins");
    let transports = dir.join("transports");
    let empty = dir.join("empty");
    for d in [&plugins, &transports, &empty] {
        std::fs::create_dir_all(d)?;
    }
    // Only the VideoRoom plugin and the WebSocket transport get loaded.
    for (from, to) in [("plugins/libjanus_videoroom.so", &plugins), ("transports/libjanus_websockets.so", &transports)]
    {
        let src = Path::new(LIB).join(from);
        if !src.exists() {
            return Err(Error::setup(format!("{} is missing: apt-get install janus", src.display())));
        }
        let link = to.join(src.file_name().unwrap_or_default());
        if !link.exists() {
            std::os::unix::fs::symlink(&src, link)?;
        }
    }
    let main = format!(
        r#"general: {{
    configs_folder = "{dir}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{empty}"
    loggers_folder = "{empty}"
    debug_level = 3
    session_timeout = 120
    event_loops = 1
    hide_dependencies = true
}}
certificates: {{
}}
media: {{
    rtp_port_range = "20000-60000"
}}
nat: {{
    nice_debug = false
    full_trickle = false
    ice_lite = false
    ice_enforce_list = "{ice_ip}"
    ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
    broadcast = false
}}
"#,
        dir = dir.display(),
        plugins = plugins.display(),
        transports = transports.display(),
        empty = empty.display(),
    );
    std::fs::write(dir.join("janus.jcfg"), main)?;
    let ws = format!(
        "general: {{\n    json = \"plain\"\n    ws = true\n    ws_port = {ws_port}\n    ws_ip = \"127.0.0.1\"\n    wss = false\n}}\nadmin: {{\n    admin_ws = false\n    admin_wss = false\n}}\n"
    );
    std::fs::write(dir.join("janus.transport.websockets.jcfg"), ws)?;
    std::fs::write(dir.join("janus.plugin.videoroom.jcfg"), "general: {\n}\n")?;
    Ok(())
}

/// The VideoRoom rooms of one run.
pub(crate) struct Meetings {
    url: String,
    rooms: Vec<u64>,
}

impl Meetings {
    /// Creates one room per meeting, with room for every publisher.
    pub(crate) async fn create(ctx: &Ctx, url: &str) -> Result<Meetings> {
        let mut j = Janus::connect(url).await?;
        let handle = j.attach().await?;
        let mut rooms = Vec::new();
        for i in 0..ctx.scenario.meetings {
            let room = 1_000 + i as u64 + u64::from(rand::random::<u16>()) * 1_000;
            let body = json!({
                "request": "create", "room": room, "description": format!("bench {i}"),
                "publishers": ctx.scenario.audio_publishers.max(ctx.scenario.video_publishers) + 1,
                "audiocodec": "opus", "videocodec": "vp8", "notify_joining": false, "permanent": false,
                "bitrate": 0, "fir_freq": 0,
            });
            let r = j.request(handle, body, None).await?;
            if r["plugindata"]["data"]["videoroom"] != "created" {
                return Err(Error::signaling(format!("janus create room: {r}")));
            }
            rooms.push(room);
        }
        let _ = j.ws.close(None).await;
        Ok(Meetings { url: url.to_owned(), rooms })
    }

    /// One participant, from creating its session until `stop`.
    pub(crate) async fn participant(&self, ctx: Arc<Ctx>, spec: Spec, mut stop: watch::Receiver<bool>) -> Result<()> {
        let room = self.rooms[spec.meeting];
        let join_started = Instant::now();
        let mut j = Janus::connect(&self.url).await?;
        let pub_handle = j.attach().await?;
        let joined = j
            .request(
                pub_handle,
                json!({"request": "join", "ptype": "publisher", "room": room, "display": spec.name}),
                None,
            )
            .await?;
        let data = &joined["plugindata"]["data"];
        if data["videoroom"] != "joined" {
            return Err(Error::signaling(format!("janus join: {joined}")));
        }
        let mut feeds: Vec<u64> = publisher_ids(data);

        let now = Instant::now();
        let mut sub = Peer::new(now, ctx.client_ip, ctx.scenario.twcc)?;
        sub.sink = Some(Sink::new(ctx.phase.clone(), ctx.scenario.video_publishers > 0));
        let sub = ctx.engine.add(sub)?;
        let mut pending: Option<SdpPendingOffer> = None;
        let publ = if spec.audio || spec.video {
            let mut p = Peer::new(now, ctx.client_ip, ctx.scenario.twcc)?;
            let mut source = Source::new(ctx.tag(), ctx.scenario.profile, now);
            source.talking = spec.talks;
            let mut api = p.conn.rtc.sdp_api();
            if spec.audio {
                source.audio = Some(api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
            }
            if spec.video {
                let mut simulcast = Simulcast::new();
                for rid in RIDS {
                    simulcast.add_send_layer(SimulcastLayer::new(rid));
                }
                source.video = Some(api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast)));
            }
            let (offer, pend) = api.apply().ok_or_else(|| Error::Rtc("no offer".into()))?;
            pending = Some(pend);
            p.source = Some(source);
            let publ = ctx.engine.add(p)?;
            let jsep = json!({"type": "offer", "sdp": offer.to_sdp_string()});
            j.send_async(
                pub_handle,
                json!({"request": "publish", "audio": spec.audio, "video": spec.video}),
                Some(jsep),
            )
            .await?;
            Some(publ)
        } else {
            None
        };
        ctx.add_record(Record::new(&spec, join_started, sub.clone(), publ.clone()));

        let mut sub_handle: Option<u64> = None;
        // A subscribe (join or update) is waiting for its offer: send no other.
        let mut in_flight = false;
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        loop {
            if !in_flight && !feeds.is_empty() {
                let streams: Vec<Value> = feeds.drain(..).map(|f| json!({"feed": f})).collect();
                match sub_handle {
                    None => {
                        let h = j.attach().await?;
                        sub_handle = Some(h);
                        let body = json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams});
                        j.send_async(h, body, None).await?;
                    }
                    Some(h) => j.send_async(h, json!({"request": "subscribe", "streams": streams}), None).await?,
                }
                in_flight = true;
            }
            let msg = tokio::select! {
                m = j.next() => m?,
                _ = keepalive.tick() => { j.keepalive().await?; continue }
                _ = stop.changed() => None,
            };
            let Some(msg) = msg else { break };
            match msg["janus"].as_str().unwrap_or_default() {
                "event" => {
                    let sender = msg["sender"].as_u64();
                    let data = &msg["plugindata"]["data"];
                    if let Some(err) = data.get("error") {
                        return Err(Error::signaling(format!("{}: janus error {err}", spec.name)));
                    }
                    if sender == Some(pub_handle) {
                        feeds.extend(publisher_ids(data));
                        if msg["jsep"]["type"] == "answer" {
                            let answer = SdpAnswer::from_sdp_string(msg["jsep"]["sdp"].as_str().unwrap_or_default())
                                .map_err(|e| Error::Rtc(format!("janus publish answer: {e}")))?;
                            let (Some(publ), Some(pend)) = (&publ, pending.take()) else {
                                return Err(Error::signaling("janus answer without an offer"));
                            };
                            publ.with(|p| {
                                p.conn.rtc.sdp_api().accept_answer(pend, answer)?;
                                if let Some(s) = p.source.as_mut() {
                                    s.sending = true;
                                }
                                Ok::<_, str0m::RtcError>(())
                            })
                            .map_err(|e| Error::Rtc(format!("accept janus answer: {e}")))?;
                            j.trickle_done(pub_handle).await?;
                        }
                    } else if sender.is_some() && sender == sub_handle && msg["jsep"]["type"] == "offer" {
                        let h = sender.unwrap_or_default();
                        let offer = SdpOffer::from_sdp_string(msg["jsep"]["sdp"].as_str().unwrap_or_default())
                            .map_err(|e| Error::Rtc(format!("janus subscribe offer: {e}")))?;
                        let answer = sub
                            .with(|p| p.conn.rtc.sdp_api().accept_offer(offer))
                            .map_err(|e| Error::Rtc(format!("accept janus offer: {e}")))?;
                        let jsep = json!({"type": "answer", "sdp": answer.to_sdp_string()});
                        j.send_async(h, json!({"request": "start"}), Some(jsep)).await?;
                        j.trickle_done(h).await?;
                        // Ask for the scenario's layer on every video stream. Janus reads the
                        // simulcast rids as highest first (substream 0 = the first rid), while
                        // the bench, like Chrome, lists them lowest first.
                        let layer = 2 - ctx.scenario.layer.min(2);
                        let streams: Vec<Value> = data["streams"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|s| s["type"] == "video" && s["active"] != false)
                            .map(|s| json!({"mid": s["mid"], "substream": layer}))
                            .collect();
                        if !streams.is_empty() {
                            j.send_async(h, json!({"request": "configure", "streams": streams}), None).await?;
                        }
                        in_flight = false;
                    }
                }
                "trickle" => {
                    let handle = msg["sender"].as_u64();
                    let target: Option<&PeerHandle> = if handle == Some(pub_handle) {
                        publ.as_ref()
                    } else if handle == sub_handle {
                        Some(&sub)
                    } else {
                        None
                    };
                    if let (Some(t), Some(c)) = (target, msg["candidate"]["candidate"].as_str()) {
                        if let Ok(c) = Candidate::from_sdp_string(c) {
                            t.with(|p| p.conn.rtc.add_remote_candidate(c));
                        }
                    }
                }
                "hangup" => return Err(Error::signaling(format!("{}: janus hung up: {msg}", spec.name))),
                _ => {}
            }
        }
        let _ = j.send(json!({"janus": "destroy", "session_id": j.session})).await;
        let _ = j.ws.close(None).await;
        Ok(())
    }
}

/// Publisher ids in a VideoRoom `joined` or `event` message.
fn publisher_ids(data: &Value) -> Vec<u64> {
    data["publishers"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_u64()).collect()
}

/// One Janus session over its own WebSocket.
struct Janus {
    ws: Socket,
    session: u64,
    next_tx: u64,
    /// Messages read while waiting for a particular reply.
    backlog: VecDeque<Value>,
}

impl Janus {
    async fn connect(url: &str) -> Result<Janus> {
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "janus-protocol".parse().map_err(|_| Error::setup("header"))?);
        // Nagle off, as browsers have it on their WebSockets.
        let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
        let mut j = Janus { ws, session: 0, next_tx: 0, backlog: VecDeque::new() };
        let r = j.call(json!({"janus": "create"})).await?;
        j.session = r["data"]["id"].as_u64().ok_or_else(|| Error::signaling(format!("janus create: {r}")))?;
        Ok(j)
    }

    async fn attach(&mut self) -> Result<u64> {
        let r = self.call(json!({"janus": "attach", "session_id": self.session, "plugin": PLUGIN})).await?;
        r["data"]["id"].as_u64().ok_or_else(|| Error::signaling(format!("janus attach: {r}")))
    }

    /// A plugin request whose answer comes as `success` (synchronous) or, after an `ack`, as
    /// an `event` with the same transaction.
    async fn request(&mut self, handle: u64, body: Value, jsep: Option<Value>) -> Result<Value> {
        let mut m = json!({"janus": "message", "session_id": self.session, "handle_id": handle, "body": body});
        if let Some(jsep) = jsep {
            m["jsep"] = jsep;
        }
        self.call(m).await
    }

    /// A plugin request whose event is handled by the main loop.
    async fn send_async(&mut self, handle: u64, body: Value, jsep: Option<Value>) -> Result<()> {
        let mut m = json!({"janus": "message", "session_id": self.session, "handle_id": handle, "body": body});
        if let Some(jsep) = jsep {
            m["jsep"] = jsep;
        }
        self.send(m).await
    }

    async fn trickle_done(&mut self, handle: u64) -> Result<()> {
        self.send(json!({"janus": "trickle", "session_id": self.session, "handle_id": handle, "candidate": {"completed": true}}))
            .await
    }

    async fn keepalive(&mut self) -> Result<()> {
        self.send(json!({"janus": "keepalive", "session_id": self.session})).await
    }

    async fn send(&mut self, mut m: Value) -> Result<()> {
        self.next_tx += 1;
        m["transaction"] = json!(format!("t{}", self.next_tx));
        self.ws.send(Message::Text(m.to_string().into())).await?;
        Ok(())
    }

    /// Sends `m` and waits for its `success` / `error` / `event` reply; other messages wait
    /// in the backlog.
    async fn call(&mut self, m: Value) -> Result<Value> {
        self.send(m).await?;
        let tx = format!("t{}", self.next_tx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let v = tokio::time::timeout_at(deadline, read(&mut self.ws))
                .await
                .map_err(|_| Error::signaling("janus: no reply within 20 s"))??
                .ok_or_else(|| Error::signaling("janus closed the socket"))?;
            if v["transaction"] == tx.as_str() {
                match v["janus"].as_str().unwrap_or_default() {
                    "ack" => continue,
                    "error" => return Err(Error::signaling(format!("janus: {v}"))),
                    _ => return Ok(v),
                }
            }
            self.backlog.push_back(v);
        }
    }

    /// The next message (the backlog first); `None` when the socket closes.
    async fn next(&mut self) -> Result<Option<Value>> {
        if let Some(v) = self.backlog.pop_front() {
            return Ok(Some(v));
        }
        read(&mut self.ws).await
    }
}

async fn read(ws: &mut Socket) -> Result<Option<Value>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(&t).map(Some).map_err(|e| Error::signaling(format!("janus frame: {e}")))
            }
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}
