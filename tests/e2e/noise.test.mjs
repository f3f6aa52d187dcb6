// Noise suppression (RNNoise in an AudioWorklet), judged in the audio another participant
// receives through the SFU. The host's fake microphone plays speech (espeak-ng) over steady
// pink noise (sox), with pauses. The guest measures the received level every 20 ms over a
// whole loop of the file: the noise floor (quiet percentile) with suppression on (the
// default) must sit well below the floor with it off (toggled live in the microphone menu),
// while the speech peaks stay.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Speech with pauses over pink noise, 48 kHz mono WAV. */
function noisySpeech() {
  const out = join(ROOT, "target", "e2e-noisy-speech.wav");
  if (existsSync(out)) return out;
  const run = (cmd, args) => {
    const r = spawnSync(cmd, args);
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  const speech = join(ROOT, "target", "e2e-speech-raw.wav");
  const padded = join(ROOT, "target", "e2e-speech-48k.wav");
  const noise = join(ROOT, "target", "e2e-pink-noise.wav");
  run("espeak-ng", ["-v", "en", "-s", "150", "-w", speech, "The quick brown fox jumps over the lazy dog. Please join the meeting at ten o'clock."]);
  run("sox", [speech, "-r", "48000", "-c", "1", "-b", "16", padded, "pad", "0.8", "1.2"]);
  const secs = spawnSync("soxi", ["-D", padded]).stdout.toString().trim();
  run("sox", ["-n", "-r", "48000", "-c", "1", "-b", "16", noise, "synth", secs, "pinknoise", "vol", "0.08"]);
  run("sox", ["-m", padded, noise, out]);
  return out;
}

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  browser = await launch([`--use-file-for-fake-audio-capture=${noisySpeech()}`]);
  host = await account(server.base, "noor");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Noisy room", settings: { allow_guests: true, peer_to_peer: false } }), // measured on the SFU path's audio element
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

/** Levels (dBFS, every 20 ms for `ms`) of the first remote audio the page plays. */
function levels(page, ms) {
  return page.evaluate(async (ms) => {
    const a = /** @type {HTMLAudioElement} */ (document.querySelector(".remote-audio audio"));
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(/** @type {MediaStream} */ (a.srcObject));
    const an = ctx.createAnalyser();
    an.fftSize = 1024;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    const out = [];
    const end = performance.now() + ms;
    while (performance.now() < end) {
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      out.push(10 * Math.log10(sum / buf.length + 1e-12));
      await new Promise((r) => setTimeout(r, 20));
    }
    await ctx.close();
    return out;
  }, ms);
}

/** @param {number[]} xs @param {number} p 0..1 */
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];

test("RNNoise lowers the noise floor others hear, keeps the speech, and toggles live", async () => {
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link());
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const g = await newPage(browser);
  await g.page.goto(link());
  await g.page.fill("#pj-name", "Gil");
  await g.page.click("text=Join now");
  await g.page.waitForSelector("#room");
  await g.page.waitForFunction(() => !!document.querySelector(".remote-audio audio"), null, { timeout: 20_000 });
  await g.page.waitForTimeout(2000);

  // On by default, as the microphone menu says.
  await h.page.click("#ctl-microphone-devices");
  assert.equal(await h.page.getAttribute("#menu-noise", "aria-checked"), "true");
  await shot(h.page, "noise-mic-menu");
  await h.page.keyboard.press("Escape");
  const on = await levels(g.page, 8500);

  // Off, live: the same track, the noise comes back.
  const trackBefore = await h.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.media.publisher.getSenders().find((s) => s.track?.kind === "audio")?.track?.id);
  await h.page.click("#ctl-microphone-devices");
  await h.page.click("#menu-noise");
  await h.page.waitForTimeout(500);
  const off = await levels(g.page, 8500);
  const trackAfter = await h.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.media.publisher.getSenders().find((s) => s.track?.kind === "audio")?.track?.id);
  assert.equal(trackAfter, trackBefore, "the toggle does not change the sent track");

  const floorOn = percentile(on, 0.1);
  const floorOff = percentile(off, 0.1);
  const speechOn = percentile(on, 0.95);
  const speechOff = percentile(off, 0.95);
  console.log(`noise floor: ${floorOff.toFixed(1)} dBFS off → ${floorOn.toFixed(1)} dBFS on; speech peaks ${speechOff.toFixed(1)} → ${speechOn.toFixed(1)} dBFS`);
  assert.ok(floorOn < floorOff - 10, `the floor drops by more than 10 dB (${floorOff} → ${floorOn})`);
  assert.ok(speechOn > speechOff - 8, `speech stays (${speechOff} → ${speechOn})`);
  assert.ok(speechOn - floorOn > 20, `speech stands well above the suppressed floor (${speechOn} vs ${floorOn})`);
  assert.deepEqual(h.errors, []);
  assert.deepEqual(g.errors, []);
  await h.context.close();
  await g.context.close();
});
