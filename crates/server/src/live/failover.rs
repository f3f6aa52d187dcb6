//! Cluster mode: seats kept in the shared database so another node can rebuild a meeting
//! whose node died, and rooms moved between nodes — off a draining node, or to where the
//! placement went while this node was cut off — without anyone leaving the meeting.

use std::sync::Arc;
use std::time::Duration;

use convene_protocol::{Participant, ServerMessage};

use super::admission::{joinable, refusal_error, seat_gone};
use super::room::{Attached, Newcomer, Room};
use super::Live;
use crate::auth::token_hash;
use crate::error::Result;
use crate::services::Services;

impl Live {
    /// Rebuilds a seat from the shared database on this node (its meeting's node died and
    /// the placement moved here), opening the room if need be.
    pub(super) async fn restore(
        &self,
        state: &Services,
        meeting_id: i64,
        resume_token: &str,
    ) -> Result<(Arc<Room>, Attached)> {
        let seat = state.store.seat_by_resume(meeting_id, &token_hash(resume_token)).await?.ok_or_else(seat_gone)?;
        let participant: Participant = serde_json::from_str(&seat.participant).map_err(|_| seat_gone())?;
        // A seat whose holder a host removed is not rebuilt, even if its row outlived the removal.
        let subjects: Vec<String> = participant
            .user_id
            .as_deref()
            .map(super::admission::user_subject)
            .into_iter()
            .chain(seat.client_key.clone())
            .collect();
        if state.store.is_banned(meeting_id, &subjects).await? {
            return Err(seat_gone());
        }
        let meeting = joinable(state, meeting_id).await?;
        let room = self.room_for(state, &meeting, participant.user_id.as_deref()).await?;
        let newcomer = Newcomer {
            participant: participant.clone(),
            resume_token: resume_token.to_owned(),
            attendance_id: seat.attendance_id.clone(),
            client_key: seat.client_key.clone(),
            subscription: crate::media::subscription(seat.video_slots),
        };
        let attached = room.restore(newcomer).map_err(refusal_error)?;
        let subscription = room.subscription_of(&participant.participant_id);
        state.media.join(meeting_id, &participant.participant_id, subscription);
        state.media.set_muted(meeting_id, &participant.participant_id, participant.muted);
        tracing::info!(meeting_id, participant = %participant.participant_id, "seat restored after a node change");
        Ok((room, attached))
    }

    /// Stops taking new meetings, lets the live ones run until `deadline`, then moves each
    /// to another node — its people get `moved` and resume there with the same seats (kept
    /// in the database), nobody is dropped.
    pub async fn drain(&self, state: &Services, deadline: Duration) {
        if !state.cluster.is_clustered() {
            return;
        }
        state.cluster.set_draining(true).await;
        tracing::info!(deadline_s = deadline.as_secs(), "draining: no new meetings here");
        let until = tokio::time::Instant::now() + deadline;
        while tokio::time::Instant::now() < until && self.load().0 > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
        for room in rooms {
            match state.cluster.hand_over(room.meeting_id).await {
                Ok(crate::cluster::Owner::Elsewhere { node_id, url }) => {
                    self.move_room(state, &room, &node_id, &url);
                    tracing::info!(meeting_id = room.meeting_id, to = %node_id, "meeting moved off a draining node");
                }
                Ok(crate::cluster::Owner::Here) => {}
                Err(e) => {
                    tracing::warn!(meeting_id = room.meeting_id, error = %e, "nowhere to move a meeting; it stays");
                }
            }
        }
    }

    /// After a partition: meetings placed on another node while this one was cut off from
    /// NATS move there (their people follow, as in a drain), so a meeting never stays split
    /// over two nodes; meetings live here without a placement are claimed back.
    pub async fn reconcile(&self, state: &Services) {
        if !state.cluster.is_clustered() || state.cluster.is_draining() {
            return;
        }
        let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
        for room in rooms {
            match state.cluster.reconcile(room.meeting_id).await {
                Ok(crate::cluster::Owner::Here) => {}
                Ok(crate::cluster::Owner::Elsewhere { node_id, url }) => {
                    tracing::warn!(
                        meeting_id = room.meeting_id,
                        to = %node_id,
                        "meeting was placed on another node while this one was cut off: moving its people there"
                    );
                    self.move_room(state, &room, &node_id, &url);
                }
                Err(_) => return, // NATS is away: next time
            }
        }
    }

    /// Sends everyone in `room` to the node that hosts the meeting now (`moved`: they resume
    /// there with their seats) and lets the room here go. Seats leave this node without
    /// leaving the meeting: no attendance, no events.
    fn move_room(&self, state: &Services, room: &Arc<Room>, node_id: &str, url: &str) {
        let ws_url = crate::cluster::ws_url(url, room.meeting_id);
        room.close(&ServerMessage::Moved { ws_url, node_id: node_id.to_owned() });
        self.forget(room);
        state.media.end_room(room.meeting_id);
    }
}

/// Keeps a seat in the shared database, so another node can rebuild the meeting if this one
/// dies. Best effort: a failure costs only that failover.
pub(super) async fn persist_seat(state: &Services, meeting_id: i64, seat: &Newcomer) {
    if !state.cluster.is_clustered() {
        return;
    }
    let row = crate::store::SeatRow {
        resume_hash: token_hash(&seat.resume_token),
        meeting_id,
        participant_id: seat.participant.participant_id.clone(),
        attendance_id: seat.attendance_id.clone(),
        client_key: seat.client_key.clone(),
        participant: serde_json::to_string(&seat.participant).unwrap_or_default(),
        video_slots: crate::media::video_slots(seat.subscription),
        updated_at: state.clock.now_ms(),
    };
    if let Err(e) = state.store.save_seat(&row).await {
        tracing::warn!(error = %e, "could not keep a seat for failover");
    }
}

/// A role or permission changed; the stored seat follows, so a rebuilt meeting has it.
pub(super) fn keep_role(state: &Services, room: &Room, participant_id: &str) {
    if !state.cluster.is_clustered() {
        return;
    }
    let Some(p) = room.participant(participant_id) else { return };
    let (store, meeting_id) = (state.store.clone(), room.meeting_id);
    tokio::spawn(async move {
        let json = serde_json::to_string(&p).unwrap_or_default();
        if let Err(e) = store.update_seat_participant(meeting_id, &p.participant_id, &json).await {
            tracing::warn!(error = %e, "could not keep a role for failover");
        }
    });
}

/// Forgets the seats of a meeting that ended and releases its placement, so its next start
/// is placed afresh with no seats to restore.
pub(super) fn release(state: &Services, meeting_id: i64) {
    if !state.cluster.is_clustered() {
        return;
    }
    let (cluster, store) = (state.cluster.clone(), state.store.clone());
    tokio::spawn(async move {
        let _ = store.delete_seats(meeting_id).await;
        cluster.release(meeting_id).await;
    });
}

/// Forgets the seat of someone gone for good.
pub(super) async fn forget_seat(state: &Services, meeting_id: i64, participant_id: &str) {
    if !state.cluster.is_clustered() {
        return;
    }
    if let Err(e) = state.store.delete_seat(meeting_id, participant_id).await {
        tracing::warn!(error = %e, "could not forget a seat");
    }
}
