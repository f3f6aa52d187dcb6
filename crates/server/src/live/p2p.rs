//! Peer-to-peer for two: while a meeting has exactly two participants whose clients can do
//! it, and nothing needs the media on the server, they connect to each other directly
//! (DTLS-SRTP end to end) and the SFU forwards nothing for them. Convene still carries the
//! signaling: the offer, the answer and the ICE candidates go through here, between the two
//! members of the current pair only.
//!
//! The server decides the mode (`p2p_mode`), re-checking on every relevant message and on a
//! short tick: a third person, a recording, a host's mute or stopped video (enforced by the
//! SFU), a lost connection, or a pair that reported it could not connect moves them to the
//! SFU at once; going back to peer-to-peer waits until the conditions held for [`SETTLE`]
//! (hysteresis, so people coming and going do not make the media flap). The clients keep
//! their SFU connection warm meanwhile and switch what they show only once the other path
//! carries media (web/js/p2p.js).
//!
//! While a pair lasts, the embedded TURN server may relay to the addresses in its
//! candidates (turn/relay.rs: public ones, or exactly this server's relayed ones when both
//! peers sit behind firewalls), and to nothing else beyond the SFU.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convene_protocol::{ClientMessage, IceCandidate, MediaMode, Participant, ServerMessage};

use super::room::{Pair, PairState, Room};
use crate::services::Services;

/// How long the conditions for peer-to-peer must hold before a pair is formed.
pub(crate) const SETTLE: Duration = Duration::from_secs(2);
/// How often the mode is re-checked (recordings started over HTTP, leaves, lost connections).
const TICK: Duration = Duration::from_millis(250);
/// Addresses kept per pair for the TURN permissions (a browser gathers a handful).
const MAX_ADDRESSES: usize = 16;

/// A refused peer-to-peer message: code, message, request (as `act_seated` reports them).
type Refused = (&'static str, String, &'static str);

/// What a handled client message means for the media mode, taken before it is handled.
pub(crate) struct Seen {
    kind: SeenKind,
}

enum SeenKind {
    Muted(String),
    MutedAll,
    VideoStopped(String),
    SelfState { unmuted: bool, camera_on: bool },
    Record,
    Other,
}

impl Seen {
    pub(crate) fn of(msg: &ClientMessage) -> Seen {
        let kind = match msg {
            ClientMessage::Mute { participant_id } => SeenKind::Muted(participant_id.clone()),
            ClientMessage::MuteAll => SeenKind::MutedAll,
            ClientMessage::StopVideo { participant_id } => SeenKind::VideoStopped(participant_id.clone()),
            ClientMessage::SetState { muted, camera_on, .. } => {
                SeenKind::SelfState { unmuted: *muted == Some(false), camera_on: *camera_on == Some(true) }
            }
            ClientMessage::Record { .. } | ClientMessage::Captions { .. } => SeenKind::Record,
            _ => SeenKind::Other,
        };
        Seen { kind }
    }
}

/// After a client message was handled (accepted): host enforcement starts or ends, a
/// recording may have started; the mode follows at once.
pub(crate) fn after(state: &Services, room: &Arc<Room>, me: &Participant, seen: Seen) {
    {
        let mut st = room.p2p.lock();
        match seen.kind {
            SeenKind::Muted(pid) => {
                st.muted_by_host.insert(pid);
            }
            SeenKind::MutedAll => {
                for p in room.participants().into_iter().filter(|p| !p.role.is_moderator()) {
                    st.muted_by_host.insert(p.participant_id);
                }
            }
            SeenKind::VideoStopped(pid) => {
                st.video_stopped.insert(pid);
            }
            SeenKind::SelfState { unmuted, camera_on } => {
                if unmuted {
                    st.muted_by_host.remove(&me.participant_id);
                }
                if camera_on {
                    st.video_stopped.remove(&me.participant_id);
                }
            }
            SeenKind::Record => {}
            SeenKind::Other => return,
        }
    }
    evaluate(state, room);
}

/// Handles the peer-to-peer client messages; an error is answered with an error frame.
pub(crate) fn act(state: &Services, room: &Arc<Room>, me: &Participant, msg: ClientMessage) -> Result<(), Refused> {
    let me = me.participant_id.as_str();
    match msg {
        ClientMessage::P2pCapable => {
            let start = {
                let mut st = room.p2p.lock();
                st.capable.insert(me.to_owned());
                !std::mem::replace(&mut st.watching, true)
            };
            if start {
                tokio::spawn(watch(state.clone(), room.clone()));
            }
            evaluate(state, room);
        }
        ClientMessage::P2pOffer { to, session, sdp } => {
            let from = relay_to(room, me, &to, session, "p2p_offer")?;
            room.send_to(&to, ServerMessage::P2pOffer { from, session, sdp });
        }
        ClientMessage::P2pAnswer { to, session, sdp } => {
            let from = relay_to(room, me, &to, session, "p2p_answer")?;
            room.send_to(&to, ServerMessage::P2pAnswer { from, session, sdp });
        }
        ClientMessage::P2pCandidate { to, session, candidate } => {
            let from = relay_to(room, me, &to, session, "p2p_candidate")?;
            if let Some(addr) = candidate.as_ref().and_then(address_of) {
                // Under the lock, so that a pair ending meanwhile takes back what it allowed.
                let mut st = room.p2p.lock();
                if let Some(p) = st.current.as_mut() {
                    if !p.addresses.contains(&addr) && p.seen < MAX_ADDRESSES {
                        p.seen += 1;
                        p.addresses.extend(state.turn.allow_peers(&[addr]));
                    }
                }
            }
            room.send_to(&to, ServerMessage::P2pCandidate { from, session, candidate });
        }
        ClientMessage::P2pStatus { session, connected } => {
            let ended = {
                let mut st = room.p2p.lock();
                let Some(pair) = st.current.as_mut().filter(|p| p.has(me) && p.session == session) else {
                    return Err(refused(&st, me, session, "p2p_status"));
                };
                if connected {
                    if !std::mem::replace(&mut pair.connected, true) {
                        metrics::counter!("p2p_pairs_total", "outcome" => "connected").increment(1);
                        tracing::info!(meeting_id = room.meeting_id, session, "peer-to-peer media flows");
                    }
                    None
                } else {
                    let (a, b) = (pair.a.clone(), pair.b.clone());
                    st.failed = Some((a, b));
                    metrics::counter!("p2p_pairs_total", "outcome" => "failed").increment(1);
                    tracing::info!(meeting_id = room.meeting_id, session, "peer-to-peer failed: the pair uses the SFU");
                    st.current.take()
                }
            };
            if let Some(pair) = ended {
                end_pair(state, room, pair, "failed");
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks that `me` may send a pairing message to `to` in `session`; returns `me` as `from`.
fn relay_to(room: &Room, me: &str, to: &str, session: u64, request: &'static str) -> Result<String, Refused> {
    let st = room.p2p.lock();
    match &st.current {
        Some(p) if p.session == session && p.has(me) && p.other(me) == to => Ok(me.to_owned()),
        _ => Err(refused(&st, me, session, request)),
    }
}

fn refused(st: &PairState, me: &str, session: u64, request: &'static str) -> Refused {
    match &st.current {
        Some(p) if p.has(me) && p.session != session => {
            ("stale_session", format!("peer-to-peer session {session} is over (now {})", p.session), request)
        }
        Some(p) if p.has(me) => {
            ("not_paired", "peer-to-peer messages go to the other member of your pair only".into(), request)
        }
        _ => ("not_paired", "you are not in a peer-to-peer pair in this meeting".into(), request),
    }
}

/// The address of a candidate (`candidate:<foundation> <component> <transport> <priority>
/// <address> <port> typ …`); none for an mDNS name.
fn address_of(c: &IceCandidate) -> Option<SocketAddr> {
    let line = c.candidate.strip_prefix("a=").unwrap_or(&c.candidate);
    let mut words = line.split_whitespace().skip(4);
    let ip: IpAddr = words.next()?.parse().ok()?;
    let port: u16 = words.next()?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// Re-checks the room's mode on a short tick until it closes.
async fn watch(state: Services, room: Arc<Room>) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        if room.is_closed() {
            let pair = room.p2p.lock().current.take();
            if let Some(pair) = pair {
                state.turn.forbid_peers(&pair.addresses);
                metrics::gauge!("p2p_pairs").decrement(1.0);
            }
            return;
        }
        evaluate(&state, &room);
    }
}

/// Why the two people here (if two) cannot talk directly now; `None`: they can.
fn obstacle(room: &Room, st: &PairState, people: &[Participant]) -> Option<&'static str> {
    if !room.settings.peer_to_peer {
        return Some("off");
    }
    // The direct link's DTLS fingerprints travel through this server, which the E2EE
    // security code does not cover: an E2EE meeting keeps its media on the SFU, where every
    // frame is SFrame-encrypted with keys the server never holds (docs/e2ee.md).
    if room.settings.e2ee {
        return Some("e2ee");
    }
    // Breakout rooms: each room's media is its own SFU room; a pair would cross rooms.
    if room.breakout.is_open() {
        return Some("breakout");
    }
    let [a, b] = people else { return Some("participants") };
    if !st.capable.contains(&a.participant_id) || !st.capable.contains(&b.participant_id) {
        return Some("not_capable");
    }
    if a.reconnecting || b.reconnecting {
        return Some("reconnecting");
    }
    if room.is_recording() {
        return Some("recording");
    }
    // Live captions hear the microphones on the SFU, as the recorder does (live/captions.rs).
    if room.captions.is_on() {
        return Some("captions");
    }
    let enforced =
        |p: &Participant| st.muted_by_host.contains(&p.participant_id) || st.video_stopped.contains(&p.participant_id);
    if enforced(a) || enforced(b) {
        return Some("host_enforcement");
    }
    if st.failed.as_ref().is_some_and(|(x, y)| {
        (x == &a.participant_id && y == &b.participant_id) || (x == &b.participant_id && y == &a.participant_id)
    }) {
        return Some("failed");
    }
    None
}

/// Forms or ends the pair as the room stands now.
fn evaluate(state: &Services, room: &Arc<Room>) {
    let people = room.participants();
    let (ended, formed) = {
        let mut st = room.p2p.lock();
        // Forget what concerns people who are gone.
        let here: HashSet<&str> = people.iter().map(|p| p.participant_id.as_str()).collect();
        st.capable.retain(|p| here.contains(p.as_str()));
        st.muted_by_host.retain(|p| here.contains(p.as_str()));
        st.video_stopped.retain(|p| here.contains(p.as_str()));
        if st.failed.as_ref().is_some_and(|(a, b)| !here.contains(a.as_str()) || !here.contains(b.as_str())) {
            st.failed = None;
        }
        let why = obstacle(room, &st, &people);
        let same = |p: &Pair| people.len() == 2 && p.has(&people[0].participant_id) && p.has(&people[1].participant_id);
        match (why, st.current.as_ref()) {
            (None, Some(p)) if same(p) => return,
            (None, _) => {
                let ended = st.current.take().map(|p| (p, "participants"));
                let now = Instant::now();
                let since = *st.eligible_since.get_or_insert(now);
                let formed = if now.duration_since(since) >= SETTLE {
                    st.session += 1;
                    st.eligible_since = None;
                    let pair = Pair {
                        a: people[0].participant_id.clone(),
                        b: people[1].participant_id.clone(),
                        session: st.session,
                        addresses: Vec::new(),
                        seen: 0,
                        connected: false,
                    };
                    let formed = (pair.a.clone(), pair.b.clone(), pair.session);
                    st.current = Some(pair);
                    Some(formed)
                } else {
                    None
                };
                (ended, formed)
            }
            (Some(why), _) => {
                st.eligible_since = None;
                (st.current.take().map(|p| (p, why)), None)
            }
        }
    };
    if let Some((pair, why)) = ended {
        end_pair(state, room, pair, why);
    }
    if let Some((a, b, session)) = formed {
        metrics::gauge!("p2p_pairs").increment(1.0);
        metrics::counter!("p2p_pairs_total", "outcome" => "formed").increment(1);
        tracing::info!(meeting_id = room.meeting_id, session, "two participants: peer-to-peer");
        let mode = |peer: &str, offerer: bool| ServerMessage::P2pMode {
            mode: MediaMode::P2p,
            peer: Some(peer.to_owned()),
            session,
            offerer,
            reason: None,
        };
        room.send_to(&a, mode(&b, true));
        room.send_to(&b, mode(&a, false));
    }
}

/// Tells both members (those still here) to use the SFU, and takes back their TURN permissions.
fn end_pair(state: &Services, room: &Room, pair: Pair, why: &str) {
    state.turn.forbid_peers(&pair.addresses);
    metrics::gauge!("p2p_pairs").decrement(1.0);
    tracing::info!(meeting_id = room.meeting_id, session = pair.session, reason = why, "peer-to-peer ends: the SFU");
    let msg = ServerMessage::P2pMode {
        mode: MediaMode::Sfu,
        peer: None,
        session: pair.session,
        offerer: false,
        reason: Some(why.to_owned()),
    };
    room.send_to(&pair.a, msg.clone());
    room.send_to(&pair.b, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_name_their_address() {
        let c = |s: &str| IceCandidate {
            candidate: s.into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        };
        let host = c("candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host generation 0");
        assert_eq!(address_of(&host), Some("192.0.2.10:54321".parse().unwrap()));
        let v6 = c("a=candidate:2 1 udp 1686052607 2001:db8::1 5000 typ srflx raddr :: rport 0");
        assert_eq!(address_of(&v6), Some("[2001:db8::1]:5000".parse().unwrap()));
        assert_eq!(address_of(&c("candidate:3 1 udp 2122 4b1a5e7c-0d3e.local 5000 typ host")), None);
        assert_eq!(address_of(&c("")), None);
    }
}
