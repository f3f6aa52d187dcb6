//! Up tracks (what a publisher sends) and down tracks (what one subscriber receives of it).

use std::fmt;
use std::time::{Duration, Instant};

use str0m::format::PayloadParams;
use str0m::media::{Mid, Pt, Rid};

use crate::bitrate::LayerBitrates;
use crate::forwarder::Forwarder;
use crate::packet_cache::PacketCache;
use crate::ParticipantId;

/// A room-wide track id, assigned when the publisher's offer is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u64);

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TR{}", self.0)
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// Sound.
    Audio,
    /// Pictures.
    Video,
}

/// What a track shows, as the publisher's signaling declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The microphone (default for audio).
    Microphone,
    /// The camera (default for video).
    Camera,
    /// A shared screen or window.
    ScreenShare,
    /// The sound of a shared tab.
    ScreenShareAudio,
}

impl Source {
    /// The source assumed when signaling said nothing.
    pub(crate) fn default_for(kind: TrackKind) -> Source {
        match kind {
            TrackKind::Audio => Source::Microphone,
            TrackKind::Video => Source::Camera,
        }
    }
}

/// A track a publisher sends to the room.
#[derive(Debug)]
pub(crate) struct UpTrack {
    pub(crate) id: TrackId,
    pub(crate) publisher: ParticipantId,
    pub(crate) mid: Mid,
    pub(crate) kind: TrackKind,
    pub(crate) source: Source,
    /// Simulcast rids, lowest quality first; empty without simulcast.
    pub(crate) rids: Vec<Rid>,
    /// Which layers flow (paused by the publisher, or never started).
    pub(crate) flow: LayerFlow,
    /// The rids some subscriber receives, as last reported to signaling.
    pub(crate) wanted: Vec<Rid>,
    /// Recent packets per layer, for switches that find part of a keyframe already gone by
    /// and for newcomers' first picture.
    pub(crate) cache: PacketCache,
    /// The payload type and codec of the last video packet, to send cached ones with.
    pub(crate) params: Option<PayloadParams>,
    /// Audio held back (muted by a host, or not among the loudest in a crowded room) since the
    /// last packet forwarded: the next one resumes the stream after a gap.
    pub(crate) held: bool,
    /// A microphone that has been forwarded at least once. In a crowded room a microphone
    /// nobody has heard yet is not offered to subscribers: a connection with an m-line per
    /// open microphone of a 100-person meeting costs str0m work per m-line on every packet.
    pub(crate) heard: bool,
    /// What each layer brings in, so subscribers are never asked to expect less.
    pub(crate) bitrates: LayerBitrates,
}

impl UpTrack {
    /// Number of layers (1 without simulcast).
    pub(crate) fn layers(&self) -> u8 {
        self.rids.len().clamp(1, 3) as u8
    }

    /// The layer index of a packet's rid; `None` for a rid the offer did not declare.
    pub(crate) fn layer_of(&self, rid: Option<Rid>) -> Option<u8> {
        match rid {
            None if self.rids.is_empty() => Some(0),
            None => None,
            Some(rid) => self.rids.iter().position(|r| *r == rid).map(|i| i.min(2) as u8),
        }
    }

    /// The rid of a layer index.
    pub(crate) fn rid_of(&self, layer: u8) -> Option<Rid> {
        self.rids.get(usize::from(layer)).copied()
    }
}

/// How long after a track's first packet a layer that has sent nothing counts as stopped.
/// A browser starts its layers together when its own estimate allows; one it holds back (a
/// small camera has no room for three sizes, a narrow uplink) would otherwise keep a large
/// tile waiting for a layer that never comes: str0m reports streams that stop, not streams
/// that never start.
pub(crate) const UNSEEN_LAYER_GRACE: Duration = Duration::from_millis(1000);

/// Which simulcast layers of an up track flow: not paused by the publisher (str0m's
/// `StreamPaused`) and, once [`UNSEEN_LAYER_GRACE`] has passed, seen at least once.
#[derive(Debug, Default)]
pub(crate) struct LayerFlow {
    layers: u8,
    paused: [bool; 3],
    seen: [bool; 3],
    grace: Grace,
}

#[derive(Debug, Default, Clone, Copy)]
enum Grace {
    /// No packet yet.
    #[default]
    NotStarted,
    /// Layers unseen by then count as stopped.
    Until(Instant),
    Over,
}

impl LayerFlow {
    pub(crate) fn new(layers: u8) -> LayerFlow {
        LayerFlow { layers: layers.clamp(1, 3), ..LayerFlow::default() }
    }

    /// The layers that do not flow, by index, for the layer selector.
    pub(crate) fn paused(&self) -> [bool; 3] {
        self.paused
    }

    /// The publisher paused or resumed a layer (str0m's report).
    pub(crate) fn set_paused(&mut self, layer: u8, paused: bool) {
        self.paused[usize::from(layer.min(2))] = paused;
    }

    /// A packet of `layer` arrived at `now`; `true` when what flows changed (a layer counted
    /// as never started sent its first packet, or the grace ran out on one that never did),
    /// so subscribers' layers are chosen again. Per packet: two reads.
    pub(crate) fn arrived(&mut self, now: Instant, layer: u8) -> bool {
        let l = usize::from(layer.min(2));
        let mut changed = false;
        if !self.seen[l] {
            self.seen[l] = true;
            changed = std::mem::replace(&mut self.paused[l], false);
        }
        match self.grace {
            Grace::NotStarted => self.grace = Grace::Until(now + UNSEEN_LAYER_GRACE),
            Grace::Until(end) if now >= end => {
                self.grace = Grace::Over;
                for l in 0..usize::from(self.layers) {
                    if !self.seen[l] && !self.paused[l] {
                        self.paused[l] = true;
                        changed = true;
                    }
                }
            }
            Grace::Until(_) | Grace::Over => {}
        }
        changed
    }
}

/// Orders simulcast rids from lowest to highest quality.
///
/// Browsers name them `q`/`h`/`f` (quarter, half, full) or `l`/`m`/`h` (low, mid, high);
/// other names keep the order of the offer, which lists the lowest first by convention.
pub(crate) fn order_rids(rids: &[Rid]) -> Vec<Rid> {
    let names: Vec<&str> = rids.iter().map(|r| &**r).collect();
    let quarter_half_full = names.iter().any(|n| *n == "q" || *n == "f");
    let low_mid_high = names.iter().any(|n| *n == "l" || *n == "m");
    let rank = |name: &str| -> Option<u8> {
        if quarter_half_full {
            ["q", "h", "f"].iter().position(|n| *n == name).map(|i| i as u8)
        } else if low_mid_high {
            ["l", "m", "h"].iter().position(|n| *n == name).map(|i| i as u8)
        } else {
            None
        }
    };
    let mut ordered: Vec<(usize, Rid)> =
        rids.iter().enumerate().map(|(i, r)| (rank(r).map_or(i, usize::from), *r)).collect();
    ordered.sort_by_key(|(rank, _)| *rank);
    ordered.into_iter().map(|(_, r)| r).collect()
}

/// How far the subscriber's m-line for a down track has been negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Negotiation {
    /// Not offered yet.
    ToOpen,
    /// Offered, the answer has not arrived.
    Offered(Mid),
    /// Answered: media flows.
    Open(Mid),
}

impl Negotiation {
    pub(crate) fn mid(self) -> Option<Mid> {
        match self {
            Negotiation::ToOpen => None,
            Negotiation::Offered(m) | Negotiation::Open(m) => Some(m),
        }
    }
}

/// One subscriber's copy of an up track.
#[derive(Debug)]
pub(crate) struct DownTrack {
    pub(crate) track: TrackId,
    pub(crate) negotiation: Negotiation,
    pub(crate) forwarder: Forwarder,
    pub(crate) preferred_size: Option<(u32, u32)>,
    /// The publisher's payload type last forwarded and the subscriber's for it.
    pub(crate) pt: Option<(Pt, Pt)>,
    /// The subscriber's stream is sent unpaced until str0m's queue for it is empty again
    /// (see [`crate::pacing`]).
    pub(crate) flushing: bool,
    /// A slot of a slot subscriber ([`crate::Subscription::Slots`]), and of which kind: it
    /// carries one track after another over the same m-line.
    pub(crate) slot: Option<TrackKind>,
}

impl DownTrack {
    pub(crate) fn new(track: TrackId) -> DownTrack {
        DownTrack {
            track,
            negotiation: Negotiation::ToOpen,
            forwarder: Forwarder::default(),
            preferred_size: None,
            pt: None,
            flushing: false,
            slot: None,
        }
    }

    /// An idle slot of `kind` (the track id is a placeholder until it carries one).
    pub(crate) fn slot(kind: TrackKind) -> DownTrack {
        DownTrack { slot: Some(kind), ..DownTrack::new(TrackId(0)) }
    }

    /// Moves a slot onto `track`: the numbering goes on from the last packet sent, audio at
    /// once and video from the new source's next keyframe; its tile's size is `size`.
    pub(crate) fn carry(&mut self, track: TrackId, kind: TrackKind, size: Option<(u32, u32)>) {
        self.track = track;
        self.pt = None;
        self.flushing = false;
        self.preferred_size = size;
        self.forwarder.switch_track(kind == TrackKind::Audio);
    }

    /// Leaves a slot idle: nothing is forwarded on it until it carries a track again.
    pub(crate) fn release(&mut self) {
        self.forwarder.set_target(None);
        self.preferred_size = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rids(names: &[&str]) -> Vec<Rid> {
        names.iter().map(|n| (*n).into()).collect()
    }

    #[test]
    fn a_layer_never_sent_stops_counting_once_the_grace_is_over() {
        let start = Instant::now();
        let mut flow = LayerFlow::new(3);
        assert!(!flow.arrived(start, 0), "the first packet changes nothing");
        assert!(!flow.arrived(start + Duration::from_millis(10), 1));
        assert_eq!(flow.paused(), [false; 3], "within the grace every layer may still start");
        assert!(flow.arrived(start + UNSEEN_LAYER_GRACE, 0), "the grace is over");
        assert_eq!(flow.paused(), [false, false, true]);
        assert!(!flow.arrived(start + UNSEEN_LAYER_GRACE * 2, 1));
        assert!(flow.arrived(start + UNSEEN_LAYER_GRACE * 3, 2), "the top layer started late");
        assert_eq!(flow.paused(), [false; 3]);
    }

    #[test]
    fn a_layer_the_publisher_paused_resumes_by_its_report_not_by_a_packet() {
        let start = Instant::now();
        let mut flow = LayerFlow::new(2);
        flow.arrived(start, 0);
        flow.arrived(start, 1);
        flow.set_paused(1, true);
        assert!(!flow.arrived(start + UNSEEN_LAYER_GRACE, 0));
        assert!(!flow.arrived(start + UNSEEN_LAYER_GRACE, 1), "str0m reports the resume");
        assert_eq!(flow.paused(), [false, true, false]);
        flow.set_paused(1, false);
        assert_eq!(flow.paused(), [false; 3]);
    }

    #[test]
    fn rids_are_ordered_low_to_high() {
        assert_eq!(order_rids(&rids(&["f", "h", "q"])), rids(&["q", "h", "f"]));
        assert_eq!(order_rids(&rids(&["h", "m", "l"])), rids(&["l", "m", "h"]));
        assert_eq!(order_rids(&rids(&["a", "b", "c"])), rids(&["a", "b", "c"]));
    }
}
