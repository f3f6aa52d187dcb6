// Which codecs an end-to-end encrypted meeting carries and how many leading bytes of each
// encoded frame stay in clear (docs/e2ee.md "Bytes in clear"). No DOM.
//
// VP8: the 3-byte frame tag of every frame, plus the 7 bytes of start code and dimensions of
// a keyframe (RFC 6386 §9.1), stay readable. The SFU's keyframe detection reads the frame
// tag's P bit (crates/sfu/src/codec.rs `vp8_keyframe_start`), and the receiving browser's VP8
// depacketizer reads the P bit and a keyframe's width and height before the receive transform
// runs. Everything else the SFU reads (payload descriptor, RTP header extensions) is written
// outside the encoded frame and never reaches the transform.
//
// Opus: nothing in clear. The SFU reads no Opus byte (voice activity comes from the RFC 6464
// audio-level header extension, which the sender computes from the microphone's samples), and
// the receiving browser decrypts before its jitter buffer parses the TOC byte.

/** @typedef {"vp8" | "opus"} Codec */

/** The VP8 uncompressed data chunk (RFC 6386 §9.1): frame tag, plus start code and size on keyframes. */
const VP8_KEYFRAME_CLEAR = 10;
const VP8_DELTA_CLEAR = 3;

/**
 * The codec of a frame, from the transceiver's kind and the frame's `mimeType` metadata when
 * the browser gives it; `null` for a codec an E2EE meeting does not carry (H.264, VP9, AV1,
 * RED…): such a frame is dropped, never sent in clear.
 * @param {"audio" | "video"} kind @param {string | undefined} mimeType
 * @returns {Codec | null}
 */
export function codecOf(kind, mimeType) {
  if (mimeType) {
    const m = mimeType.toLowerCase();
    if (kind === "video" && m === "video/vp8") return "vp8";
    if (kind === "audio" && m === "audio/opus") return "opus";
    return null;
  }
  // Browsers without the metadata: the meeting negotiates nothing else (docs/e2ee.md).
  return kind === "video" ? "vp8" : "opus";
}

/**
 * How many leading bytes of an encoded frame stay in clear; `null` if the frame is too short
 * to be what its first byte says (a VP8 keyframe under 10 bytes, any VP8 frame under 3).
 * Sender and receiver both compute it from the frame's first byte, which is in clear and,
 * like the rest of the clear prefix, authenticated: changing it breaks the tag.
 * @param {Codec} codec @param {Uint8Array} frame
 * @returns {number | null}
 */
export function clearPrefix(codec, frame) {
  if (codec === "opus") return 0;
  if (frame.length === 0) return null;
  const keyframe = (frame[0] & 0x01) === 0;
  const n = keyframe ? VP8_KEYFRAME_CLEAR : VP8_DELTA_CLEAR;
  return frame.length >= n ? n : null;
}
