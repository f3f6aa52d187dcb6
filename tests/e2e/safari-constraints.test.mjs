// Safari's constraints, played by Chromium (no WebKit with WebRTC runs here): Sam's browser
// offers only H.264 (setCodecPreferences without VP8, VP9 or AV1, as an H.264-only Safari
// would) and refuses to play sound until the person has clicked or typed on the page, as
// Safari does. Chromium's own --autoplay-policy=document-user-activation-required cannot show
// this under Playwright (its evaluate and selector polling count as user gestures, and the
// page joined by script still played), so the rule is modelled in the page: `play()` of an
// unmuted element rejects with NotAllowedError (and autoplay does not start it) until a trusted
// click or key press. Mona still sees Sam's H.264 camera through the SFU; Sam gets a visible
// "Click to enable audio" button that starts Mona's sound; when Mona records the meeting, Sam
// is told that the recorder (VP8 only) leaves his video out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, account, signInPage, shot, toneWav } from "./harness.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`]);
  host = await account(server.base, "mona");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Safari check", settings: { allow_guests: true, peer_to_peer: false } }), // the SFU path is the subject: no peer-to-peer
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The page's video RTP streams one way ("inbound-rtp" or "outbound-rtp"): codec and frames. */
const videoStreams = (page, type) =>
  page.evaluate(async (type) => {
    const media = /** @type {any} */ (window).__convene.meeting.media;
    const pc = type === "inbound-rtp" ? media.subscriber : media.publisher;
    const stats = await pc.getStats();
    const out = [];
    stats.forEach((/** @type {any} */ s) => {
      if (s.type === type && s.kind === "video") out.push({ codec: stats.get(s.codecId)?.mimeType, frames: (type === "inbound-rtp" ? s.framesDecoded : s.framesEncoded) ?? 0 });
    });
    return out;
  }, type);

test("an H.264-only publisher is seen by others and told the recording leaves it out; blocked audio gets a button", async () => {
  const link = `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
  const m = await newPage(browser);
  await signInPage(m.page, server.base, host);
  await m.page.goto(link);
  await m.page.click("text=Join now"); // a real click: Mona's page may play sound
  await m.page.waitForSelector("#room");

  const s = await newPage(browser);
  await s.page.addInitScript(() => {
    const set = RTCRtpTransceiver.prototype.setCodecPreferences;
    RTCRtpTransceiver.prototype.setCodecPreferences = function (codecs) {
      return set.call(this, codecs.filter((c) => !/^video\/(VP8|VP9|AV1)$/i.test(c.mimeType)));
    };
  });
  await s.page.addInitScript(() => {
    let gesture = false;
    for (const type of ["click", "keydown"]) addEventListener(type, (e) => (gesture ||= e.isTrusted), true);
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function () {
      if (gesture || this.muted) return play.call(this);
      return Promise.reject(new DOMException("play() needs a user gesture", "NotAllowedError"));
    };
    // …and the autoplay attribute does not start it either.
    addEventListener("play", (e) => {
      const el = /** @type {HTMLMediaElement} */ (e.target);
      if (!gesture && !el.muted) el.pause();
    }, true);
  });
  // No gesture: the page itself types Sam's name and presses "Join now" (a script's click is untrusted).
  await s.page.addInitScript(() => {
    const timer = setInterval(() => {
      const name = /** @type {HTMLInputElement | null} */ (document.querySelector("#pj-name"));
      const join = [...document.querySelectorAll("button")].find((b) => b.textContent?.trim() === "Join now");
      if (!name || !join) return;
      clearInterval(timer);
      name.value = "Sam";
      name.dispatchEvent(new Event("input", { bubbles: true }));
      join.click();
    }, 100);
  });
  await s.page.goto(link);

  // Sam's browser refused to play Mona's sound without a gesture: he is told.
  const button = s.page.locator("#enable-audio");
  await button.waitFor({ timeout: 20_000 });
  assert.equal(await button.textContent(), "Click to enable audio");
  assert.equal(await s.page.$eval(".remote-audio audio", (a) => /** @type {HTMLAudioElement} */ (a).paused), true);

  // Mona decodes Sam's camera, and it is H.264 all the way (Sam sends nothing else).
  await m.page.waitForFunction(() => {
    const v = document.querySelector(".tile[data-name='Sam'] video[data-source='camera']");
    return v instanceof HTMLVideoElement && v.videoWidth > 0 && !v.paused;
  }, null, { timeout: 20_000 });
  const sent = await videoStreams(s.page, "outbound-rtp");
  assert.ok(sent.length > 0 && sent.every((x) => x.codec === "video/H264"), JSON.stringify(sent));
  const first = await videoStreams(m.page, "inbound-rtp");
  await m.page.waitForTimeout(1500);
  const then = await videoStreams(m.page, "inbound-rtp");
  assert.equal(then.length, 1, JSON.stringify(then));
  assert.equal(then[0].codec, "video/H264");
  assert.ok(then[0].frames > first[0].frames, `frames decoded ${first[0].frames} → ${then[0].frames}`);
  await s.page.waitForFunction(() => {
    const v = document.querySelector(".tile[data-name='Mona'] video[data-source='camera']");
    return v instanceof HTMLVideoElement && v.videoWidth > 0 && !v.paused;
  }, null, { timeout: 20_000 });
  await shot(s.page, "enable-audio");

  // Mona starts the server recording, which takes VP8 only: Sam is told his video is left out.
  await m.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.send({ type: "record", recording: true }));
  const unrecorded = s.page.locator(".toast", { hasText: "your browser sends H.264: your video is left out of the recording" });
  await unrecorded.waitFor({ timeout: 10_000 });
  await shot(s.page, "h264-not-recorded");
  assert.equal(await m.page.locator(".toast", { hasText: "left out of the recording" }).count(), 0, "Mona's VP8 video is recorded");

  // …and one click on the button starts Mona's sound.
  await button.click();
  await button.waitFor({ state: "detached", timeout: 5000 });
  await s.page.waitForFunction(() => {
    const a = document.querySelector(".remote-audio audio");
    return a instanceof HTMLAudioElement && !a.paused && a.currentTime > 0;
  }, null, { timeout: 10_000 });

  assert.deepEqual(m.errors, []);
  assert.deepEqual(s.errors, []);
  await s.context.close();
  await m.context.close();
});
