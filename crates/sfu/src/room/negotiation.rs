//! Negotiation: the publisher's offers the room answers, and the offers the room makes each
//! subscriber for the tracks it lacks (one send-only m-line per remote track).

use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid, Rids};

use super::Room;
use crate::error::SfuError;
use crate::io::RoomEvent;
use crate::track::{Negotiation, Source, TrackKind, UpTrack};
use crate::ParticipantId;

impl Room {
    ///
    /// Call when the client sends an offer (the first one and every renegotiation). New
    /// tracks appear as [`RoomEvent::TrackPublished`].
    pub fn publish_offer(&mut self, now: Instant, participant: ParticipantId, sdp: &str) -> Result<String, SfuError> {
        self.last_now = now;
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| SfuError::MalformedSdp(e.to_string()))?;
        let p = self.participants.get_mut(&participant).ok_or(SfuError::UnknownParticipant(participant))?;
        let mids: Vec<Mid> = sdp.lines().filter_map(|l| l.trim().strip_prefix("a=mid:")).map(Mid::from).collect();
        let (answer, media) = p
            .publisher
            .with_rtc(|rtc| {
                let answer = rtc.sdp_api().accept_offer(offer)?;
                let media: Vec<_> = mids
                    .iter()
                    .filter_map(|mid| rtc.media(*mid))
                    .map(|m| {
                        let rids = match m.rids_rx() {
                            Rids::Specific(rids) => rids.clone(),
                            _ => Vec::new(),
                        };
                        (m.mid(), m.kind(), m.direction(), rids)
                    })
                    .collect();
                Ok((answer, media))
            })?
            .map_err(SfuError::Negotiation)?;
        let answer = answer.to_sdp_string();
        p.publisher.offer_accepted(now, sdp, &answer, &mids);
        let publisher = p.publisher.id;
        self.mark_dirty(publisher);
        // str0m only reports new m-lines once media can flow; announce them now so the
        // others are offered the tracks while this publisher's ICE is still completing.
        // An m-line that stopped sending is unpublished here too: str0m's `MediaChanged`
        // never comes when the own uplink carries the packets (its `Rtc` never connects).
        for (mid, kind, direction, rids) in media {
            let receiving = matches!(direction, Direction::RecvOnly | Direction::SendRecv);
            match self.track_by_mid.get(&(participant, mid)) {
                Some(&track) if !receiving => self.unpublish(track),
                _ => self.publish(participant, mid, kind, direction, rids),
            }
        }
        self.process(now);
        Ok(answer)
    }

    /// Accepts the answer to the outstanding [`RoomEvent::SubscribeOffer`] for this
    /// participant. `offer_id` is the id that offer carried (`None`: whichever is
    /// outstanding, for clients that do not echo ids).
    ///
    /// Call when the client answers; forwarding on the new m-lines starts now. An answer
    /// naming another offer is refused and leaves the outstanding offer waiting; an answer
    /// str0m refuses voids the offer, and a fresh one follows at once (else the subscriber
    /// would wait forever for tracks it was never given).
    pub fn subscribe_answer(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        sdp: &str,
        offer_id: Option<u64>,
    ) -> Result<(), SfuError> {
        self.last_now = now;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| SfuError::MalformedSdp(e.to_string()))?;
        let p = self.participants.get_mut(&participant).ok_or(SfuError::UnknownParticipant(participant))?;
        match (&p.pending_offer, offer_id) {
            (None, _) => return Err(SfuError::NoPendingOffer(participant)),
            (Some((outstanding, _)), Some(answered)) if *outstanding != answered => {
                return Err(SfuError::StaleAnswer { answered })
            }
            _ => {}
        }
        let (_, pending) = p.pending_offer.take().ok_or(SfuError::NoPendingOffer(participant))?;
        let accepted = p.subscriber.with_rtc(|rtc| rtc.sdp_api().accept_answer(pending, answer));
        let refused = match accepted {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(SfuError::Negotiation(e)),
            Err(e) => Some(e),
        };
        if let Some(e) = refused {
            // The offer is void: offer its m-lines again, now.
            let idle = p.slots.iter_mut().flat_map(|s| s.idle.iter_mut());
            for down in p.down.values_mut().chain(idle) {
                if let Negotiation::Offered(_) = down.negotiation {
                    down.negotiation = Negotiation::ToOpen;
                }
            }
            if let Some(slots) = &mut p.slots {
                slots.mids.clear();
            }
            self.negotiate(participant);
            self.process(now);
            return Err(e);
        }
        let mut opened = Vec::new();
        let idle = p.slots.iter_mut().flat_map(|s| s.idle.iter_mut());
        for down in p.down.values_mut().chain(idle) {
            if let Negotiation::Offered(mid) = down.negotiation {
                down.negotiation = Negotiation::Open(mid);
                let (kind, source) = match (down.slot, self.tracks.get(&down.track)) {
                    // A video slot may carry a screen share: it keeps a screen's history.
                    (Some(kind), _) => (kind, Source::ScreenShare),
                    (None, Some(t)) => (t.kind, t.source),
                    (None, None) => continue,
                };
                let history = retransmission_history(kind, source);
                opened.push((mid, kind == TrackKind::Audio, history));
                if p.subscriber.link().is_some() {
                    continue;
                }
                if let Some((packets, age)) = history {
                    let _ = p.subscriber.with_rtc(|rtc| {
                        if let Some(stream) = rtc.direct_api().stream_tx_by_mid(mid, None) {
                            stream.set_rtx_cache(packets, age, Some(RTX_RATIO_CAP));
                        }
                    });
                }
            }
        }
        if let Some((link, rtc)) = p.subscriber.link() {
            link.answered(now, rtc, sdp, &opened);
        }
        let subscriber = p.subscriber.id;
        if p.slots.is_some() {
            self.slot_maps_due.insert(participant);
        }
        self.mark_dirty(subscriber);
        self.reselect_layers(now, participant);
        self.negotiate(participant);
        self.process(now);
        Ok(())
    }

    /// Offers the subscriber the m-lines it lacks, unless an offer is outstanding.
    pub(super) fn negotiate(&mut self, participant: ParticipantId) {
        let Some(p) = self.participants.get_mut(&participant) else { return };
        if p.pending_offer.is_some() || !p.subscriber.is_alive() {
            return;
        }
        let crowded = self.audible.is_crowded();
        // In a crowded room, a microphone is offered once it has been heard (see UpTrack::heard).
        let dormant = |up: &UpTrack| crowded && up.source == Source::Microphone && !up.heard;
        let tracks = &self.tracks;
        let down = &mut p.down;
        let to_stop = std::mem::take(&mut p.to_stop);
        let bundle_tag = &mut p.bundle_tag;
        let slots = &mut p.slots;
        let applied = p.subscriber.with_rtc(|rtc| {
            let mut change = rtc.sdp_api();
            let idle = slots.iter_mut().flat_map(|s| s.idle.iter_mut());
            let mut slot_mids = Vec::new();
            for d in down.values_mut().chain(idle).filter(|d| d.negotiation == Negotiation::ToOpen) {
                // A slot's stream and track ids name the slot: what it carries changes.
                let (kind, stream, track) = match (d.slot, tracks.get(&d.track)) {
                    (Some(kind), _) => (kind, "slots".to_string(), format!("slot{}", slot_mids.len())),
                    (None, Some(up)) if !dormant(up) => (up.kind, up.publisher.to_string(), up.id.to_string()),
                    (None, _) => continue,
                };
                let media = match kind {
                    TrackKind::Audio => MediaKind::Audio,
                    TrackKind::Video => MediaKind::Video,
                };
                let mid = change.add_media(media, Direction::SendOnly, Some(stream), Some(track), None);
                bundle_tag.get_or_insert(mid);
                d.negotiation = Negotiation::Offered(mid);
                if d.slot.is_some() {
                    slot_mids.push((mid, kind));
                }
            }
            if let Some(slots) = slots.as_mut() {
                slots.mids.extend(slot_mids);
            }
            for mid in &to_stop {
                if *bundle_tag == Some(*mid) {
                    change.set_direction(*mid, Direction::Inactive);
                } else {
                    change.stop_media(*mid);
                }
            }
            change.apply()
        });
        let Ok(Some((offer, pending))) = applied else { return };
        let offer_id = self.next_offer;
        self.next_offer += 1;
        p.pending_offer = Some((offer_id, pending));
        let tracks = p
            .down
            .values()
            .filter(|d| d.slot.is_none())
            .filter_map(|d| d.negotiation.mid().map(|m| (m.to_string(), d.track)))
            .collect();
        if p.slots.is_some() {
            self.slot_maps_due.insert(participant);
        }
        let subscriber = p.subscriber.id;
        self.emit(RoomEvent::SubscribeOffer { participant, sdp: offer.to_sdp_string(), tracks, offer_id });
        self.mark_dirty(subscriber);
    }
}

/// Writes one munged packet on a subscriber's m-line, mapping the payload type.
/// Resends are given up while they exceed this share of a stream's bytes in the last second
/// (a cap, so that a collapsing link is not flooded with repairs). str0m's default is 0.15,
/// which a link losing a few percent each way already reaches: a lost resend is NACKed and
/// resent again, and a keyframe's packets are the large ones — the SFU test of a 4 % lossy
/// link hit 0.16–0.19 and dropped the queued resends of a packet its five NACKs asked for,
/// leaving a hole only a keyframe repairs. libwebrtc lets resends use up to the whole
/// estimate; 0.3 repairs through roughly 15 % loss each way and still stops a flood.
const RTX_RATIO_CAP: f32 = 0.3;

/// How much of an outgoing video stream is kept to answer NACKs: packets (a cap for bursts)
/// and age. A NACK comes about one round trip after a loss and a resend is useless once the
/// receiver's jitter buffer gave up on the frame, so half a second is enough for a camera: the
/// first request and a retry at round trips up to ~200 ms (Janus keeps 200 ms unless the round
/// trip is longer). str0m's default of three seconds and a thousand packets tripled each
/// subscriber's memory; one second cost ~200 KB per participant more than this in scenario 1
/// (bench/RESULTS.md, ninth pass). Beyond it the viewer's keyframe request repairs the picture.
/// A shared screen keeps more: its keyframes are hundreds of packets in one burst, and a lost
/// packet near a burst's start must still be there when its NACK comes.
fn retransmission_history(kind: TrackKind, source: Source) -> Option<(usize, Duration)> {
    match (kind, source) {
        (TrackKind::Audio, _) => None,
        (TrackKind::Video, Source::ScreenShare) => Some((1024, Duration::from_millis(1500))),
        (TrackKind::Video, _) => Some((256, Duration::from_millis(500))),
    }
}
