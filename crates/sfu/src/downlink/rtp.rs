//! The RTP header a downlink writes (RFC 3550 §5.1, one-byte extensions of RFC 8285).

/// The fields of one outgoing RTP packet's header.
#[derive(Debug, Clone, Copy)]
pub struct RtpHeader<'a> {
    /// Negotiated payload type of the subscriber's m-line.
    pub payload_type: u8,
    /// Set on the last packet of a video frame, and at talk spurts for audio.
    pub marker: bool,
    /// The subscriber's continuous sequence number.
    pub sequence: u16,
    /// The subscriber's RTP timestamp.
    pub timestamp: u32,
    /// The SSRC the subscriber's SDP announced for this m-line.
    pub ssrc: u32,
    /// One-byte header extensions: `(id 1..=14, value of 1..=16 bytes)`; others are skipped.
    pub extensions: &'a [(u8, &'a [u8])],
}

impl RtpHeader<'_> {
    /// Appends the header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let valid = |(id, value): &&(u8, &[u8])| (1..=14).contains(id) && (1..=16).contains(&value.len());
        let has_extensions = self.extensions.iter().any(|e| valid(&e));
        out.push(0x80 | if has_extensions { 0x10 } else { 0 });
        out.push(self.payload_type & 0x7f | if self.marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        if !has_extensions {
            return;
        }
        let start = out.len();
        out.extend_from_slice(&[0xbe, 0xde, 0, 0]);
        for (id, value) in self.extensions.iter().filter(valid) {
            out.push((id << 4) | (value.len() as u8 - 1));
            out.extend_from_slice(value);
        }
        // The extension block is counted in 32-bit words and padded with zeros.
        while !(out.len() - start).is_multiple_of(4) {
            out.push(0);
        }
        let words = ((out.len() - start - 4) / 4) as u16;
        out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    }
}

/// A few payload bytes a subscriber's copy of a packet has changed (a VP8 descriptor's
/// picture numbering after a layer switch), so the payload itself can be shared by every
/// subscriber and kept once for resends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayloadPatch {
    len: u8,
    at: [u8; 4],
    bytes: [u8; 4],
}

impl PayloadPatch {
    /// Sets the payload's byte at `offset`; false if the patch is full or the offset is
    /// beyond the first 256 bytes (only descriptors are patched).
    pub fn set(&mut self, offset: usize, byte: u8) -> bool {
        let (Ok(at), true) = (u8::try_from(offset), usize::from(self.len) < self.at.len()) else { return false };
        self.at[usize::from(self.len)] = at;
        self.bytes[usize::from(self.len)] = byte;
        self.len += 1;
        true
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the patched bytes into `payload` (those past its end are skipped).
    pub fn apply(&self, payload: &mut [u8]) {
        for i in 0..usize::from(self.len) {
            if let Some(b) = payload.get_mut(usize::from(self.at[i])) {
                *b = self.bytes[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_changes_only_its_bytes() {
        let mut patch = PayloadPatch::default();
        assert!(patch.set(2, 0xaa) && patch.set(3, 0xbb));
        assert!(!patch.set(300, 1), "descriptors only");
        let mut payload = [0u8; 6];
        patch.apply(&mut payload);
        assert_eq!(payload, [0, 0, 0xaa, 0xbb, 0, 0]);
        let mut short = [0u8; 3];
        patch.apply(&mut short);
        assert_eq!(short, [0, 0, 0xaa]);
    }

    #[test]
    fn header_without_extensions_is_twelve_bytes() {
        let mut out = Vec::new();
        RtpHeader { payload_type: 96, marker: true, sequence: 0x1234, timestamp: 0xdeadbeef, ssrc: 7, extensions: &[] }
            .write(&mut out);
        assert_eq!(out, [0x80, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]);
    }

    #[test]
    fn one_byte_extensions_are_padded_to_words() {
        let mut out = Vec::new();
        let level = [0x85u8];
        let abs = [1u8, 2, 3];
        let header = RtpHeader {
            payload_type: 111,
            marker: false,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
            extensions: &[(1, &level), (3, &abs), (15, &abs), (2, &[])],
        };
        header.write(&mut out);
        assert_eq!(out[0], 0x90);
        assert_eq!(&out[12..16], &[0xbe, 0xde, 0, 2]);
        assert_eq!(&out[16..24], &[0x10, 0x85, 0x32, 1, 2, 3, 0, 0]);
        assert_eq!(out.len(), 24);
    }
}
