//! A publisher's RTP packet as the room takes it, whichever session read it: str0m's, or
//! Convene's own uplink ([`crate::uplink`]).

use std::sync::Arc;
use std::time::Instant;

use str0m::media::{Mid, Pt, Rid};
use str0m::rtp::{RtpPacket, VideoOrientation};

use crate::packet_cache::Carried;
use crate::uplink::session::Received;

/// Where a packet belongs: known to the session that read it, or to be looked up by SSRC in
/// str0m's (with the packet's own mid and rid extensions to fall back on).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layer {
    Known(Mid, Option<Rid>),
    BySsrc(u32, Option<(Mid, Option<Rid>)>),
}

/// One packet of a publisher's layer, ready for [`crate::room`]'s forwarding steps.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) layer: Layer,
    pub(crate) payload_type: Pt,
    /// Extended sequence number.
    pub(crate) seq: u64,
    pub(crate) timestamp: u32,
    pub(crate) marker: bool,
    pub(crate) payload: Arc<[u8]>,
    /// Arrival time.
    pub(crate) at: Instant,
    pub(crate) ext: Carried,
}

impl Published {
    /// A packet str0m's session read.
    pub(crate) fn of_str0m(packet: RtpPacket) -> Published {
        let ext = &packet.header.ext_vals;
        let fallback = ext.mid.map(|m| (m, ext.rid));
        Published {
            layer: Layer::BySsrc(*packet.header.ssrc, fallback),
            payload_type: packet.header.payload_type,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            marker: packet.header.marker,
            at: packet.timestamp,
            ext: Carried::of(ext),
            payload: packet.payload,
        }
    }

    /// A packet the own uplink read, of the layer (`mid`, `rid`) (its payload copied out of
    /// the decrypted datagram).
    pub(crate) fn of_uplink(now: Instant, r: &Received<'_>, (mid, rid): (Mid, Option<Rid>)) -> Published {
        let ext = Carried {
            audio_level: r.ext.audio_level.map(|(_, level)| -(level.min(127) as i8)),
            voice_activity: r.ext.audio_level.map(|(voice, _)| voice),
            video_orientation: r.ext.video_orientation.map(|o| VideoOrientation::from(o & 0x03)),
        };
        Published {
            layer: Layer::Known(mid, rid),
            payload_type: r.payload_type.into(),
            seq: r.extended,
            timestamp: r.timestamp,
            marker: r.marker,
            payload: Arc::from(r.payload),
            at: now,
            ext,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplink::rtp::ExtValues;
    use crate::uplink::streams::Tag;

    #[test]
    fn an_uplink_packet_keeps_its_layer_numbers_and_carried_values() {
        let now = Instant::now();
        let payload = [1u8, 2, 3];
        let r = Received {
            stream: 0,
            mid: Tag::new(b"1").unwrap(),
            rid: Some(Tag::new(b"h").unwrap()),
            payload_type: 96,
            sequence: 7,
            extended: 65_543,
            timestamp: 9000,
            marker: true,
            retransmission: false,
            ext: ExtValues { audio_level: Some((true, 30)), video_orientation: Some(0x09), ..Default::default() },
            payload: &payload,
        };
        let p = Published::of_uplink(now, &r, (Mid::from("1"), Some(Rid::from("h"))));
        assert!(matches!(p.layer, Layer::Known(m, Some(rid)) if &*m == "1" && &*rid == "h"));
        assert_eq!((p.seq, p.timestamp, p.marker, *p.payload_type), (65_543, 9000, true, 96));
        assert_eq!(&p.payload[..], &payload);
        assert_eq!((p.ext.audio_level, p.ext.voice_activity), (Some(-30), Some(true)));
        assert_eq!(p.ext.video_orientation, Some(VideoOrientation::Deg270), "rotation bits only");
    }
}
