//! The media side of the meeting WebSocket, typed with `convene_protocol`: what a test client
//! or the bench sends ([`ClientMessage`]) and reads ([`ServerMessage`]), and the SDP steps a
//! participant takes for `publish_answer` and `subscribe_offer`.

use convene_protocol::{ClientMessage, PublishedTrack, ServerMessage};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::Rtc;

/// A server frame, typed; the parse error names what did not fit.
pub fn parse(text: &str) -> Result<ServerMessage, String> {
    serde_json::from_str(text).map_err(|e| format!("not a server message ({e}): {text}"))
}

/// A client message as the text frame that carries it.
pub fn encode(message: &ClientMessage) -> String {
    serde_json::to_string(message).expect("client messages always serialize")
}

/// `publish_offer` for a publisher's offer and its tracks; `restart` starts media over.
pub fn publish_offer(sdp: String, tracks: Vec<PublishedTrack>, restart: bool) -> ClientMessage {
    ClientMessage::PublishOffer { sdp, tracks, restart }
}

/// `set_video_size` for a remote video track shown at `width` × `height` (0 × 0: hidden).
pub fn set_video_size(track_id: &str, (width, height): (u32, u32)) -> ClientMessage {
    ClientMessage::SetVideoSize { track_id: track_id.to_owned(), width, height }
}

/// Applies the SFU's `publish_answer` to the offer it answers.
pub fn accept_publish_answer(rtc: &mut Rtc, pending: SdpPendingOffer, sdp: &str) -> Result<(), String> {
    let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| format!("publish answer: {e}"))?;
    rtc.sdp_api().accept_answer(pending, answer).map_err(|e| format!("accept publish answer: {e}"))
}

/// Answers a `subscribe_offer` on the subscriber connection: the `subscribe_answer` to send,
/// naming the offer.
pub fn answer_subscribe_offer(rtc: &mut Rtc, sdp: &str, offer_id: u64) -> Result<ClientMessage, String> {
    let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| format!("subscribe offer: {e}"))?;
    let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| format!("accept subscribe offer: {e}"))?;
    Ok(ClientMessage::SubscribeAnswer { sdp: answer.to_sdp_string(), offer_id: Some(offer_id) })
}

/// The host candidates of an SDP for `proto` (`"udp"` or `"tcp"`), as addresses.
pub fn candidates(sdp: &str, proto: &str) -> Vec<std::net::SocketAddr> {
    sdp.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().strip_prefix("a=candidate:")?.split_whitespace().collect();
            if f.get(2)?.eq_ignore_ascii_case(proto) {
                format!("{}:{}", f.get(4)?, f.get(5)?).parse().ok()
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use convene_protocol::TrackSource;

    #[test]
    fn messages_have_the_protocol_shape() {
        let tracks = vec![PublishedTrack { mid: "0".into(), source: TrackSource::Camera, muted: false }];
        let text = encode(&publish_offer("v=0".into(), tracks, false));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "publish_offer");
        assert_eq!(v["tracks"][0]["source"], "camera");
        let size: serde_json::Value = serde_json::from_str(&encode(&set_video_size("t1", (320, 180)))).unwrap();
        assert_eq!(size["type"], "set_video_size");
        assert!(matches!(parse(r#"{"type":"publish_answer","sdp":"x"}"#), Ok(ServerMessage::PublishAnswer { .. })));
        assert!(parse(r#"{"type":"nonsense"}"#).is_err());
    }

    #[test]
    fn candidates_are_read_by_transport() {
        let sdp = "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
                   a=candidate:2 1 tcp 1010827519 127.0.0.1 5000 typ host tcptype passive\r\n";
        assert_eq!(candidates(sdp, "udp"), ["127.0.0.1:5000".parse().unwrap()]);
        assert_eq!(candidates(sdp, "tcp").len(), 1);
    }
}
