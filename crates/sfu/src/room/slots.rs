//! The room's side of slot subscriptions ([`crate::slots`]): which track each slot carries,
//! moving a slot from one track to another, and telling signaling.

use std::time::Instant;

use super::Room;
use crate::io::RoomEvent;
use crate::maps::Set;
use crate::slots::{video_choice, Candidate};
use crate::track::{TrackId, TrackKind};
use crate::ParticipantId;

impl Room {
    /// Gives a slot subscriber's video slots to the tracks it should see now
    /// ([`video_choice`]): a track that stays keeps its slot, one that drops out frees it, and
    /// a newcomer takes a free one (from the next keyframe, asked for by the layer choice).
    pub(super) fn fill_video_slots(&mut self, now: Instant, subscriber: ParticipantId) {
        let Some(slots) = self.participants.get(&subscriber).and_then(|p| p.slots.as_ref()) else { return };
        let candidates = self
            .tracks
            .values()
            .filter(|t| t.kind == TrackKind::Video && t.publisher != subscriber)
            // A camera a host stopped shows nothing: its slot serves someone else meanwhile.
            .filter(|t| !self.holds.holds_track(t))
            .map(|t| Candidate { track: t.id, publisher: t.publisher, source: t.source })
            .collect();
        let chosen = video_choice(candidates, slots.video, &slots.sizes, self.speaker.current(), &self.spoke);
        let Some(p) = self.participants.get_mut(&subscriber) else { return };
        let Some(slots) = p.slots.as_mut() else { return };
        let keep: Set<TrackId> = chosen.iter().copied().collect();
        let dropped: Vec<TrackId> = p
            .down
            .iter()
            .filter(|(track, d)| d.slot == Some(TrackKind::Video) && !keep.contains(track))
            .map(|(track, _)| *track)
            .collect();
        for track in &dropped {
            if let Some(mut slot) = p.down.remove(track) {
                slot.release();
                slots.idle.push(slot);
            }
        }
        let mut added = Vec::new();
        for track in chosen {
            if p.down.contains_key(&track) {
                continue;
            }
            let Some(mut slot) = slots.take_idle(TrackKind::Video) else { break };
            slot.carry(track, TrackKind::Video, slots.sizes.get(&track).copied());
            forget_payload_type(&mut p.subscriber, &slot);
            p.down.insert(track, slot);
            added.push(track);
        }
        if dropped.is_empty() && added.is_empty() {
            return;
        }
        self.slot_maps_due.insert(subscriber);
        self.reselect_layers(now, subscriber);
        for track in dropped.into_iter().chain(added) {
            self.update_wanted_layers(track);
        }
    }

    /// Every slot subscriber's video slots again (the active speaker changed).
    pub(super) fn fill_everyones_video_slots(&mut self, now: Instant) {
        if self.slot_subscribers == 0 {
            return;
        }
        let subscribers: Vec<ParticipantId> =
            self.participants.iter().filter(|(_, p)| p.slots.is_some()).map(|(q, _)| *q).collect();
        for q in subscribers {
            self.fill_video_slots(now, q);
        }
    }

    /// Frees the slot that carried `track` (it was unpublished); whether there was one.
    pub(super) fn free_slot(&mut self, subscriber: ParticipantId, track: TrackId) -> bool {
        let Some(p) = self.participants.get_mut(&subscriber) else { return false };
        let Some(slots) = p.slots.as_mut() else { return false };
        let Some(mut slot) = p.down.remove(&track) else { return false };
        self.audio_slot_changes += u64::from(slot.slot == Some(TrackKind::Audio));
        slot.release();
        slots.idle.push(slot);
        self.slot_maps_due.insert(subscriber);
        true
    }

    /// Seats a microphone (or a shared tab's sound) the slot subscribers should hear, before
    /// its packet fans out: the [`crate::AUDIO_SLOTS`] loudest have a slot with everyone but
    /// their publisher. A subscriber lacking it gets an idle audio slot or the one of a track
    /// that has lost its place; the packet goes nowhere for a subscriber with neither.
    ///
    /// The room-wide pass runs only when seating or the places changed since this track's
    /// last pass; otherwise it would find the same, once per packet.
    pub(super) fn seat_audio(&mut self, now: Instant, track: TrackId, publisher: ParticipantId, level: Option<i8>) {
        if !self.slot_audible.admit(track, level, now) {
            return;
        }
        if self.seated.get(&track) == Some(&self.audio_seating()) {
            return;
        }
        let audible = &self.slot_audible;
        let changes = &mut self.audio_slot_changes;
        for (q, p) in self.participants.iter_mut().filter(|(q, _)| **q != publisher) {
            let Some(slots) = p.slots.as_mut() else { continue };
            if p.down.contains_key(&track) {
                continue;
            }
            let slot = slots.take_idle(TrackKind::Audio).or_else(|| {
                let gone = p
                    .down
                    .iter()
                    .find(|(t, d)| d.slot == Some(TrackKind::Audio) && !audible.holds_place(**t))
                    .map(|(t, _)| *t)?;
                p.down.remove(&gone)
            });
            let Some(mut slot) = slot else { continue };
            slot.carry(track, TrackKind::Audio, None);
            forget_payload_type(&mut p.subscriber, &slot);
            p.down.insert(track, slot);
            self.slot_maps_due.insert(*q);
            *changes += 1;
        }
        let seating = self.audio_seating();
        self.seated.insert(track, seating);
    }

    /// The state audio seating depends on, as one number that changes whenever it does: what
    /// audio slots carry (`audio_slot_changes`) and who holds a place.
    fn audio_seating(&self) -> u64 {
        self.audio_slot_changes.wrapping_add(self.slot_audible.changes())
    }

    /// Tells signaling what each slot of the subscribers whose slots changed carries.
    pub(super) fn emit_slot_maps(&mut self) {
        let due: Vec<ParticipantId> = self.slot_maps_due.drain().collect();
        for q in due {
            let Some(p) = self.participants.get(&q) else { continue };
            let Some(slots) = p.slots.as_ref().filter(|s| !s.mids.is_empty()) else { continue };
            let carried: Vec<(_, TrackId)> = p
                .down
                .iter()
                .filter(|(_, d)| d.slot.is_some())
                .filter_map(|(t, d)| Some((d.negotiation.mid()?, *t)))
                .collect();
            let map = slots
                .mids
                .iter()
                .map(|(mid, kind)| {
                    let track = carried.iter().find(|(m, _)| m == mid).map(|(_, t)| *t);
                    (mid.to_string(), *kind, track)
                })
                .collect();
            self.emit(RoomEvent::SlotMap { participant: q, slots: map });
        }
    }
}

/// A slot's payload types were matched for the old track's publisher; the new one's may
/// number the same codec differently.
fn forget_payload_type(subscriber: &mut crate::peer::Peer, slot: &crate::track::DownTrack) {
    if let (Some((link, _)), Some(mid)) = (subscriber.link(), slot.negotiation.mid()) {
        link.forget_payload_type(mid);
    }
}
