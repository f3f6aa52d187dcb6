//! A live meeting's life: its room opens (and the meeting turns live) on first entry, the
//! duration limit warns and then ends it, someone gone for good leaves attendance and maybe a
//! new host behind, and the end closes every seat, the recording and the media room.

use std::sync::Arc;
use std::time::Duration;

use convene_protocol::{EndReason, HostAction, Participant, Role, ServerMessage};
use serde_json::json;

use super::failover::{forget_seat, keep_role, release};
use super::room::{Room, Vacated};
use super::{emit_participant, Acted, Live};
use crate::events::Event;
use crate::meeting::Settings;
use crate::services::Services;
use crate::store::{MeetingRow, Pending};

/// Warn this long before the duration limit ends a meeting.
const WARNING_SECONDS: i64 = 300;

impl Live {
    /// Ends a live meeting for everyone (host action, duration limit, cancellation).
    pub async fn end_meeting(&self, state: &Services, meeting_id: i64, reason: EndReason) {
        if let Some(room) = self.room(meeting_id) {
            self.end(state, &room, reason).await;
        }
    }

    /// `end_meeting` from the host.
    pub(super) async fn end_by(&self, state: &Services, room: &Arc<Room>, me: &Participant) -> Acted {
        super::permit::host_only(me, "end_meeting")?;
        self.end(state, room, EndReason::EndedByHost).await;
        Ok(())
    }

    pub(super) async fn end(&self, state: &Services, room: &Arc<Room>, reason: EndReason) {
        let now = state.clock.now_ms();
        // Persist first, so anyone who hears "ended" and asks the API sees it ended.
        if let Err(e) = state.store.set_meeting_status(room.meeting_id, crate::meeting::MeetingStatus::Ended, now).await
        {
            tracing::error!(error = %e, meeting_id = room.meeting_id, "could not mark meeting ended");
        }
        let vacated = room.close(&ServerMessage::MeetingEnded { reason });
        self.forget(room);
        // Before the media room goes: the recording keeps everything up to the end.
        if let Err(e) = super::recording::stop(state, room).await {
            tracing::error!(error = %e, meeting_id = room.meeting_id, "could not stop the recording");
        }
        super::captions::ended(state, room);
        state.media.end_room(room.meeting_id);
        super::breakout_media::end_all(state, room).await;
        release(state, room.meeting_id);
        for v in vacated.iter().filter(|v| v.was_seated) {
            state.backlog.write(&state.store, Pending::Leave { attendance_id: v.attendance_id.clone(), at: now }).await;
        }
        let reason_name = serde_json::to_value(reason).unwrap_or_default();
        state.events.emit(Event::new(
            "meeting.ended",
            state.clock.now(),
            Some(room.meeting_id),
            Some(room.host_user_id.clone()),
            json!({"meeting_id": room.meeting_id, "reason": reason_name, "participants": vacated.len()}),
        ));
        tracing::info!(meeting_id = room.meeting_id, ?reason, "meeting ended");
    }

    /// Someone is gone for good: attendance, events, a new host if the host left, and the
    /// end of the meeting when nobody is left.
    pub(super) async fn vacated(&self, state: &Services, room: &Arc<Room>, v: Vacated) {
        if !v.was_seated {
            return;
        }
        super::captions::speaker_gone(state, room, &v.participant.participant_id);
        let sfu = super::breakout_media::forget(state, room, &v.participant.participant_id).await;
        state.media.leave(sfu, &v.participant.participant_id);
        forget_seat(state, room.meeting_id, &v.participant.participant_id).await;
        let leave = Pending::Leave { attendance_id: v.attendance_id.clone(), at: state.clock.now_ms() };
        state.backlog.write(&state.store, leave).await;
        emit_participant(state, room, "participant.left", &v.participant);
        if room.is_empty() {
            self.end(state, room, EndReason::Empty).await;
            return;
        }
        if v.participant.role == Role::Host {
            // Hand the meeting to a co-host, else to whoever has been here longest.
            let people = room.participants();
            if let Some(next) = people.iter().find(|p| p.role == Role::Cohost).or_else(|| people.first()) {
                room.update(&next.participant_id, |p| p.role = Role::Host);
                keep_role(state, room, &next.participant_id);
                room.broadcast(
                    &ServerMessage::HostAction {
                        action: HostAction::MadeHost,
                        by: v.participant.participant_id.clone(),
                        target: Some(next.participant_id.clone()),
                    },
                    None,
                );
            }
        }
    }

    /// The meeting's room, opened (and the meeting marked live) on first entry.
    pub(super) async fn room_for(
        &self,
        state: &Services,
        meeting: &MeetingRow,
        entrant: Option<&str>,
    ) -> crate::error::Result<Arc<Room>> {
        let (room, created) = {
            let mut rooms = self.rooms();
            match rooms.get(&meeting.id) {
                Some(r) => (r.clone(), false),
                None => {
                    let settings = Settings::from_stored(&meeting.settings, &state.config);
                    let r = Arc::new(Room::new(
                        meeting.id,
                        meeting.title.clone(),
                        meeting.host_id.clone(),
                        state.clock.now(),
                        settings,
                    ));
                    rooms.insert(meeting.id, r.clone());
                    (r, true)
                }
            }
        };
        if created {
            state
                .store
                .set_meeting_status(meeting.id, crate::meeting::MeetingStatus::Live, state.clock.now_ms())
                .await?;
            state.events.emit(Event::new(
                "meeting.started",
                state.clock.now(),
                Some(meeting.id),
                Some(meeting.host_id.clone()),
                json!({"meeting_id": meeting.id, "title": meeting.title}),
            ));
            tokio::spawn(self.clone().watch_duration(state.clone(), room.clone()));
            super::captions::opened(state, &room);
            if room.settings.auto_record {
                match super::recording::start(state, &room, Some(&meeting.host_id)).await {
                    Ok(r) => tracing::info!(meeting_id = meeting.id, recording_id = %r.id, "auto-record started"),
                    Err(e) => tracing::error!(meeting_id = meeting.id, error = %e, "auto-record could not start"),
                }
            }
            tell_invitees_started(state, meeting, entrant).await;
            tracing::info!(meeting_id = meeting.id, "meeting started");
        }
        Ok(room)
    }

    /// Warns before the duration limit and ends the meeting when it passes. Checks the
    /// server clock each tick (so tests can move time).
    async fn watch_duration(self, state: Services, room: Arc<Room>) {
        let limit = i64::from(room.settings.duration_limit_minutes) * 60;
        let mut tick = tokio::time::interval(Duration::from_millis(state.config.room_tick_ms));
        loop {
            tick.tick().await;
            if room.is_closed() {
                return;
            }
            let left = time_left(&state, &room);
            if left <= 0 {
                self.end(&state, &room, EndReason::DurationLimit).await;
                return;
            }
            if left <= WARNING_SECONDS.min(limit / 2) && room.take_warning() {
                room.broadcast(
                    &ServerMessage::Warning {
                        code: "ending_soon".into(),
                        message: ending_soon_text(left),
                        seconds_left: Some(left),
                    },
                    None,
                );
            }
        }
    }
}

/// Seconds until the duration limit ends the meeting (negative once it passed).
pub(super) fn time_left(state: &Services, room: &Room) -> i64 {
    i64::from(room.settings.duration_limit_minutes) * 60 - (state.clock.now() - room.started_at).num_seconds()
}

/// Pushes "meeting started" to the host, co-hosts and invitees with accounts.
async fn tell_invitees_started(state: &Services, m: &MeetingRow, entrant: Option<&str>) {
    let mut people: Vec<String> = vec![m.host_id.clone()];
    people.extend(state.store.co_hosts(m.id).await.unwrap_or_default());
    people.extend(state.store.invitees(m.id).await.unwrap_or_default().into_iter().filter_map(|i| i.user_id));
    people.sort();
    people.dedup();
    people.retain(|p| Some(p.as_str()) != entrant);
    let link = crate::notify::ics::join_url(m, &state.config.public_url);
    for user_id in people {
        let push = crate::push::PushMessage::new(
            format!("Started: {}", m.title),
            "The meeting has started. Join now.",
            link.clone(),
        )
        .with_tag(format!("meeting-{}", m.id));
        crate::push::spawn_send_to_user(state, &user_id, push);
    }
}

/// The "ends soon" warning: whole minutes (rounded up) from a minute on, else seconds.
fn ending_soon_text(seconds_left: i64) -> String {
    let (n, unit) =
        if seconds_left >= 60 { ((seconds_left + 59) / 60, "minute") } else { (seconds_left.max(1), "second") };
    format!("This meeting ends in {n} {unit}{} (its time limit).", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::ending_soon_text;

    #[test]
    fn the_warning_counts_in_words_people_read() {
        assert_eq!(ending_soon_text(300), "This meeting ends in 5 minutes (its time limit).");
        assert_eq!(ending_soon_text(241), "This meeting ends in 5 minutes (its time limit).");
        assert_eq!(ending_soon_text(60), "This meeting ends in 1 minute (its time limit).");
        assert_eq!(ending_soon_text(30), "This meeting ends in 30 seconds (its time limit).");
        assert_eq!(ending_soon_text(1), "This meeting ends in 1 second (its time limit).");
    }
}
