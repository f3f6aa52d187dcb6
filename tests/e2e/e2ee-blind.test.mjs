// The server is blind in an end-to-end encrypted meeting (docs/e2ee.md): a tap on what the SFU
// forwards — a protocol client that subscribes and keeps the VP8 frames exactly as they arrive,
// without decrypting them — gets frames ffmpeg cannot decode, while the same tap on an ordinary
// meeting gets frames ffmpeg decodes. The tap sees what any receiver (and the server) sees of
// the media: RTP payloads, reassembled into frames by the browser's depacketizer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { newPage } from "./harness.mjs";
import { e2eeSetup, schedule, join } from "./e2ee-room.mjs";

let setup, dir;
before(async () => {
  setup = await e2eeSetup({ hostName: "boris", fps: 15 });
  dir = mkdtempSync(joinPath(tmpdir(), "convene-tap-"));
});
after(async () => {
  await setup?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A tap on the forwarded media: joins like a third-party client (announcing a real identity
 * key in an E2EE meeting, as it must to get in), subscribes, and keeps the encoded frames of
 * the first video track as they arrive, before any decryption.
 */
function tap(page, meeting, e2ee) {
  return page.evaluate(
    async ({ meetingId, passcode, e2ee }) => {
      const b64url = (/** @type {Uint8Array} */ b) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      /** @type {any} */
      const body = { passcode, display_name: "Tap" };
      if (e2ee) {
        const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
        body.e2ee = { version: 1, identity_key: b64url(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey))) };
      }
      const r = await fetch(`/api/v1/meetings/${meetingId}/join`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const t = await r.json();
      const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}${t.ws_url}?ticket=${encodeURIComponent(t.ticket)}`);
      // @ts-ignore Chromium's pre-standard option: every receiver hands its frames to script.
      const pc = new RTCPeerConnection({ encodedInsertableStreams: true });
      /** @type {{key: boolean, data: number[]}[]} */
      const frames = [];
      const attached = new WeakSet();
      /** @type {string | null} */
      let target = null;
      const size = (/** @type {any} */ track) => track.kind === "video" && ws.send(JSON.stringify({ type: "set_video_size", track_id: track.track_id, width: 640, height: 480 }));
      ws.onmessage = async (e) => {
        const msg = JSON.parse(e.data);
        if (msg.type === "welcome") msg.tracks.forEach(size);
        if (msg.type === "track_published") size(msg.track);
        if (msg.type !== "subscribe_offer") return;
        await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
        for (const tr of pc.getTransceivers()) {
          const receiver = tr.receiver;
          if (attached.has(receiver)) continue;
          attached.add(receiver);
          // @ts-ignore
          const { readable, writable } = receiver.createEncodedStreams();
          if (receiver.track.kind !== "video") {
            readable.pipeTo(writable).catch(() => {});
            continue;
          }
          const reader = readable.getReader();
          (async () => {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) return;
              target ??= tr.mid;
              if (tr.mid !== target || frames.length >= 150) continue;
              if (frames.length === 0 && value.type !== "key") continue; // start at a keyframe
              frames.push({ key: value.type === "key", data: Array.from(new Uint8Array(value.data)) });
            }
          })();
        }
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        ws.send(JSON.stringify({ type: "subscribe_answer", sdp: answer.sdp, offer_id: msg.offer_id }));
      };
      /** @type {any} */ (window).__tap = frames;
    },
    { meetingId: meeting.meeting_id, passcode: meeting.passcode, e2ee },
  );
}

/** Writes VP8 frames as an IVF file (what ffmpeg reads raw VP8 from). */
function ivf(path, frames) {
  const first = Buffer.from(frames[0].data);
  const width = first.readUInt16LE(6) & 0x3fff;
  const height = first.readUInt16LE(8) & 0x3fff;
  const head = Buffer.alloc(32);
  head.write("DKIF", 0);
  head.writeUInt16LE(0, 4);
  head.writeUInt16LE(32, 6);
  head.write("VP80", 8);
  head.writeUInt16LE(width, 12);
  head.writeUInt16LE(height, 14);
  head.writeUInt32LE(15, 16);
  head.writeUInt32LE(1, 20);
  head.writeUInt32LE(frames.length, 24);
  const parts = [head];
  frames.forEach((f, i) => {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(f.data.length, 0);
    h.writeBigUInt64LE(BigInt(i), 4);
    parts.push(h, Buffer.from(f.data));
  });
  writeFileSync(path, Buffer.concat(parts));
  return { width, height };
}

/** Decodes an IVF file with ffmpeg: how many pictures came out, and what it complained about. */
function decode(path) {
  const r = spawnSync("ffmpeg", ["-hide_banner", "-v", "error", "-i", path, "-f", "framemd5", "-"], { encoding: "utf8" });
  const pictures = r.stdout.split("\n").filter((l) => l && !l.startsWith("#")).length;
  return { pictures, errors: r.stderr.trim(), status: r.status };
}

/**
 * The decoded pictures of an IVF file as grey images of `width`×`height` (ffmpeg scales).
 * @param {string} path @param {number} width @param {number} height
 */
function greys(path, width, height) {
  const args = ["-hide_banner", "-v", "quiet", "-i", path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-s", `${width}x${height}`, "-"];
  const r = spawnSync("ffmpeg", args, { maxBuffer: 1 << 28 });
  const raw = r.stdout ?? Buffer.alloc(0);
  const size = width * height;
  const out = [];
  for (let at = 0; at + size <= raw.length; at += size) out.push(raw.subarray(at, at + size));
  return out;
}

/** Mean absolute difference of two grey images of one size, 0–255. @param {Buffer} a @param {Buffer} b */
function distance(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** The middle value (the upper of the two for an even count). @param {number[]} v */
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;

/** A meeting with one camera in it and a tap; returns the tapped frames. */
async function capture(meeting, e2ee) {
  const { browser, server, host } = setup;
  const cam = await join(browser, server, meeting, host, null, { width: 640, height: 400 });
  const t = await newPage(browser, { width: 640, height: 400 });
  await t.page.goto(`${server.base}/#/`);
  await tap(t.page, meeting, e2ee);
  await t.page.waitForFunction(() => /** @type {any} */ (window).__tap.length >= 60, null, { timeout: 30_000, polling: 250 });
  const frames = await t.page.evaluate(() => /** @type {any} */ (window).__tap.slice(0, 60));
  await cam.page.click("#ctl-leave");
  await t.context.close();
  await cam.context.close();
  assert.deepEqual(cam.errors, []);
  return frames;
}

test("the SFU forwards VP8 that decodes in an ordinary meeting and does not in an end-to-end encrypted one", async (t) => {
  // An ordinary meeting, then the setup's end-to-end encrypted one — one after the other, so
  // both cameras send the same layer size (two at once on a loaded machine scale apart).
  const ordinary = await schedule(setup.server, setup.host, {}, "Tapped");
  const plain = await capture(ordinary, false);
  const sealed = await capture(setup.meeting, true);

  const plainFile = joinPath(dir, "plain.ivf");
  const { width, height } = ivf(plainFile, plain);
  assert.ok(width > 0 && height > 0, "the keyframe header is VP8");
  const clear = decode(plainFile);
  assert.ok(clear.pictures >= 50, `ffmpeg decodes the ordinary meeting's frames: ${clear.pictures} pictures, ${clear.errors}`);

  // The encrypted frames keep the VP8 header in clear (the SFU and the receiving browser need
  // it), so they look like VP8 of the same size — and do not decode.
  const sealedFile = joinPath(dir, "sealed.ivf");
  const dims = ivf(sealedFile, sealed);
  // The same camera's picture (which simulcast layer the SFU forwards depends on the load:
  // compared by shape, not size).
  assert.ok(dims.width > 0 && Math.abs(dims.width / dims.height - width / height) < 0.02, `${JSON.stringify(dims)} vs ${width}x${height}`);
  const blind = decode(sealedFile);
  // A decoder fed ciphertext may still emit pictures (VP8 decoders are lenient; how many
  // depends on the random bytes): they must not look like the camera. Measured on small
  // grey images: how far each E2EE picture is from the nearest of the camera's, against how far
  // a camera picture typically is from its nearest neighbour in the ordinary meeting.
  const w = Math.max(2, Math.round(width / 4));
  const h = Math.max(2, Math.round(height / 4));
  const camera = greys(plainFile, w, h);
  const nearest = (/** @type {Buffer} */ g, /** @type {number} */ skip) =>
    Math.min(...camera.filter((_, j) => j !== skip).map((c) => distance(g, c)));
  const typical = median(camera.map((g, i) => nearest(g, i)));
  const far = greys(sealedFile, w, h).map((g) => nearest(g, -1));
  t.diagnostic(
    `plain: ${clear.pictures} pictures of ${plain.length}, ${typical.toFixed(1)} from the nearest other; ` +
      `E2EE: ${blind.pictures} pictures, ${far.map((d) => d.toFixed(0)).join(" ")} from the nearest camera picture; ffmpeg said: ${blind.errors.split("\n").slice(0, 3).join(" | ")}`,
  );
  assert.ok(blind.pictures === 0 || blind.errors.length > 0, `ffmpeg must not decode the E2EE frames cleanly: ${blind.pictures} pictures`);
  // (In the median: a flat garbage picture can land near a camera picture that is mostly one
  // colour; the run of them cannot.)
  const off = median(far);
  assert.ok(far.length === 0 || off > Math.max(4 * typical, 10), `E2EE pictures ${off.toFixed(1)} from the camera's, its own ${typical.toFixed(1)} apart`);
  // And the SFrame layout is there: every frame is 17+ bytes longer than its clear prefix says possible.
  assert.ok(sealed.every((f) => f.data.length > (f.key ? 10 : 3) + 1 + 16));
});
