//! Reading a publisher's RTP packet (RFC 3550 §5.1) and the header extensions the session
//! negotiated (RFC 8285, one- and two-byte forms), in place and without allocating; and
//! unwrapping a retransmission (RFC 4588).

use str0m::rtp::{Extension, ExtensionMap};

/// What an extension id stands for, among those the forwarding path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtKind {
    /// The m-line the packet belongs to (RFC 8843).
    Mid,
    /// The simulcast layer's RTP stream id (RFC 8852).
    Rid,
    /// The layer a retransmission stream repairs.
    RepairedRid,
    /// The transport-wide sequence number, for send-side estimation.
    TransportSeq,
    /// abs-send-time: 6.18 fixed-point seconds, for receive-side estimation.
    AbsSendTime,
    /// The microphone's level and voice activity (RFC 6464).
    AudioLevel,
    /// The camera's rotation (3GPP coordination of video orientation).
    VideoOrientation,
}

/// Negotiated extension ids (1–255) and what they carry.
#[derive(Clone)]
pub struct ExtIds([Option<ExtKind>; 256]);

impl std::fmt::Debug for ExtIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.iter().enumerate().filter_map(|(id, k)| k.map(|k| (id, k)))).finish()
    }
}

impl ExtIds {
    /// No extension understood.
    pub fn none() -> ExtIds {
        ExtIds([None; 256])
    }

    /// Says that `id` carries `kind` (id 0 is never one).
    pub fn set(&mut self, id: u8, kind: ExtKind) {
        if id != 0 {
            self.0[usize::from(id)] = Some(kind);
        }
    }

    /// The ids str0m negotiated for one m-line.
    pub fn from_negotiated(map: &ExtensionMap) -> ExtIds {
        let mut ids = ExtIds::none();
        ids.add_negotiated(map);
        ids
    }

    /// Adds the ids str0m negotiated for another m-line (BUNDLE: one id means one extension
    /// on the whole connection, but each m-line lists only its own: a browser's audio line
    /// has no rid).
    pub fn add_negotiated(&mut self, map: &ExtensionMap) {
        for (id, ext) in map.iter() {
            let kind = match ext {
                Extension::RtpMid => ExtKind::Mid,
                Extension::RtpStreamId => ExtKind::Rid,
                Extension::RepairedRtpStreamId => ExtKind::RepairedRid,
                Extension::TransportSequenceNumber => ExtKind::TransportSeq,
                Extension::AbsoluteSendTime => ExtKind::AbsSendTime,
                Extension::AudioLevel => ExtKind::AudioLevel,
                Extension::VideoOrientation => ExtKind::VideoOrientation,
                _ => continue,
            };
            self.set(id, kind);
        }
    }

    /// What `id` carries, if it was negotiated and is read.
    pub fn kind_of(&self, id: u8) -> Option<ExtKind> {
        self.0[usize::from(id)]
    }
}

/// The extension values of one packet that the forwarding path reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtValues<'a> {
    /// The mid's bytes as sent.
    pub mid: Option<&'a [u8]>,
    /// The rid's bytes as sent.
    pub rid: Option<&'a [u8]>,
    /// The repaired rid's bytes as sent.
    pub repaired_rid: Option<&'a [u8]>,
    /// The transport-wide sequence number.
    pub transport_seq: Option<u16>,
    /// abs-send-time, 24 bits.
    pub abs_send_time: Option<u32>,
    /// (voice activity, level in −dBov 0–127).
    pub audio_level: Option<(bool, u8)>,
    /// The raw orientation byte (C, F, R1, R0 in the low bits).
    pub video_orientation: Option<u8>,
}

/// One RTP packet, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpIn<'a> {
    /// Set on a frame's last packet (video) or a talk spurt's first (audio).
    pub marker: bool,
    /// The payload type.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The stream's SSRC.
    pub ssrc: u32,
    /// The extensions understood.
    pub ext: ExtValues<'a>,
    /// The header's length, extensions included.
    pub header_len: usize,
    /// The payload, padding removed.
    pub payload: &'a [u8],
}

/// Reads `packet` (already decrypted) with the negotiated `ids`; None if it is not a
/// well-formed RTP packet. Extensions with ids not negotiated are skipped, as are values
/// of the wrong length.
pub fn parse<'a>(packet: &'a [u8], ids: &ExtIds) -> Option<RtpIn<'a>> {
    let &[first, second, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3, ..] = packet else { return None };
    if first >> 6 != 2 {
        return None;
    }
    let csrcs = usize::from(first & 0x0f);
    let mut header_len = 12 + 4 * csrcs;
    let mut ext = ExtValues::default();
    if first & 0x10 != 0 {
        let block = packet.get(header_len..header_len + 4)?;
        let profile = u16::from_be_bytes([block[0], block[1]]);
        let words = usize::from(u16::from_be_bytes([block[2], block[3]]));
        let body = packet.get(header_len + 4..header_len + 4 + 4 * words)?;
        match profile {
            0xbede => read_elements(body, false, ids, &mut ext),
            p if p & 0xfff0 == 0x1000 => read_elements(body, true, ids, &mut ext),
            // Another profile's extension: nothing here for us.
            _ => {}
        }
        header_len += 4 + 4 * words;
    }
    let mut end = packet.len();
    if first & 0x20 != 0 {
        let pad = usize::from(*packet.last()?);
        if pad == 0 || end < header_len + pad {
            return None;
        }
        end -= pad;
    }
    let payload = packet.get(header_len..end)?;
    Some(RtpIn {
        marker: second & 0x80 != 0,
        payload_type: second & 0x7f,
        sequence: u16::from_be_bytes([s0, s1]),
        timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
        ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
        ext,
        header_len,
        payload,
    })
}

/// The elements of an extension block: one-byte (id 4 bits, length − 1 in 4 bits; id 15
/// ends the block) or two-byte (id and length a byte each). Zero bytes between are padding.
fn read_elements<'a>(mut body: &'a [u8], two_byte: bool, ids: &ExtIds, ext: &mut ExtValues<'a>) {
    while let Some(&first) = body.first() {
        if first == 0 {
            body = &body[1..];
            continue;
        }
        let (id, len, skip) = if two_byte {
            let Some(&len) = body.get(1) else { return };
            (first, usize::from(len), 2)
        } else {
            if first >> 4 == 15 {
                return;
            }
            (first >> 4, usize::from(first & 0x0f) + 1, 1)
        };
        let Some(value) = body.get(skip..skip + len) else { return };
        body = &body[skip + len..];
        match (ids.kind_of(id), value) {
            (Some(ExtKind::Mid), v) if !v.is_empty() => ext.mid = Some(v),
            (Some(ExtKind::Rid), v) if !v.is_empty() => ext.rid = Some(v),
            (Some(ExtKind::RepairedRid), v) if !v.is_empty() => ext.repaired_rid = Some(v),
            (Some(ExtKind::TransportSeq), &[a, b, ..]) => ext.transport_seq = Some(u16::from_be_bytes([a, b])),
            (Some(ExtKind::AbsSendTime), &[a, b, c]) => ext.abs_send_time = Some(u32::from_be_bytes([0, a, b, c])),
            (Some(ExtKind::AudioLevel), &[v, ..]) => ext.audio_level = Some((v & 0x80 != 0, v & 0x7f)),
            (Some(ExtKind::VideoOrientation), &[v]) => ext.video_orientation = Some(v),
            _ => {}
        }
    }
}

/// The ids the tests write packets with (Chrome's usual ones for these extensions).
#[cfg(test)]
pub(crate) fn test_ids() -> ExtIds {
    let mut ids = ExtIds::none();
    for (id, kind) in [
        (1, ExtKind::AudioLevel),
        (2, ExtKind::AbsSendTime),
        (3, ExtKind::TransportSeq),
        (4, ExtKind::Mid),
        (10, ExtKind::Rid),
        (11, ExtKind::RepairedRid),
    ] {
        ids.set(id, kind);
    }
    ids
}

/// A retransmission's original sequence number and payload (RFC 4588 §4: the first two
/// payload bytes are the original's). None if the payload is too short (padding-only
/// packets, which probe bandwidth, carry nothing to recover).
pub fn unwrap_rtx(payload: &[u8]) -> Option<(u16, &[u8])> {
    let (osn, rest) = payload.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*osn), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downlink::RtpHeader;

    fn ids() -> ExtIds {
        test_ids()
    }

    #[test]
    fn a_packet_written_by_the_downlink_reads_back() {
        let mut packet = Vec::new();
        let extensions: &[(u8, &[u8])] = &[(4, b"1"), (10, b"h"), (3, &[0x12, 0x34]), (2, &[1, 2, 3]), (7, b"??")];
        RtpHeader { payload_type: 96, marker: true, sequence: 0xfffe, timestamp: 0xdead_beef, ssrc: 42, extensions }
            .write(&mut packet);
        packet.extend_from_slice(b"payload");
        let p = parse(&packet, &ids()).unwrap();
        assert_eq!((p.marker, p.payload_type, p.sequence, p.timestamp, p.ssrc), (true, 96, 0xfffe, 0xdead_beef, 42));
        assert_eq!(p.ext.mid, Some(&b"1"[..]));
        assert_eq!(p.ext.rid, Some(&b"h"[..]));
        assert_eq!(p.ext.transport_seq, Some(0x1234));
        assert_eq!(p.ext.abs_send_time, Some(0x010203));
        assert_eq!(p.ext.repaired_rid, None);
        assert_eq!(p.payload, b"payload", "id 7 was not negotiated and is skipped");
    }

    #[test]
    fn two_byte_extensions_padding_and_csrcs() {
        // V=2, P, X, CC=1; PT 111; seq 7; ts 9; SSRC 5; one CSRC; two-byte block of 2 words.
        let mut packet = vec![0xb1, 111, 0, 7, 0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 99];
        packet.extend_from_slice(&[0x10, 0x00, 0, 2]);
        // id 1 (audio level) len 1: voice, −33 dBov; a padding byte; id 4 (mid) len 2: "ab".
        packet.extend_from_slice(&[1, 1, 0x80 | 33, 0, 4, 2, b'a', b'b']);
        packet.extend_from_slice(&[0xaa, 0xbb, 0, 0, 3]); // payload, then 3 bytes of padding
        let p = parse(&packet, &ids()).unwrap();
        assert_eq!(p.ext.audio_level, Some((true, 33)));
        assert_eq!(p.ext.mid, Some(&b"ab"[..]));
        assert_eq!(p.header_len, 16 + 4 + 8);
        assert_eq!(p.payload, &[0xaa, 0xbb]);
    }

    #[test]
    fn malformed_packets_are_refused_not_read_past() {
        let ids = ids();
        assert_eq!(parse(&[0x80, 96, 0, 1], &ids), None, "shorter than a header");
        assert_eq!(parse(&[0x40; 12], &ids), None, "version 1");
        let mut lying = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 9];
        lying.extend_from_slice(&[0x10, 0]);
        assert_eq!(parse(&lying, &ids), None, "extension block longer than the packet");
        let padded = [0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 5];
        assert_eq!(parse(&padded, &ids), None, "more padding than payload");
        let zero_pad = [0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        assert_eq!(parse(&zero_pad, &ids), None, "a padding count of zero");
        // An element running past its block stops the reading, not the packet.
        let mut truncated = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1];
        truncated.extend_from_slice(&[0x4f, b'x', b'y', b'z', 0xee]);
        let p = parse(&truncated, &ids).unwrap();
        assert_eq!((p.ext.mid, p.payload), (None, &[0xee][..]));
    }

    #[test]
    fn the_one_byte_form_stops_at_id_fifteen() {
        let mut packet = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 2];
        packet.extend_from_slice(&[0x40, b'0', 0xf0, 0, 0x40, b'9', 0, 0]);
        let p = parse(&packet, &ids()).unwrap();
        assert_eq!(p.ext.mid, Some(&b"0"[..]), "what follows id 15 is not read");
    }

    #[test]
    fn negotiated_ids_come_from_the_sdp_map() {
        let mut map = ExtensionMap::empty();
        map.set(9, Extension::RtpMid);
        map.set(5, Extension::TransportSequenceNumber);
        map.set(6, Extension::ColorSpace);
        let ids = ExtIds::from_negotiated(&map);
        assert_eq!(
            (ids.kind_of(9), ids.kind_of(5), ids.kind_of(6)),
            (Some(ExtKind::Mid), Some(ExtKind::TransportSeq), None)
        );
    }

    #[test]
    fn a_retransmission_carries_the_original_number_first() {
        assert_eq!(unwrap_rtx(&[0x01, 0x02, 0xaa]), Some((0x0102, &[0xaa][..])));
        assert_eq!(unwrap_rtx(&[0x01]), None);
    }
}
