//! A participant's own state and media signaling: mute / camera / hand / local recording as
//! they set them, the publish offer (and ICE restart), the answer to a subscribe offer, and
//! the size a video is shown at. The SFU enforces what is said here (media/).

use convene_protocol::{Participant, PublishedTrack};

use super::room::Room;
use super::{Acted, Refused};
use crate::services::Services;

/// `set_state`: what the participant says about themselves.
pub(super) fn set_state(
    state: &Services,
    room: &Room,
    me: &Participant,
    muted: Option<bool>,
    camera_on: Option<bool>,
    hand_raised: Option<bool>,
    recording_locally: Option<bool>,
) -> Acted {
    if recording_locally == Some(true) {
        super::permit::local_recorder(me, "set_state")?;
    }
    if let Some(m) = muted {
        state.media.set_muted(room.sfu_of(&me.participant_id), &me.participant_id, m);
    }
    // Turning the camera on again lifts a host's "stop video".
    if camera_on == Some(true) {
        state.media.set_video_stopped(room.sfu_of(&me.participant_id), &me.participant_id, false);
    }
    room.update(&me.participant_id, |p| {
        p.muted = muted.unwrap_or(p.muted);
        p.camera_on = camera_on.unwrap_or(p.camera_on);
        p.hand_raised = hand_raised.unwrap_or(p.hand_raised);
        p.recording_locally = recording_locally.unwrap_or(p.recording_locally);
    });
    Ok(())
}

/// `publish_offer`: the SFU's answer goes back to the sender.
pub(super) async fn publish_offer(
    state: &Services,
    room: &Room,
    me: &Participant,
    sdp: String,
    tracks: Vec<PublishedTrack>,
    restart: bool,
) -> Acted {
    // Overload (media/load.rs): someone not publishing yet does not start (nor restart into
    // publishing) while the meeting's media worker is busy — a new publisher is load on every
    // subscriber. Those already publishing renegotiate and restart as ever: their audio is
    // never shed.
    if !room.tracks().iter().any(|t| t.participant_id == me.participant_id) {
        state.media.admit(room.meeting_id).map_err(|_| {
            ("server_busy", "this server is at capacity; try publishing again in a minute".to_owned(), "publish_offer")
        })?;
    }
    if restart {
        // Within the participant's budget of new peer connections (media/peer_budget.rs).
        let subscription = room.subscription_of(&me.participant_id);
        state
            .media
            .restart(room.sfu_of(&me.participant_id), &me.participant_id, subscription)
            .map_err(|e| ("media_restart_limited", e.0, "publish_offer"))?;
    }
    let answer = state
        .media
        .publish(room.sfu_of(&me.participant_id), &me.participant_id, sdp, tracks)
        .await
        .map_err(|e| ("invalid_sdp", format!("the offer was not accepted: {}", e.0), "publish_offer"))?;
    room.send_to(&me.participant_id, convene_protocol::ServerMessage::PublishAnswer { sdp: answer });
    Ok(())
}

/// `subscribe_answer`: one that answers a replaced offer is `stale_answer`, harmless.
pub(super) async fn subscribe_answer(
    state: &Services,
    room: &Room,
    me: &Participant,
    sdp: String,
    offer_id: Option<u64>,
) -> Acted {
    use crate::media::AnswerRefused;
    state.media.subscribe_answer(room.sfu_of(&me.participant_id), &me.participant_id, sdp, offer_id).await.map_err(
        |e| -> Refused {
            match e {
                AnswerRefused::Stale(m) => ("stale_answer", m, "subscribe_answer"),
                AnswerRefused::Invalid(e) => {
                    ("invalid_sdp", format!("the answer was not accepted: {}", e.0), "subscribe_answer")
                }
            }
        },
    )
}

/// `set_video_size`: the SFU picks the simulcast layer that fits.
pub(super) fn set_video_size(
    state: &Services,
    room: &Room,
    me: &Participant,
    track_id: &str,
    width: u32,
    height: u32,
) -> Acted {
    let n = crate::media::track_number(track_id).ok_or((
        "unknown_track",
        format!("no track {track_id:?}"),
        "set_video_size",
    ))?;
    state.media.video_size(room.sfu_of(&me.participant_id), &me.participant_id, n, width, height);
    Ok(())
}
