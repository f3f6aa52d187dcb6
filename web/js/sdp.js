// What the browser's session descriptions say and which codecs it offers: the server's media
// address, the answered video codec, the DTLS fingerprint, VP8 first. No DOM, no connection
// state; pure functions over SDP text and codec lists (tested in Node where they need no browser).

/**
 * Puts VP8 first among a video transceiver's codecs (H.264 and the rest stay acceptable) or,
 * in an E2EE meeting, leaves only VP8 (and its retransmissions): the encrypting transform
 * keeps only VP8's header in clear (docs/e2ee.md "Only VP8 and Opus").
 * @param {RTCRtpTransceiver} transceiver @param {boolean} [only]
 */
export function preferVp8(transceiver, only = false) {
  const codecs = RTCRtpReceiver.getCapabilities?.("video")?.codecs;
  if (!codecs || !transceiver.setCodecPreferences) return;
  const rank = (/** @type {RTCRtpCodec} */ c) => (/vp8/i.test(c.mimeType) ? 0 : /h264/i.test(c.mimeType) ? 1 : 2);
  const kept = only ? codecs.filter((c) => /vp8|rtx|red|ulpfec/i.test(c.mimeType)) : codecs;
  try {
    transceiver.setCodecPreferences([...kept].sort((a, b) => rank(a) - rank(b)));
  } catch {
    // keep the browser's order
  }
}

/**
 * The server's media address in an SDP of its own: its first host candidate, "host:port".
 * @param {string} sdp
 */
export function mediaAddress(sdp) {
  const m = /^a=candidate:\S+ \d+ \S+ \d+ (\S+) (\d+) typ host/m.exec(sdp);
  if (!m) return "";
  return m[1].includes(":") ? `[${m[1]}]:${m[2]}` : `${m[1]}:${m[2]}`;
}

/**
 * The codec a publish answer settled on for my video: the first payload type of its first
 * video m-line that is not disabled or inactive (the sender uses the answer's first codec),
 * upper case ("VP8", "H264"); "" if it has none.
 * @param {string} sdp
 */
export function answeredVideoCodec(sdp) {
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const m = /^video (\d+) \S+ (\d+)/.exec(section);
    if (!m || m[1] === "0" || /^a=inactive\r?$/m.test(section)) continue;
    const rtpmap = new RegExp(`^a=rtpmap:${m[2]} ([^/\\s]+)/`, "m").exec(section);
    return rtpmap ? rtpmap[1].toUpperCase() : "";
  }
  return "";
}

/** @param {string} address "host:port" or "[v6]:port" @returns {[string, string]} */
export function splitAddress(address) {
  const i = address.lastIndexOf(":");
  return i < 0 ? [address, ""] : [address.slice(0, i).replace(/^\[|\]$/g, ""), address.slice(i + 1)];
}

/** The DTLS certificate fingerprint an SDP names (its first `a=fingerprint` line). @param {string} sdp */
export function fingerprint(sdp) {
  return /^a=fingerprint:(.*)$/m.exec(sdp)?.[1]?.trim() ?? "";
}
