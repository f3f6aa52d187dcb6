//! Breakout rooms: the host and co-hosts split a live meeting into 2 to 50 rooms (evenly, by
//! hand, or letting people choose), rename them, move people, visit, broadcast to all rooms,
//! answer calls for help, and close them all with a countdown after which everyone is back in
//! the main room. An optional timer closes them by itself, warning everyone 60 s before.
//!
//! The rooms live inside the main meeting's [`Room`] on the same node (and the same seats and
//! sockets); only the media moves: each breakout room is an SFU room of its own
//! ([`crate::media::sfu_room`]), and a move takes the participant out of one and into the
//! other ([`breakout_media`](super::breakout_media)). The state is not kept for failover: a
//! meeting rebuilt on another node starts with everyone in its main room.
//!
//! Lock order: a [`Room`]'s own lock may be held while this one is taken (track fan-out asks
//! who is where), never the reverse — nothing here calls into the room while holding it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use convene_protocol::{BreakoutAssign, BreakoutAssignment, Participant, ServerMessage, Track, BREAKOUT_ROOMS};

use super::breakout_media::{announce, move_to, return_everyone};
use super::permit::moderator;
use super::room::Room;
use super::{target, Acted};
use crate::services::Services;

/// The countdown of "close all rooms" when the moderator names none.
pub(crate) const CLOSE_COUNTDOWN_SECONDS: u32 = 60;
/// The longest countdown a moderator may ask for.
const MAX_COUNTDOWN_SECONDS: u32 = 300;
/// The timer warns everyone this long before it closes the rooms.
const TIMER_WARNING_SECONDS: u32 = 60;
/// Longest room name, in characters.
const MAX_NAME_CHARS: usize = 60;
/// Longest broadcast, in characters.
const MAX_BROADCAST_CHARS: usize = 500;
/// Longest timer, in minutes.
const MAX_MINUTES: u32 = 720;

/// The tracks `pid` receives: those of the room they are in.
pub(crate) fn tracks_for(room: &Room, pid: &str) -> Vec<Track> {
    let k = room.breakout.room_of(pid);
    if k == 0 {
        room.tracks()
    } else {
        room.breakout.lock().tracks.get(&k).cloned().unwrap_or_default()
    }
}

/// After a `welcome` while rooms are open: the state, to the newcomer (or the resumed).
pub(super) fn tell_newcomer(room: &Room, pid: &str) {
    let st = room.breakout.lock();
    if st.open {
        let breakouts = st.view();
        drop(st);
        room.send_to(pid, ServerMessage::BreakoutState { breakouts });
    }
}

fn refuse(code: &'static str, message: impl Into<String>, req: &'static str) -> Acted {
    Err((code, message.into(), req))
}

fn opened(room: &Room, req: &'static str) -> Acted {
    if room.breakout.is_open() {
        Ok(())
    } else {
        refuse("breakouts_closed", "no breakout rooms are open", req)
    }
}

/// Room `k` exists now (0, the main room, when `main` allows it).
fn existing(room: &Room, k: u32, main: bool, req: &'static str) -> Acted {
    let n = room.breakout.count();
    if (k == 0 && main) || (1..=n).contains(&k) {
        Ok(())
    } else {
        let range = if main { "0 (the main room) to" } else { "1 to" };
        refuse("unknown_room", format!("no breakout room {k}: rooms are numbered {range} {n}"), req)
    }
}

fn clean_name(name: &str, req: &'static str) -> Result<String, super::Refused> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(("invalid_message", format!("a room name has 1 to {MAX_NAME_CHARS} characters"), req));
    }
    Ok(name.to_owned())
}

/// `breakout_open`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn open(
    state: &Services,
    room: &Arc<Room>,
    me: &Participant,
    rooms: u32,
    assign: BreakoutAssign,
    names: Vec<String>,
    assignments: Vec<BreakoutAssignment>,
    minutes: Option<u32>,
) -> Acted {
    const REQ: &str = "breakout_open";
    moderator(me, REQ)?;
    if !BREAKOUT_ROOMS.contains(&rooms) {
        return refuse(
            "invalid_message",
            format!("open {} to {} breakout rooms", BREAKOUT_ROOMS.start(), BREAKOUT_ROOMS.end()),
            REQ,
        );
    }
    if minutes.is_some_and(|m| !(1..=MAX_MINUTES).contains(&m)) {
        return refuse("invalid_message", format!("the timer runs 1 to {MAX_MINUTES} minutes"), REQ);
    }
    if names.len() > rooms as usize {
        return refuse("invalid_message", "more names than rooms", REQ);
    }
    let mut all_names = Vec::with_capacity(rooms as usize);
    for i in 0..rooms as usize {
        all_names.push(match names.get(i) {
            Some(n) => clean_name(n, REQ)?,
            None => format!("Room {}", i + 1),
        });
    }
    if assign != BreakoutAssign::Manual && !assignments.is_empty() {
        return refuse("invalid_message", "assignments go with assign: manual", REQ);
    }
    let people = room.participants();
    for a in &assignments {
        target(room, &a.participant_id, REQ)?;
        if a.room > rooms {
            return refuse(
                "unknown_room",
                format!("no breakout room {}: rooms are numbered 1 to {rooms}", a.room),
                REQ,
            );
        }
    }
    let plan: Vec<(String, u32)> = match assign {
        BreakoutAssign::Auto => people
            .iter()
            .filter(|p| !p.role.is_moderator())
            .enumerate()
            .map(|(i, p)| (p.participant_id.clone(), i as u32 % rooms + 1))
            .collect(),
        BreakoutAssign::Manual => assignments.into_iter().map(|a| (a.participant_id, a.room)).collect(),
        BreakoutAssign::Choose => Vec::new(),
    };
    let epoch = {
        let mut st = room.breakout.lock();
        if st.open {
            return refuse("breakouts_open", "breakout rooms are already open; close them first", REQ);
        }
        st.open = true;
        st.assign = Some(assign);
        st.names = all_names;
        st.placed.clear();
        st.tracks.clear();
        st.epoch += 1;
        st.closing_at = None;
        st.ends_at = minutes.map(|m| Instant::now() + Duration::from_secs(u64::from(m) * 60));
        st.epoch
    };
    tracing::info!(meeting_id = room.meeting_id, rooms, ?assign, "breakout rooms open");
    super::captions::breakouts_opened(state, room);
    // Peer-to-peer pairs end now (live/p2p.rs keeps breakout meetings on the SFU).
    announce(room);
    for (pid, k) in plan.into_iter().filter(|(_, k)| *k > 0) {
        move_to(state, room, &pid, k).await;
    }
    if let Some(m) = minutes {
        let (state, room) = (state.clone(), room.clone());
        tokio::spawn(async move {
            let warn_after = u64::from(m) * 60 - u64::from(TIMER_WARNING_SECONDS);
            tokio::time::sleep(Duration::from_secs(warn_after)).await;
            // The breakout lock is let go before the room's: the room's fan-out takes them
            // the other way round (state, then breakouts), so holding both here could deadlock.
            let current = room.breakout.lock().epoch == epoch;
            if current && !room.is_closed() {
                let msg = ServerMessage::Warning {
                    code: "breakout_ending".into(),
                    message: format!("Breakout rooms close in {TIMER_WARNING_SECONDS} seconds"),
                    seconds_left: Some(i64::from(TIMER_WARNING_SECONDS)),
                };
                room.broadcast(&msg, None);
                start_closing(&state, &room, epoch, TIMER_WARNING_SECONDS, false);
            }
        });
    }
    Ok(())
}

/// `breakout_close`: everyone is told the countdown, then returns.
pub(super) fn close(state: &Services, room: &Arc<Room>, me: &Participant, countdown: Option<u32>) -> Acted {
    const REQ: &str = "breakout_close";
    moderator(me, REQ)?;
    opened(room, REQ)?;
    let seconds = countdown.unwrap_or(CLOSE_COUNTDOWN_SECONDS);
    if seconds > MAX_COUNTDOWN_SECONDS {
        return refuse("invalid_message", format!("the countdown is 0 to {MAX_COUNTDOWN_SECONDS} seconds"), REQ);
    }
    let epoch = room.breakout.lock().epoch;
    start_closing(state, room, epoch, seconds, true);
    Ok(())
}

/// Starts the countdown of opening `epoch`; at its end everyone returns to the main room.
fn start_closing(state: &Services, room: &Arc<Room>, epoch: u64, seconds: u32, warn: bool) {
    room.breakout.lock().closing_at = Some(Instant::now() + Duration::from_secs(u64::from(seconds)));
    if warn {
        let msg = ServerMessage::Warning {
            code: "breakout_closing".into(),
            message: format!("Breakout rooms close in {seconds} seconds; everyone returns to the main room"),
            seconds_left: Some(i64::from(seconds)),
        };
        room.broadcast(&msg, None);
    }
    announce(room);
    let (state, room) = (state.clone(), room.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(u64::from(seconds))).await;
        let current = room.breakout.lock().epoch == epoch; // let go before the room's lock
        if current && !room.is_closed() {
            return_everyone(&state, &room).await;
        }
    });
}

/// `breakout_move`: a moderator moves someone (0: to the main room).
pub(super) async fn move_someone(state: &Services, room: &Arc<Room>, me: &Participant, pid: String, k: u32) -> Acted {
    const REQ: &str = "breakout_move";
    moderator(me, REQ)?;
    opened(room, REQ)?;
    target(room, &pid, REQ)?;
    existing(room, k, true, REQ)?;
    move_to(state, room, &pid, k).await;
    Ok(())
}

/// `breakout_choose`: go to a room myself. Back to the main room is always allowed;
/// moderators visit any room; others pick only when the rooms were opened with `choose`.
pub(super) async fn choose(state: &Services, room: &Arc<Room>, me: &Participant, k: u32) -> Acted {
    const REQ: &str = "breakout_choose";
    opened(room, REQ)?;
    existing(room, k, true, REQ)?;
    let choosing = room.breakout.lock().assign == Some(BreakoutAssign::Choose);
    if k != 0 && !me.role.is_moderator() && !choosing {
        return refuse("not_allowed", "the host assigns the breakout rooms in this meeting", REQ);
    }
    move_to(state, room, &me.participant_id, k).await;
    Ok(())
}

/// `breakout_rename`.
pub(super) fn rename(room: &Room, me: &Participant, k: u32, name: String) -> Acted {
    const REQ: &str = "breakout_rename";
    moderator(me, REQ)?;
    opened(room, REQ)?;
    existing(room, k, false, REQ)?;
    let name = clean_name(&name, REQ)?;
    if let Some(slot) = room.breakout.lock().names.get_mut(k as usize - 1) {
        *slot = name;
    }
    announce(room);
    Ok(())
}

/// `breakout_broadcast`: shown in every room (and the main room).
pub(super) fn broadcast(room: &Room, me: &Participant, text: String) -> Acted {
    const REQ: &str = "breakout_broadcast";
    moderator(me, REQ)?;
    opened(room, REQ)?;
    let text = text.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_BROADCAST_CHARS {
        return refuse("invalid_message", format!("a broadcast has 1 to {MAX_BROADCAST_CHARS} characters"), REQ);
    }
    room.broadcast(
        &ServerMessage::BreakoutBroadcast { from: me.participant_id.clone(), from_name: me.display_name.clone(), text },
        None,
    );
    Ok(())
}

/// `breakout_help`: the moderators hear who asks and from which room.
pub(super) fn help(room: &Room, me: &Participant) -> Acted {
    const REQ: &str = "breakout_help";
    let (k, room_name) = {
        let st = room.breakout.lock();
        let k = st.placed.get(&me.participant_id).copied().unwrap_or(0);
        (k, st.name(k))
    };
    if k == 0 {
        return refuse("not_in_breakout_room", "ask for help from a breakout room", REQ);
    }
    let msg = ServerMessage::BreakoutHelp {
        participant_id: me.participant_id.clone(),
        display_name: me.display_name.clone(),
        room: k,
        room_name,
    };
    for p in room.participants().iter().filter(|p| p.role.is_moderator() && p.participant_id != me.participant_id) {
        room.send_to(&p.participant_id, msg.clone());
    }
    Ok(())
}
