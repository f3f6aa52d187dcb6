// End-to-end encryption in a real browser (web/js/e2ee/media.js and worker.js), without a
// Convene server: one page, two RTCPeerConnections, the fake camera, a fake screen share and a
// steady tone sent through the encrypting transform on one side and the decrypting one on the
// other. With the right key the far side decodes video and hears the tone; with a wrong key
// nothing decodes and the worker counts failed authentications — the frames on the wire are
// ciphertext the receiver rejects, not plaintext that happened to pass. Both Encoded Transform
// APIs Chromium has are exercised (RTCRtpScriptTransform and createEncodedStreams), and a
// three-layer simulcast camera has every layer's frames encrypted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join, dirname, normalize, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import { launch, newPage, toneWav, SCREENSHOTS } from "./harness.mjs";

const WEB = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "web");
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css" };

// The page: everything runs in it, the test only reads the outcome.
const PAGE = `<!doctype html><meta charset="utf-8"><title>E2EE loopback</title><body>
<script type="module">
import { E2eeMedia, peerConnectionOptions, e2eeSupported, transformMode } from "/js/e2ee/media.js";
import { randomBytes } from "/js/e2ee/bytes.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

window.probe = () => ({ supported: e2eeSupported(), mode: transformMode() });

/**
 * receiver: "right" key, "wrong" key, "late" (the right key, given halfway through, as a
 * newcomer gets it), or "none" (no decrypting transform at all). rotate: halfway through,
 * both move to a new key generation (KID 128), as after someone left.
 */
window.loopback = async ({ mode, receiver, seconds, rotate = false, simulcast = false }) => {
  // Chromium sends three simulcast layers from 960×540 up only.
  const size = simulcast ? { width: 1280, height: 720 } : { width: 640, height: 360 };
  const cam = await navigator.mediaDevices.getUserMedia({ audio: true, video: size });
  const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  const alice = new E2eeMedia({ mode });
  const bob = receiver === "none" ? null : new E2eeMedia({ mode });
  const pc1 = new RTCPeerConnection(peerConnectionOptions(mode));
  const pc2 = new RTCPeerConnection(bob ? peerConnectionOptions(mode) : {});
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);

  const kid = 5n;
  const key = randomBytes(32);
  alice.setSendKey(kid, key);
  if (receiver === "right" || receiver === "wrong") bob?.addReceiveKey("alice", kid, receiver === "right" ? key : randomBytes(32));

  let cameraMid = null;
  for (const track of [...cam.getTracks(), ...screen.getVideoTracks()]) {
    const layered = simulcast && track === cam.getVideoTracks()[0];
    const sendEncodings = layered ? [{ rid: "q", scaleResolutionDownBy: 4 }, { rid: "h", scaleResolutionDownBy: 2 }, { rid: "f" }] : undefined;
    const t = pc1.addTransceiver(track, { direction: "sendonly", sendEncodings });
    if (layered) cameraMid = t;
    if (track.kind === "video") {
      const vp8 = RTCRtpReceiver.getCapabilities("video").codecs.filter((c) => /vp8/i.test(c.mimeType));
      t.setCodecPreferences(vp8);
    }
    alice.attachSender(t.sender, track.kind);
  }
  const sinks = [];
  pc2.ontrack = (e) => {
    bob?.attachReceiver(e.receiver, "alice");
    const el = document.createElement(e.track.kind);
    el.autoplay = true;
    el.muted = e.track.kind === "video";
    el.srcObject = new MediaStream([e.track]);
    document.body.append(el);
    sinks.push(el);
  };
  await pc1.setLocalDescription();
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription();
  // A browser cannot receive simulcast; tell the sender its three layers were accepted anyway
  // (they all go through the sending transform; the receiver decodes one).
  let answer = pc2.localDescription.sdp;
  if (cameraMid) {
    const mid = cameraMid.mid;
    answer = answer.replace("a=mid:" + mid + "\\r\\n", "a=mid:" + mid + "\\r\\na=rid:q recv\\r\\na=rid:h recv\\r\\na=rid:f recv\\r\\na=simulcast:recv q;h;f\\r\\n");
  }
  await pc1.setRemoteDescription({ type: "answer", sdp: answer });

  const decoded = async () => {
    let n = 0;
    (await pc2.getStats()).forEach((s) => s.type === "inbound-rtp" && s.kind === "video" && (n += s.framesDecoded ?? 0));
    return n;
  };
  await sleep((seconds * 1000) / 2);
  const halfway = await decoded();
  if (receiver === "late") bob?.addReceiveKey("alice", kid, key);
  if (rotate) {
    const next = randomBytes(32);
    bob?.addReceiveKey("alice", 128n, next);
    alice.setSendKey(128n, next);
  }
  await sleep((seconds * 1000) / 2);
  const video = [];
  let audioEnergy = 0;
  let audioPackets = 0;
  (await pc2.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") video.push({ framesDecoded: s.framesDecoded ?? 0, packets: s.packetsReceived ?? 0, codec: s.codecId });
    if (s.kind === "audio") {
      audioEnergy = s.totalAudioEnergy ?? 0;
      audioPackets = s.packetsReceived ?? 0;
    }
  });
  const layers = [];
  let framesEncoded = 0;
  let audioSent = 0;
  (await pc1.getStats()).forEach((s) => {
    if (s.type !== "outbound-rtp") return;
    if (s.kind === "video") {
      framesEncoded += s.framesEncoded ?? 0;
      if (s.rid) layers.push({ rid: s.rid, framesEncoded: s.framesEncoded ?? 0 });
    }
    if (s.kind === "audio") audioSent += s.packetsSent ?? 0;
  });
  const sent = await alice.stats();
  const result = { halfway, video, audioEnergy, audioPackets, layers, framesEncoded, audioSent, sent, received: bob ? await bob.stats() : null };
  for (const t of [...cam.getTracks(), ...screen.getTracks()]) t.stop();
  pc1.close();
  pc2.close();
  alice.close();
  bob?.close();
  sinks.forEach((el) => el.remove());
  return result;
};
window.ready = true;
</script>`;

let server;
let base;
let browser;

before(async () => {
  server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    if (path === "/e2ee-loopback.html") {
      res.writeHead(200, { "content-type": TYPES[".html"] }).end(PAGE);
      return;
    }
    const file = normalize(join(WEB, path));
    if (!file.startsWith(WEB + "/") || !TYPES[extname(file)]) {
      res.writeHead(404).end();
      return;
    }
    try {
      res.writeHead(200, { "content-type": TYPES[extname(file)] }).end(await readFile(file));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  mkdirSync(SCREENSHOTS, { recursive: true }); // toneWav writes under target/, which a checkout without a build lacks
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav(20)}`, "--auto-select-desktop-capture-source=Entire screen"]);
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

async function run(opts) {
  const { page, context, errors } = await newPage(browser);
  await page.goto(`${base}/e2ee-loopback.html`);
  await page.waitForFunction(() => window.ready === true);
  const result = await page.evaluate((o) => window.loopback(o), opts);
  await context.close();
  assert.deepEqual(errors, [], "no page errors");
  return result;
}

test("Chromium has an Encoded Transform API and the feature test says so", async () => {
  const { page, context } = await newPage(browser);
  await page.goto(`${base}/e2ee-loopback.html`);
  await page.waitForFunction(() => window.ready === true);
  const probe = await page.evaluate(() => window.probe());
  await context.close();
  assert.deepEqual(probe, { supported: true, mode: "script" });
});

for (const mode of ["script", "streams"]) {
  test(`${mode}: with the right key the far side decodes camera and screen and hears the tone`, async () => {
    const r = await run({ mode, receiver: "right", seconds: 5 });
    assert.equal(r.video.length, 2, "camera and screen arrive");
    for (const v of r.video) assert.ok(v.framesDecoded > 10, `video decoded: ${JSON.stringify(r)}`);
    assert.ok(r.audioEnergy > 0.01, `audio heard: ${JSON.stringify(r)}`);
    assert.ok(r.sent.encrypted > 100, "the sender encrypted");
    assert.ok(r.received.decrypted > 100, "the receiver decrypted");
    assert.equal(r.received.authFailed + r.received.malformed + r.received.unknownKey + r.received.errors, 0, `nothing dropped: ${JSON.stringify(r.received)}`);
    assert.equal(r.sent.unsupportedCodec + r.sent.errors, 0, "only VP8 and Opus were sent");
  });
}

test("with a wrong key nothing decodes: every frame fails authentication", async () => {
  const r = await run({ mode: "script", receiver: "wrong", seconds: 4 });
  assert.ok(r.video.length === 2 && r.video.every((v) => v.packets > 50), `media did arrive: ${JSON.stringify(r)}`);
  for (const v of r.video) assert.equal(v.framesDecoded, 0, "no video frame decoded");
  assert.ok(r.audioPackets > 50);
  assert.ok(r.audioEnergy < 0.001, `silence: ${r.audioEnergy}`);
  assert.equal(r.received.decrypted, 0);
  assert.ok(r.received.authFailed > 100, `counted as authentication failures: ${JSON.stringify(r.received)}`);
});

test("a receiver without the transform (the server's view) cannot decode the video", async () => {
  const r = await run({ mode: "script", receiver: "none", seconds: 5 });
  assert.ok(r.sent.encrypted > 100);
  // libvpx rejects the ciphertext behind the clear VP8 header (a garbage frame may slip through
  // now and then; a keyed receiver decodes ~25 a second). Opus is not checked here: its decoder
  // turns any bytes into noise — which is why a receiver drops frames that do not authenticate.
  for (const v of r.video) {
    assert.ok(v.packets > 50, `media arrived: ${JSON.stringify(r.video)}`);
    assert.ok(v.framesDecoded < 10, `almost nothing decoded: ${JSON.stringify(r.video)}`);
  }
});

test("a key rotation mid-call: frames in flight and after it decrypt, the video goes on", async () => {
  const r = await run({ mode: "script", receiver: "right", seconds: 6, rotate: true });
  const total = r.video.reduce((n, v) => n + v.framesDecoded, 0);
  assert.ok(r.halfway > 20, `decoding before: ${r.halfway}`);
  assert.ok(total > r.halfway + 40, `and after the rotation: ${r.halfway} -> ${total}`);
  assert.equal(r.received.authFailed + r.received.unknownKey + r.received.malformed, 0, `no frame lost to the rotation: ${JSON.stringify(r.received)}`);
});

test("a newcomer's key arriving mid-call: frames before it are dropped and counted, then the video starts", async () => {
  const r = await run({ mode: "script", receiver: "late", seconds: 8 });
  assert.equal(r.halfway, 0, "nothing decoded without the key");
  assert.ok(r.received.unknownKey > 50, `counted: ${JSON.stringify(r.received)}`);
  for (const v of r.video) assert.ok(v.framesDecoded > 10, `decoding once the key came: ${JSON.stringify(r.video)}`);
  assert.ok(r.audioEnergy > 0.005, `audio too: ${r.audioEnergy}`);
});

test("every simulcast layer goes through the encrypting transform", async () => {
  const r = await run({ mode: "script", receiver: "right", seconds: 5, simulcast: true });
  assert.deepEqual(r.layers.map((l) => l.rid).sort(), ["f", "h", "q"], `three layers sent: ${JSON.stringify(r.layers)}`);
  for (const l of r.layers) assert.ok(l.framesEncoded > 20, `layer ${l.rid} encoded: ${JSON.stringify(r.layers)}`);
  // Every frame of every layer (and of the screen and the microphone) was encrypted: the
  // worker's count matches the encoders' (the two are read a moment apart).
  const produced = r.framesEncoded + r.audioSent;
  assert.ok(Math.abs(r.sent.encrypted - produced) <= 0.05 * produced, `encrypted ${r.sent.encrypted} of ${produced} frames`);
  // (The receiving browser cannot take three layers on one m-line; what it makes of them is not the point here.)
  assert.ok(r.received.decrypted > 100);
});
