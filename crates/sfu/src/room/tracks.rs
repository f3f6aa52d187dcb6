//! Up tracks coming and going: a publisher's new m-line becomes a track everyone else is
//! offered (or a slot may carry), and an unpublished one is taken back from everyone.

use str0m::media::{Direction, MediaKind, Mid, Rid};

use super::Room;
use crate::bitrate::LayerBitrates;
use crate::id::{PeerId, PeerRole};
use crate::io::RoomEvent;
use crate::packet_cache::PacketCache;
use crate::track::{order_rids, DownTrack, LayerFlow, Source, TrackId, TrackKind, UpTrack};
use crate::ParticipantId;

impl Room {
    /// A publisher's offer added an m-line: it becomes an up track every other participant
    /// gets a down track of. Known mids are ignored.
    pub(super) fn publish(
        &mut self,
        publisher: ParticipantId,
        mid: Mid,
        kind: MediaKind,
        direction: Direction,
        rids: Vec<Rid>,
    ) {
        let receiving = matches!(direction, Direction::RecvOnly | Direction::SendRecv);
        if !receiving || self.track_by_mid.contains_key(&(publisher, mid)) {
            return;
        }
        let kind = match kind {
            MediaKind::Audio => TrackKind::Audio,
            MediaKind::Video => TrackKind::Video,
        };
        let Some(p) = self.participants.get(&publisher) else { return };
        let source = p.sources.get(&mid).copied().unwrap_or(Source::default_for(kind));
        let id = TrackId(self.next_track);
        self.next_track += 1;
        let track = UpTrack {
            id,
            publisher,
            mid,
            kind,
            source,
            flow: LayerFlow::new(rids.len().clamp(1, 3) as u8),
            rids: order_rids(&rids),
            wanted: Vec::new(),
            cache: PacketCache::default(),
            params: None,
            held: false,
            heard: false,
            bitrates: LayerBitrates::default(),
        };
        self.emit(RoomEvent::TrackPublished {
            participant: publisher,
            track_id: id,
            mid: mid.to_string(),
            kind,
            source,
            rids: track.rids.iter().map(|r| r.to_string()).collect(),
        });
        self.tracks.insert(id, track);
        self.count_microphones();
        self.track_by_mid.insert((publisher, mid), id);
        let others: Vec<ParticipantId> = self.participants.keys().copied().filter(|q| *q != publisher).collect();
        for q in others {
            let Some(p) = self.participants.get_mut(&q) else { continue };
            if p.slots.is_none() {
                p.down.insert(id, DownTrack::new(id));
                self.negotiate(q);
            } else if kind == TrackKind::Video {
                // A slot subscriber is offered nothing: a camera may take a video slot now, a
                // microphone an audio slot once it is among the loudest.
                self.fill_video_slots(self.last_now, q);
            }
        }
    }

    /// Keeps the audible set's idea of the room's size in step with its microphone tracks.
    pub(super) fn count_microphones(&mut self) {
        let n = self.tracks.values().filter(|t| t.source == Source::Microphone).count();
        self.audible.set_microphones(n);
        self.slot_audible.set_microphones(self.tracks.values().filter(|t| t.kind == TrackKind::Audio).count());
    }

    pub(super) fn unpublish(&mut self, track: TrackId) {
        let Some(up) = self.tracks.remove(&track) else { return };
        self.count_microphones();
        self.track_by_mid.remove(&(up.publisher, up.mid));
        self.audible.remove(track);
        self.slot_audible.remove(track);
        self.seated.remove(&track);
        self.throttle.retain(|(t, _)| *t != track);
        self.tap.forget(track);
        self.emit(RoomEvent::TrackUnpublished { participant: up.publisher, track_id: track });
        let subscribers: Vec<ParticipantId> = self.participants.keys().copied().collect();
        for q in subscribers {
            let Some(p) = self.participants.get_mut(&q) else { continue };
            if p.slots.is_some() {
                if self.free_slot(q, track) && up.kind == TrackKind::Video {
                    self.fill_video_slots(self.last_now, q);
                }
                continue;
            }
            if let Some(mid) = p.down.remove(&track).and_then(|d| d.negotiation.mid()) {
                p.to_stop.push(mid);
            }
            self.negotiate(q);
        }
    }

    pub(super) fn peer_died(&mut self, id: PeerId) {
        self.emit(RoomEvent::PeerDisconnected { peer: id });
        self.demux.forget(id);
        if id.role == PeerRole::Publisher {
            let mut gone: Vec<TrackId> =
                self.tracks.values().filter(|t| t.publisher == id.participant).map(|t| t.id).collect();
            gone.sort_unstable();
            for track in gone {
                self.unpublish(track);
            }
        }
    }
}
