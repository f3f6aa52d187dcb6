//! What str0m's SDP negotiation settled for a publisher connection, as the uplink session
//! needs it: the extension ids and, per m-line, the codecs and which RTX payload type
//! repairs which. The SDP stays with str0m; the packets need not.

use str0m::media::Mid;
use str0m::Rtc;

use super::rtp::ExtIds;
use super::streams::{MediaLine, Tag};

/// The header extension ids the publisher's m-lines `mids` use, together (BUNDLE: an id
/// means the same on every m-line, but each lists only its own — a browser's audio line has
/// no rid, its video line no audio level).
pub fn extension_ids(rtc: &Rtc, mids: &[Mid]) -> ExtIds {
    let mut ids = ExtIds::none();
    for media in mids.iter().filter_map(|&mid| rtc.media(mid)) {
        ids.add_negotiated(media.remote_extmap());
    }
    ids
}

/// The m-line `mid` as the uplink reads its packets; None if str0m has no such m-line.
pub fn media_line(rtc: &Rtc, mid: Mid) -> Option<(Tag, MediaLine)> {
    let media = rtc.media(mid)?;
    let params = rtc.codec_config().params();
    let mut line = MediaLine::default();
    for &pt in media.remote_pts() {
        let Some(p) = params.iter().find(|p| p.pt() == pt) else { continue };
        line.codecs.push((*pt, p.spec().clock_rate.get()));
        if let Some(rtx) = p.resend() {
            line.rtx.push((*rtx, *pt));
        }
    }
    Some((Tag::new(mid.as_bytes())?, line))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use str0m::media::{Direction, MediaKind, Simulcast, SimulcastLayer};
    use str0m::rtp::Extension;

    use super::*;
    use crate::uplink::rtp::ExtKind;

    /// A browser-like client offers a simulcast camera and a microphone; the server (as the
    /// room's publisher peer) accepts.
    fn negotiated() -> (Rtc, Mid, Mid) {
        let now = Instant::now();
        let mut client = Rtc::builder().build(now);
        let mut change = client.sdp_api();
        let mic = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let layers = ["q", "h", "f"].map(SimulcastLayer::new);
        let simulcast = Simulcast { send: layers.to_vec(), recv: vec![] };
        let cam = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast));
        let (offer, _pending) = change.apply().unwrap();
        let mut server = Rtc::builder().set_rtp_mode(true).build(now);
        server.sdp_api().accept_offer(offer).unwrap();
        (server, mic, cam)
    }

    #[test]
    fn codecs_and_their_repair_payload_types_come_from_the_answer() {
        let (server, mic, cam) = negotiated();
        let (tag, video) = media_line(&server, cam).unwrap();
        assert_eq!(tag.as_bytes(), cam.as_bytes());
        assert!(!video.codecs.is_empty() && video.codecs.iter().all(|&(_, rate)| rate == 90_000));
        for (rtx, pt) in &video.rtx {
            assert!(video.codecs.iter().any(|(c, _)| c == pt), "RTX {rtx} repairs a negotiated codec");
            assert!(!video.codecs.iter().any(|(c, _)| c == rtx), "and is not one itself");
        }
        assert!(!video.rtx.is_empty(), "video negotiates retransmission");
        let (_, audio) = media_line(&server, mic).unwrap();
        assert!(audio.codecs.contains(&(111, 48_000)), "Opus: {:?}", audio.codecs);
        assert!(audio.rtx.is_empty());
    }

    #[test]
    fn the_extension_ids_are_the_negotiated_ones() {
        let (server, mic, cam) = negotiated();
        let ids = extension_ids(&server, &[mic, cam]);
        let map = server.media(cam).unwrap().remote_extmap();
        let mid_id = map.id_of(Extension::RtpMid).expect("mid negotiated");
        let rid_id = map.id_of(Extension::RtpStreamId).expect("rid negotiated");
        assert_eq!(ids.kind_of(mid_id), Some(ExtKind::Mid));
        assert_eq!(ids.kind_of(rid_id), Some(ExtKind::Rid));
        let audio = server.media(mic).unwrap().remote_extmap();
        let level_id = audio.id_of(Extension::AudioLevel).expect("audio level negotiated");
        assert_eq!(ids.kind_of(level_id), Some(ExtKind::AudioLevel), "the audio line's own ids count too");
        assert!(media_line(&server, Mid::from("nope")).is_none());
        assert_eq!(format!("{:?}", extension_ids(&server, &[])), "{}", "no m-line, no ids");
    }
}
