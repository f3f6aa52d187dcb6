//! Which incoming SSRC is which stream: learned from the mid and rid extensions of the
//! first packets (RFC 8843, RFC 8852) or from SSRCs the SDP declared, with each
//! retransmission SSRC tied to the stream it repairs.

use std::time::Instant;

use super::register::ReceiveRegister;
use super::rtp::RtpIn;
use crate::maps::Map;

/// Longest mid or rid kept (RFC 8852 allows 255 bytes; browsers use one or two).
pub const MAX_ID_LEN: usize = 16;

/// A mid or rid, kept inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    len: u8,
    bytes: [u8; MAX_ID_LEN],
}

impl Tag {
    /// The tag for `value`; None if empty or longer than [`MAX_ID_LEN`].
    pub fn new(value: &[u8]) -> Option<Tag> {
        let mut tag = Tag { len: 0, bytes: [0; MAX_ID_LEN] };
        if value.is_empty() {
            return None;
        }
        tag.bytes.get_mut(..value.len())?.copy_from_slice(value);
        tag.len = value.len() as u8;
        Some(tag)
    }

    /// The bytes as sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// What the SDP negotiated for one m-line: its media payload types (with clock rates) and
/// which RTX payload type repairs which.
#[derive(Debug, Clone, Default)]
pub struct MediaLine {
    /// (payload type, clock rate) of each codec.
    pub codecs: Vec<(u8, u32)>,
    /// (RTX payload type, the payload type it repairs).
    pub rtx: Vec<(u8, u8)>,
}

/// An incoming stream: one m-line, one simulcast layer.
#[derive(Debug)]
pub struct Stream {
    /// The m-line.
    pub mid: Tag,
    /// The simulcast layer, if the m-line is simulcast.
    pub rid: Option<Tag>,
    /// The media SSRC.
    pub ssrc: u32,
    /// The retransmission SSRC, once known.
    pub rtx_ssrc: Option<u32>,
    /// What arrived.
    pub register: ReceiveRegister,
    /// When the last packet arrived.
    pub last_packet: Instant,
    /// Silent long enough to count as stopped by its sender (see `session.rs`).
    pub paused: bool,
}

/// How a packet's SSRC relates to the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The media of stream `index`.
    Media(usize),
    /// A retransmission for stream `index`.
    Repair(usize),
}

/// The streams of one publisher connection.
#[derive(Debug, Default)]
pub struct Streams {
    lines: Map<Tag, MediaLine>,
    streams: Vec<Stream>,
    by_ssrc: Map<u32, Route>,
    /// Retransmission SSRCs seen before their stream: (mid, rid) they repair.
    waiting_repair: Map<u32, (Tag, Option<Tag>)>,
}

impl Streams {
    /// No streams yet.
    pub fn new() -> Streams {
        Streams::default()
    }

    /// What the SDP negotiated for `mid`.
    pub fn set_line(&mut self, mid: Tag, line: MediaLine) {
        self.lines.insert(mid, line);
    }

    /// An SSRC the SDP declared for `mid` (with its FID-grouped retransmission SSRC), for
    /// senders that do not put the mid in every packet's header.
    pub fn declare(&mut self, now: Instant, mid: Tag, ssrc: u32, rtx_ssrc: Option<u32>) {
        let index = self.stream_for(now, mid, None, ssrc);
        if let Some(rtx) = rtx_ssrc {
            self.streams[index].rtx_ssrc = Some(rtx);
            self.by_ssrc.insert(rtx, Route::Repair(index));
        }
    }

    /// The stream `index`.
    pub fn get(&self, index: usize) -> Option<&Stream> {
        self.streams.get(index)
    }

    /// The stream `index`, to update.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Stream> {
        self.streams.get_mut(index)
    }

    /// Every stream, by index.
    pub fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.streams.iter()
    }

    /// Every stream, by index, to update.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.streams.iter_mut()
    }

    /// The stream of (`mid`, `rid`), if it has been seen.
    pub fn find(&self, mid: &[u8], rid: Option<&[u8]>) -> Option<&Stream> {
        self.streams.iter().find(|s| s.mid.as_bytes() == mid && s.rid.as_ref().map(Tag::as_bytes) == rid)
    }

    /// The media line of `mid`.
    pub fn line(&self, mid: &Tag) -> Option<&MediaLine> {
        self.lines.get(mid)
    }

    /// Where `packet` belongs; a new SSRC is learned from its mid and rid (or repaired rid)
    /// extensions. None if nothing says (no known SSRC, no mid), or the mid was never
    /// negotiated.
    pub fn route(&mut self, now: Instant, packet: &RtpIn<'_>) -> Option<Route> {
        if let Some(&route) = self.by_ssrc.get(&packet.ssrc) {
            return Some(route);
        }
        let mid = Tag::new(packet.ext.mid?)?;
        let line = self.lines.get(&mid)?;
        let is_rtx_pt = line.rtx.iter().any(|&(rtx, _)| rtx == packet.payload_type);
        if let Some(repaired) = packet.ext.repaired_rid.and_then(Tag::new) {
            return self.learn_repair(mid, Some(repaired), packet.ssrc);
        }
        if is_rtx_pt {
            // A repair stream of a non-simulcast m-line names no rid.
            let rid = packet.ext.rid.and_then(Tag::new);
            return self.learn_repair(mid, rid, packet.ssrc);
        }
        if !line.codecs.iter().any(|&(pt, _)| pt == packet.payload_type) {
            return None;
        }
        let rid = packet.ext.rid.and_then(Tag::new);
        let index = self.stream_for(now, mid, rid, packet.ssrc);
        Some(Route::Media(index))
    }

    fn learn_repair(&mut self, mid: Tag, rid: Option<Tag>, ssrc: u32) -> Option<Route> {
        let index = self.streams.iter().position(|s| s.mid == mid && s.rid == rid);
        match index {
            Some(index) => {
                if let Some(old) = self.streams[index].rtx_ssrc.replace(ssrc) {
                    self.by_ssrc.remove(&old);
                }
                self.by_ssrc.insert(ssrc, Route::Repair(index));
                Some(Route::Repair(index))
            }
            None => {
                // Its stream has not sent yet: tie them together when it does.
                self.waiting_repair.insert(ssrc, (mid, rid));
                None
            }
        }
    }

    /// The stream for (mid, rid) now on `ssrc`: a new one, or the same one on a new SSRC
    /// (the browser restarted its encoder).
    fn stream_for(&mut self, now: Instant, mid: Tag, rid: Option<Tag>, ssrc: u32) -> usize {
        let clock_rate = self.lines.get(&mid).and_then(|l| l.codecs.first()).map_or(90_000, |&(_, rate)| rate);
        let index = match self.streams.iter().position(|s| s.mid == mid && s.rid == rid) {
            Some(index) => {
                let stream = &mut self.streams[index];
                if stream.ssrc != ssrc {
                    self.by_ssrc.remove(&stream.ssrc);
                    stream.ssrc = ssrc;
                    stream.register = ReceiveRegister::new(ssrc, clock_rate, now);
                }
                index
            }
            None => {
                let register = ReceiveRegister::new(ssrc, clock_rate, now);
                let stream = Stream { mid, rid, ssrc, rtx_ssrc: None, register, last_packet: now, paused: false };
                self.streams.push(stream);
                self.streams.len() - 1
            }
        };
        self.by_ssrc.insert(ssrc, Route::Media(index));
        let waiting: Vec<u32> =
            self.waiting_repair.iter().filter(|(_, (m, r))| *m == mid && *r == rid).map(|(s, _)| *s).collect();
        for rtx in waiting {
            self.waiting_repair.remove(&rtx);
            self.streams[index].rtx_ssrc = Some(rtx);
            self.by_ssrc.insert(rtx, Route::Repair(index));
        }
        index
    }

    /// The payload type an RTX payload type of `mid` repairs.
    pub fn repaired_pt(&self, mid: &Tag, rtx_pt: u8) -> Option<u8> {
        self.lines.get(mid)?.rtx.iter().find(|&&(rtx, _)| rtx == rtx_pt).map(|&(_, pt)| pt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplink::rtp::ExtValues;

    fn tag(s: &str) -> Tag {
        Tag::new(s.as_bytes()).unwrap()
    }

    fn streams() -> Streams {
        let mut s = Streams::new();
        s.set_line(tag("0"), MediaLine { codecs: vec![(111, 48_000)], rtx: vec![] });
        s.set_line(tag("1"), MediaLine { codecs: vec![(96, 90_000)], rtx: vec![(97, 96)] });
        s
    }

    fn packet<'a>(ssrc: u32, pt: u8, ext: ExtValues<'a>) -> RtpIn<'a> {
        RtpIn { marker: false, payload_type: pt, sequence: 1, timestamp: 1, ssrc, ext, header_len: 12, payload: &[] }
    }

    #[test]
    fn simulcast_layers_are_learned_from_mid_and_rid_then_by_ssrc() {
        let now = Instant::now();
        let mut s = streams();
        let h = ExtValues { mid: Some(b"1"), rid: Some(b"h"), ..Default::default() };
        let f = ExtValues { mid: Some(b"1"), rid: Some(b"f"), ..Default::default() };
        assert_eq!(s.route(now, &packet(100, 96, h)), Some(Route::Media(0)));
        assert_eq!(s.route(now, &packet(200, 96, f)), Some(Route::Media(1)));
        // Later packets carry no extensions: the SSRC says.
        assert_eq!(s.route(now, &packet(100, 96, ExtValues::default())), Some(Route::Media(0)));
        assert_eq!(s.find(b"1", Some(b"f")).map(|s| s.ssrc), Some(200));
        assert_eq!(s.get(1).map(|s| s.register.ssrc()), Some(200));
    }

    #[test]
    fn a_repair_stream_is_tied_to_its_layer_even_when_it_comes_first() {
        let now = Instant::now();
        let mut s = streams();
        let repair = ExtValues { mid: Some(b"1"), repaired_rid: Some(b"h"), ..Default::default() };
        assert_eq!(s.route(now, &packet(101, 97, repair)), None, "its layer has not sent yet");
        let h = ExtValues { mid: Some(b"1"), rid: Some(b"h"), ..Default::default() };
        assert_eq!(s.route(now, &packet(100, 96, h)), Some(Route::Media(0)));
        assert_eq!(s.route(now, &packet(101, 97, ExtValues::default())), Some(Route::Repair(0)));
        assert_eq!(s.repaired_pt(&tag("1"), 97), Some(96));
    }

    #[test]
    fn an_rtx_payload_type_without_rid_repairs_the_plain_stream() {
        let now = Instant::now();
        let mut s = streams();
        let media = ExtValues { mid: Some(b"1"), ..Default::default() };
        assert_eq!(s.route(now, &packet(5, 96, media)), Some(Route::Media(0)));
        assert_eq!(s.route(now, &packet(6, 97, media)), Some(Route::Repair(0)));
    }

    #[test]
    fn declared_ssrcs_need_no_extensions() {
        let now = Instant::now();
        let mut s = streams();
        s.declare(now, tag("0"), 7, None);
        s.declare(now, tag("1"), 8, Some(9));
        let none = ExtValues::default();
        assert_eq!(s.route(now, &packet(7, 111, none)), Some(Route::Media(0)));
        assert_eq!(s.route(now, &packet(9, 97, none)), Some(Route::Repair(1)));
        assert_eq!(s.get(0).map(|s| s.register.highest()), Some(0), "nothing counted by routing alone");
    }

    #[test]
    fn unknown_mids_payload_types_and_bare_ssrcs_are_not_learned() {
        let now = Instant::now();
        let mut s = streams();
        assert_eq!(s.route(now, &packet(1, 96, ExtValues::default())), None, "no mid, no declared SSRC");
        let stray = ExtValues { mid: Some(b"9"), ..Default::default() };
        assert_eq!(s.route(now, &packet(1, 96, stray)), None, "a mid the SDP never had");
        let wrong_pt = ExtValues { mid: Some(b"0"), ..Default::default() };
        assert_eq!(s.route(now, &packet(1, 96, wrong_pt)), None, "not a payload type of that m-line");
        assert!(Tag::new(&[b'x'; 17]).is_none() && Tag::new(b"").is_none());
    }

    #[test]
    fn a_new_ssrc_for_a_known_layer_replaces_the_old_one() {
        let now = Instant::now();
        let mut s = streams();
        let h = ExtValues { mid: Some(b"1"), rid: Some(b"h"), ..Default::default() };
        s.route(now, &packet(100, 96, h));
        assert_eq!(s.route(now, &packet(300, 96, h)), Some(Route::Media(0)));
        assert_eq!(s.route(now, &packet(100, 96, ExtValues::default())), None, "the old SSRC is gone");
    }
}
