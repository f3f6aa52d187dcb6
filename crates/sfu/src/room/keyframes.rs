//! Keyframe requests to publishers: a subscriber's picture loss, a layer switch, a newcomer
//! or the recording tap asks; the throttle decides what reaches the publisher.

use std::time::Instant;

use str0m::media::{KeyframeRequest, Rid};

use super::Room;
use crate::io::RoomEvent;
use crate::track::{Negotiation, TrackId, TrackKind};
use crate::ParticipantId;

impl Room {
    /// A subscriber lost a picture: ask the publisher of that track, throttled.
    pub(super) fn relay_keyframe_request(&mut self, now: Instant, subscriber: ParticipantId, req: KeyframeRequest) {
        let Some(p) = self.participants.get(&subscriber) else { return };
        let Some(down) = p.down.values().find(|d| d.negotiation == Negotiation::Open(req.mid)) else { return };
        let layer = down.forwarder.current().or(down.forwarder.target()).unwrap_or(0);
        let starting = down.forwarder.current().is_none();
        self.request_keyframe(now, down.track, layer, starting);
    }

    /// Asks a publisher for a keyframe of one layer, throttled; `starting` when a subscriber
    /// has no picture of the track yet (a newcomer is served sooner, see [`START_INTERVAL`]).
    pub(super) fn request_keyframe(&mut self, now: Instant, track: TrackId, layer: u8, starting: bool) {
        let Some(up) = self.tracks.get(&track) else { return };
        if up.kind != TrackKind::Video {
            return;
        }
        let rid = up.rid_of(layer);
        let send = if starting {
            self.throttle.request_start((track, rid), now)
        } else {
            self.throttle.request((track, rid), now)
        };
        if send {
            self.send_keyframe_request(track, rid);
        }
    }

    pub(super) fn send_keyframe_request(&mut self, track: TrackId, rid: Option<Rid>) {
        let Some(up) = self.tracks.get(&track) else { return };
        let (publisher, mid) = (up.publisher, up.mid);
        let Some(p) = self.participants.get_mut(&publisher) else { return };
        if p.publisher.request_keyframe(self.last_now, mid, rid) {
            let peer = p.publisher.id;
            self.mark_dirty(peer);
            self.emit(RoomEvent::KeyframeRequested {
                participant: publisher,
                track_id: track,
                rid: rid.map(|r| r.to_string()),
            });
        }
    }
}
