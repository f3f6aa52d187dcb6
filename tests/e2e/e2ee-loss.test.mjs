// Retransmissions repair end-to-end encrypted media (issue 18, docs/e2ee.md): a viewer's
// Chromium in a network namespace of its own (network.mjs) watches a publisher in an E2EE
// meeting through the SFU; nftables inside the namespace drops 5 % of the media reaching it,
// at random, for 15 s. The viewer asks for the lost video packets again (NACK), the SFU
// resends them (RTX: the same encrypted payload, it cannot read it), and every hole is filled
// in time: the viewer never needs a keyframe, the picture neither freezes nor slows down, not
// one decrypted frame fails authentication, is malformed or comes twice, the sound goes on;
// when the loss ends, the picture is still there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, account, shot, toneWav } from "./harness.mjs";
import { namespaceServer, namespaceSkip } from "./network.mjs";
import { schedule, join, e2ee, flowing } from "./e2ee-room.mjs";

const skip = namespaceSkip();
/** The share of the media reaching the viewer that is dropped, %. */
const LOSS = 5;
/** How long the loss lasts, s. */
const LOSSY_SECONDS = 15;

let net, server, publisherBrowser, viewerBrowser, host, meeting, mediaPort;
before(async () => {
  if (skip) return;
  let secure;
  ({ net, server, mediaPort, secure } = await namespaceServer());
  // The publisher on this machine's own network, the viewer inside the namespace.
  publisherBrowser = await launch([secure, `--use-file-for-fake-audio-capture=${toneWav()}`]);
  viewerBrowser = await launch([secure], { executablePath: net.wrap("/usr/bin/chromium") });
  host = await account(server.base, "pia");
  // Through the SFU: a 1:1 meeting could otherwise go peer to peer.
  meeting = await schedule(server, host, { e2ee: true, peer_to_peer: false }, "Lossy line");
  assert.equal(meeting.settings.e2ee, true);
});
after(async () => {
  await viewerBrowser?.close();
  await publisherBrowser?.close();
  await server?.stop();
  net?.close();
});

/**
 * What the viewer's subscribing connection says of the remote camera (the video it decodes
 * most of) and the remote microphone, and which transport carries them.
 */
function received(page) {
  return page.evaluate(async () => {
    const pc = /** @type {any} */ (window).__convene?.meeting.media.subscriber;
    const got = { video: /** @type {any} */ (null), audio: { energy: 0, packetsReceived: 0, packetsLost: 0, concealedSamples: 0 }, transport: "" };
    if (!pc) return got;
    const all = new Map();
    (await pc.getStats()).forEach((/** @type {any} */ s) => all.set(s.id, s));
    for (const s of all.values()) {
      if (s.type === "inbound-rtp" && s.kind === "video" && (s.framesDecoded ?? 0) >= (got.video?.framesDecoded ?? 0)) {
        got.video = {
          framesDecoded: s.framesDecoded ?? 0,
          framesDropped: s.framesDropped ?? 0,
          keyFramesDecoded: s.keyFramesDecoded ?? 0,
          width: s.frameWidth ?? 0,
          packetsReceived: s.packetsReceived ?? 0,
          packetsLost: s.packetsLost ?? 0,
          nackCount: s.nackCount ?? 0,
          pliCount: s.pliCount ?? 0,
          firCount: s.firCount ?? 0,
          retransmittedPacketsReceived: s.retransmittedPacketsReceived,
          freezeCount: s.freezeCount ?? 0,
          totalFreezesDuration: s.totalFreezesDuration ?? 0,
        };
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        got.audio.energy += s.totalAudioEnergy ?? 0;
        got.audio.packetsReceived += s.packetsReceived ?? 0;
        got.audio.packetsLost += s.packetsLost ?? 0;
        got.audio.concealedSamples += s.concealedSamples ?? 0;
      }
      if (s.type === "transport" && s.selectedCandidatePairId) {
        const local = all.get(all.get(s.selectedCandidatePairId)?.localCandidateId);
        got.transport = local ? `${local.protocol} ${local.candidateType}` : "";
      }
    }
    return got;
  });
}

/** `b − a` for every number of two `received(…).video`. */
function growth(a, b) {
  /** @type {Record<string, number>} */
  const d = {};
  for (const k of Object.keys(b)) if (typeof b[k] === "number") d[k] = b[k] - (a[k] ?? 0);
  return d;
}

test("NACK and RTX repair an end-to-end encrypted stream under 5 % random loss", { skip, timeout: 240_000 }, async (t) => {
  const pub = await join(publisherBrowser, server, meeting, host, null);
  const viewer = await join(viewerBrowser, server, meeting, host, "Vic", { width: 1280, height: 800 });

  // The viewer decodes the publisher's camera and hears the tone, through the transforms.
  await flowing(viewer.page, 1, 1, "the viewer before the loss");
  // A few seconds without loss: the rate to compare with, and the counters to start from.
  const clear0 = await received(viewer.page);
  await viewer.page.waitForTimeout(5000);
  const start = await received(viewer.page);
  const startE2ee = (await e2ee(viewer.page)).frames;
  assert.match(start.transport, /^udp /, `the viewer's media comes over UDP (what the loss drops): ${start.transport}`);
  const clearRate = (start.video.framesDecoded - clear0.video.framesDecoded) / 5;
  t.diagnostic(`before the loss: ${clearRate} frames/s decoded, ${start.video.width} px; video ${JSON.stringify(growth(clear0.video, start.video))}`);

  const loss = net.lossy(mediaPort, LOSS);
  let mid;
  /** Frames decoded in each second of the loss. */
  const perSecond = [];
  let end, endE2ee, dropped;
  try {
    let last = start;
    for (let i = 0; i < LOSSY_SECONDS; i++) {
      await viewer.page.waitForTimeout(1000);
      const now = await received(viewer.page);
      perSecond.push(now.video.framesDecoded - last.video.framesDecoded);
      last = now;
      if (i === Math.floor(LOSSY_SECONDS / 2)) {
        await shot(viewer.page, "e2ee-loss-lossy");
        mid = now;
      }
    }
    end = last;
    endE2ee = (await e2ee(viewer.page)).frames;
    dropped = loss.counts();
  } finally {
    loss.lift();
  }

  const video = growth(start.video, end.video);
  const frames = Object.fromEntries(Object.keys(endE2ee).map((k) => [k, endE2ee[k] - (startE2ee[k] ?? 0)]));
  const report =
    `${LOSSY_SECONDS} s at ${LOSS} % loss: nftables dropped ${dropped.dropped} of ${dropped.arrived} packets; ` +
    `video ${JSON.stringify(video)}; audio ${JSON.stringify({ energy: end.audio.energy - start.audio.energy, lost: end.audio.packetsLost - start.audio.packetsLost, received: end.audio.packetsReceived - start.audio.packetsReceived })}; ` +
    `frames decoded per second ${JSON.stringify(perSecond)}; E2EE frames ${JSON.stringify(frames)} (now ${JSON.stringify(endE2ee)})`;
  t.diagnostic(report);

  // The loss happened, on the video too: its sequence numbers have holes (`packetsLost` counts
  // them as they first went missing; Chromium does not take back the ones a resend filled).
  assert.ok(dropped.arrived > 500 && dropped.dropped > dropped.arrived * 0.02, `not the loss meant: ${report}`);
  assert.ok(video.packetsLost > 0, `no video packet lost: ${report}`);
  // The viewer asked for them again (NACK) and received resends (RTX). The resends counted
  // include the SFU's bandwidth probes (str0m pads with resends of sent packets), so that
  // they came is shown, not that they were exactly the ones asked for — what follows shows that.
  assert.ok(video.nackCount > 0, `no NACKs sent: ${report}`);
  if (end.video.retransmittedPacketsReceived !== undefined) assert.ok(video.retransmittedPacketsReceived > 0, `no retransmissions received: ${report}`);
  // Every hole was filled in time: the viewer never had to ask for a keyframe to go on (a VP8
  // frame missing a packet cannot be decoded, nor the frames after it that refer to it; with
  // the resends blocked, the same loss costs several keyframe requests, seconds of freezes and
  // half the frames), the picture did not freeze, and it kept the rate of the clear line.
  assert.equal(video.pliCount, 0, `the viewer asked for a keyframe: ${report}`);
  assert.equal(video.firCount ?? 0, 0, `the viewer asked for a keyframe (FIR): ${report}`);
  assert.ok(video.totalFreezesDuration < 1, `the picture froze: ${report}`);
  assert.ok(video.framesDecoded >= clearRate * LOSSY_SECONDS * 0.7, `${video.framesDecoded} frames decoded in ${LOSSY_SECONDS} s (${clearRate}/s before): ${report}`);
  assert.ok(perSecond.every((n) => n > 0), `a second without a decoded frame: ${report}`);
  // The sound goes on (audio is not resent: its decoder conceals what is lost).
  assert.ok(end.audio.energy > mid.audio.energy && mid.audio.energy > start.audio.energy, `the sound stopped: ${report}`);
  // Every frame the viewer decrypted was whole and came once: a resent packet carrying
  // anything but the original ciphertext would fail authentication (or be malformed), a frame
  // put together twice would be a replay.
  assert.ok(frames.decrypted > 0, `nothing decrypted: ${report}`);
  for (const k of ["authFailed", "malformed", "replayed", "errors"]) assert.equal(endE2ee[k], 0, `${k}: ${report}`);

  // The loss ends: the picture and the sound are still there.
  const later = await flowing(viewer.page, 1, 1, "the viewer after the loss");
  const v = later.video.reduce((a, b) => (b.frames > a.frames ? b : a));
  assert.ok(v.width > 0);
  await shot(viewer.page, "e2ee-loss-after");
  const final = (await e2ee(viewer.page)).frames;
  assert.ok(final.decrypted > endE2ee.decrypted);
  for (const k of ["authFailed", "malformed", "replayed", "errors"]) assert.equal(final[k], 0, `${k} after the loss: ${JSON.stringify(final)}`);

  assert.deepEqual(viewer.errors, []);
  assert.deepEqual(pub.errors, []);
  await viewer.context.close();
  await pub.context.close();
});
