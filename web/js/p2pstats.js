// What has arrived on the direct connection of two (p2p.js), read from its stats: whether the
// other's media flows on it yet (only then does the stage switch to it), and a count that stops
// growing once it carries nothing any more (the switch back to the SFU then stops waiting for
// it). No state of its own: pure reads of one RTCPeerConnection.

/**
 * Whether the other's media arrives on the direct connection: a decoded video frame if
 * their camera is on, else audio packets. `cameraPublished` is asked only when that decides
 * (after the stats are read: the other may switch their camera meanwhile).
 * @param {RTCPeerConnection} pc @param {() => boolean} cameraPublished
 */
export async function flowing(pc, cameraPublished) {
  const stats = await pc.getStats();
  let audio = 0;
  let frames = 0;
  stats.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "audio") audio += s.packetsReceived ?? 0;
    else frames += s.framesDecoded ?? 0;
  });
  return frames > 0 || (audio > 0 && !cameraPublished());
}

/** What has arrived on a direct connection: decoded video frames, else audio packets. @param {RTCPeerConnection} pc */
export async function directFrames(pc) {
  let frames = 0;
  let packets = 0;
  (await pc.getStats().catch(() => new Map())).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") frames += s.framesDecoded ?? 0;
    else packets += s.packetsReceived ?? 0;
  });
  return frames + packets;
}
