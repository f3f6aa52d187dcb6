//! What the host and co-hosts do to others in a live meeting: mute, stop video, lower hands,
//! remove, lock, let in from the waiting room, change roles, allow local recording and record.
//! Each action is announced to everyone as a `host_action`.

use std::sync::Arc;

use convene_protocol::{HostAction, LeaveReason, Participant, Role, ServerMessage};

use super::admission::user_subject;
use super::failover::keep_role;
use super::permit::{host_only, may_record_locally, moderator, refused};
use super::room::Room;
use super::{target, Acted, Live};
use crate::services::Services;

/// Tells everyone what `me` did.
fn tell(room: &Room, me: &Participant, action: HostAction, target: Option<String>) {
    room.broadcast(&ServerMessage::HostAction { action, by: me.participant_id.clone(), target }, None);
}

/// The waiting person `pid`, or the refusal of `req`.
fn waiting(room: &Room, pid: &str, req: &'static str) -> Acted {
    if room.waiting_ids().iter().any(|w| w == pid) {
        Ok(())
    } else {
        Err(("unknown_participant", format!("{pid:?} is not in the waiting room"), req))
    }
}

pub(super) fn mute(state: &Services, room: &Room, me: &Participant, pid: String) -> Acted {
    moderator(me, "mute")?;
    target(room, &pid, "mute")?;
    room.update(&pid, |p| p.muted = true);
    state.media.set_muted(room.sfu_of(&pid), &pid, true);
    tell(room, me, HostAction::Muted, Some(pid));
    Ok(())
}

pub(super) fn mute_all(state: &Services, room: &Room, me: &Participant) -> Acted {
    moderator(me, "mute_all")?;
    for p in room.update_all(|p| !p.role.is_moderator(), |p| p.muted = true) {
        state.media.set_muted(room.sfu_of(&p.participant_id), &p.participant_id, true);
    }
    tell(room, me, HostAction::MutedAll, None);
    Ok(())
}

/// Asks one participant, or everyone muted, to unmute (only they hear it).
pub(super) fn ask_unmute(room: &Room, me: &Participant, pid: Option<String>) -> Acted {
    moderator(me, "ask_unmute")?;
    let targets = match pid {
        Some(pid) => vec![target(room, &pid, "ask_unmute")?],
        None => room.participants().into_iter().filter(|p| p.muted && p.participant_id != me.participant_id).collect(),
    };
    for t in targets {
        room.send_to(
            &t.participant_id,
            ServerMessage::HostAction {
                action: HostAction::AskedToUnmute,
                by: me.participant_id.clone(),
                target: Some(t.participant_id.clone()),
            },
        );
    }
    Ok(())
}

pub(super) fn stop_video(state: &Services, room: &Room, me: &Participant, pid: String) -> Acted {
    moderator(me, "stop_video")?;
    target(room, &pid, "stop_video")?;
    room.update(&pid, |p| p.camera_on = false);
    state.media.set_video_stopped(room.sfu_of(&pid), &pid, true);
    tell(room, me, HostAction::VideoStopped, Some(pid));
    Ok(())
}

pub(super) fn lower_hand(room: &Room, me: &Participant, pid: Option<String>) -> Acted {
    moderator(me, "lower_hand")?;
    match pid {
        Some(pid) => {
            target(room, &pid, "lower_hand")?;
            room.update(&pid, |p| p.hand_raised = false);
            tell(room, me, HostAction::HandLowered, Some(pid));
        }
        None => {
            room.update_all(|p| p.hand_raised, |p| p.hand_raised = false);
            tell(room, me, HostAction::HandLowered, None);
        }
    }
    Ok(())
}

pub(super) fn lock(room: &Room, me: &Participant, locked: bool) -> Acted {
    moderator(me, "lock")?;
    if room.set_locked(locked) {
        room.broadcast(&ServerMessage::MeetingUpdated { locked, recording: room.is_recording() }, None);
        tell(room, me, if locked { HostAction::Locked } else { HostAction::Unlocked }, None);
    }
    Ok(())
}

pub(super) fn deny(room: &Room, me: &Participant, pid: String) -> Acted {
    moderator(me, "deny")?;
    waiting(room, &pid, "deny")?;
    let farewell = ServerMessage::error("denied", "a host did not let you into this meeting", None);
    room.remove(&pid, LeaveReason::Removed, Some(farewell));
    Ok(())
}

pub(super) fn set_role(state: &Services, room: &Room, me: &Participant, pid: String, role: Role) -> Acted {
    host_only(me, "set_role")?;
    let t = target(room, &pid, "set_role")?;
    if !matches!(role, Role::Cohost | Role::Participant)
        || t.role == Role::Host
        || t.role == Role::Guest && role == Role::Cohost
    {
        return Err((
            "invalid_message",
            "the role can be cohost or participant, for a signed-in participant who is not the host".into(),
            "set_role",
        ));
    }
    // A co-host made a participant again keeps recording only if allowed to.
    room.update(&pid, |p| {
        p.role = role;
        p.recording_locally &= may_record_locally(p);
    });
    keep_role(state, room, &pid);
    tell(room, me, if role == Role::Cohost { HostAction::Promoted } else { HostAction::Demoted }, Some(pid));
    Ok(())
}

pub(super) fn transfer_host(state: &Services, room: &Room, me: &Participant, pid: String) -> Acted {
    host_only(me, "transfer_host")?;
    let t = target(room, &pid, "transfer_host")?;
    if t.participant_id == me.participant_id {
        return Err(("invalid_message", "you are already the host".into(), "transfer_host"));
    }
    room.update(&pid, |p| p.role = Role::Host);
    // The previous host keeps moderating, as a co-host (guests cannot be co-hosts).
    let demoted = if me.user_id.is_some() { Role::Cohost } else { Role::Participant };
    room.update(&me.participant_id, |p| {
        p.role = demoted;
        p.recording_locally &= may_record_locally(p);
    });
    keep_role(state, room, &pid);
    keep_role(state, room, &me.participant_id);
    tell(room, me, HostAction::MadeHost, Some(pid));
    Ok(())
}

pub(super) fn allow_local_recording(
    state: &Services,
    room: &Room,
    me: &Participant,
    pid: String,
    allowed: bool,
) -> Acted {
    moderator(me, "allow_local_recording")?;
    let t = target(room, &pid, "allow_local_recording")?;
    if t.user_id.is_none() {
        return Err((
            "invalid_message",
            "guests cannot record: a recording is uploaded to an account".into(),
            "allow_local_recording",
        ));
    }
    // Withdrawing the permission stops a recording in progress (its client stops and uploads
    // what it has, as it was allowed until now).
    let changed = room.update(&pid, |p| {
        p.local_recording_allowed = allowed;
        p.recording_locally &= may_record_locally(p);
    });
    if changed.is_some_and(|p| p.local_recording_allowed != t.local_recording_allowed) {
        keep_role(state, room, &pid);
        let action = if allowed { HostAction::LocalRecordingAllowed } else { HostAction::LocalRecordingDisallowed };
        tell(room, me, action, Some(pid));
    }
    Ok(())
}

/// Starts or stops the server recording.
pub(super) async fn record(state: &Services, room: &Arc<Room>, me: &Participant, recording: bool) -> Acted {
    moderator(me, "record")?;
    let result = if recording {
        super::recording::start(state, room, me.user_id.as_deref()).await.map(|_| ())
    } else {
        match super::recording::stop(state, room).await {
            Ok(None) => Err(crate::error::Error::conflict("not_recording", "this meeting is not being recorded")),
            other => other.map(|_| ()),
        }
    };
    result.map_err(|e| refused(e, "record"))
}

impl Live {
    /// `remove`: out of the meeting, and kept out (by account and by device).
    pub(super) async fn remove_by(&self, state: &Services, room: &Arc<Room>, me: &Participant, pid: String) -> Acted {
        moderator(me, "remove")?;
        let t = target(room, &pid, "remove")?;
        if t.role == Role::Host || pid == me.participant_id {
            return Err(("not_allowed", "the host cannot be removed".into(), "remove"));
        }
        // The stored seat goes before the farewell does: a resume presented the moment the
        // socket closes must not find it and rebuild the seat (cluster mode).
        super::failover::forget_seat(state, room.meeting_id, &pid).await;
        let farewell = ServerMessage::error("removed", "a host removed you from this meeting", None);
        let Some((v, client_key)) = room.remove(&pid, LeaveReason::Removed, Some(farewell)) else { return Ok(()) };
        let now = state.clock.now_ms();
        for subject in v.participant.user_id.as_deref().map(user_subject).into_iter().chain(client_key) {
            if let Err(e) = state.store.ban(room.meeting_id, &subject, now).await {
                tracing::error!(error = %e, "could not record removal");
            }
        }
        tell(room, me, HostAction::Removed, Some(pid));
        self.vacated(state, room, v).await;
        Ok(())
    }

    pub(super) async fn admit_one(&self, state: &Services, room: &Arc<Room>, me: &Participant, pid: String) -> Acted {
        moderator(me, "admit")?;
        waiting(room, &pid, "admit")?;
        self.admit(state, room, &pid).await;
        Ok(())
    }

    pub(super) async fn admit_all(&self, state: &Services, room: &Arc<Room>, me: &Participant) -> Acted {
        moderator(me, "admit_all")?;
        for pid in room.waiting_ids() {
            self.admit(state, room, &pid).await;
        }
        Ok(())
    }

    /// Seats someone from the waiting room: they get their welcome (and a push, if they
    /// have an account and the page is in the background).
    async fn admit(&self, state: &Services, room: &Arc<Room>, pid: &str) {
        let Some(p) = room.admit_waiting(pid) else { return };
        if let Some(user_id) = &p.user_id {
            let push = crate::push::PushMessage::new(
                "You were let in",
                format!("A host admitted you to \u{201c}{}\u{201d}.", room.title),
                format!("{}/j/{}", state.config.public_url, room.meeting_id),
            )
            .with_tag(format!("meeting-{}", room.meeting_id));
            crate::push::spawn_send_to_user(state, user_id, push);
        }
        let token = room.resume_token_of(pid).unwrap_or_default();
        let attendance = room.attendance_id_of(pid).unwrap_or_default();
        if let Err(e) = self.seated(state, room, &p, &attendance).await {
            tracing::error!(error = %e, "could not record admission");
        }
        match self.welcome(state, room, &p, token, false).await {
            Ok(w) => {
                room.send_to(pid, w);
                super::welcome::after_welcome(room, pid);
            }
            Err(e) => tracing::error!(error = %e, "could not build welcome"),
        }
    }
}
