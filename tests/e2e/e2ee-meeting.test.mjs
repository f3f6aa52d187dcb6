// An end-to-end encrypted meeting in real Chromiums through Convene's SFU (docs/e2ee.md): three
// browsers decode each other's video and hear each other's audio through the SFrame
// transforms, simulcast layers still switch, everyone sees the same security code, a fourth
// joiner changes it identically on all four, and a leave rotates the keys while media goes on.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage, toneWav } from "./harness.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  // Four Chromiums on a loaded machine: a slow fake camera, a steady tone for the microphone.
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`, "--use-fake-device-for-media-stream=fps=10"]);
  host = await account(server.base, "erin");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Board", settings: { allow_guests: true, e2ee: true } }),
  });
  meeting = await r.json();
  assert.equal(meeting.settings.e2ee, true);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
const SMALL = { width: 900, height: 560 };

/** @param {string | null} name a guest's name, or null for the signed-in host */
async function join(name) {
  const x = await newPage(browser, SMALL);
  if (!name) await signInPage(x.page, server.base, host);
  await x.page.goto(link());
  if (name) await x.page.fill("#pj-name", name);
  await x.page.click("text=Join now");
  await x.page.waitForSelector("#room");
  return x;
}

/** Video frames decoded, audio energy heard and the widest frame, per inbound stream. */
function inbound(page) {
  return page.evaluate(async () => {
    const pc = /** @type {any} */ (window).__convene?.meeting.media.subscriber;
    const video = [];
    const audio = [];
    if (!pc) return { video, audio };
    (await pc.getStats()).forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") video.push({ mid: s.mid, frames: s.framesDecoded ?? 0, width: s.frameWidth ?? 0 });
      else audio.push({ mid: s.mid, energy: s.totalAudioEnergy ?? 0 });
    });
    return { video, audio };
  });
}

/** The page's E2EE state: code, how many it covers, key and frame counters. */
function e2ee(page) {
  return page.evaluate(async () => {
    const e = /** @type {any} */ (window).__convene.meeting.e2ee;
    return { code: e.code, participants: e.participants, ...(await e.stats()) };
  });
}

/** Waits until `page` decodes `videos` remote videos and hears `audios` remote microphones, all growing. */
async function flowing(page, videos, audios, label) {
  let last;
  for (let i = 0; i < 40; i++) {
    const a = await inbound(page);
    await page.waitForTimeout(700);
    const b = await inbound(page);
    last = b;
    const grew = (list, before, key) => list.filter((s) => s[key] > (before.find((t) => t.mid === s.mid)?.[key] ?? 0)).length;
    if (grew(b.video, a.video, "frames") >= videos && grew(b.audio, a.audio, "energy") >= audios) return b;
  }
  assert.fail(`${label}: not decoding ${videos} videos and ${audios} audios: ${JSON.stringify(last)}`);
}

/** Waits until every page shows the same code covering `n` people; returns it. */
async function sameCode(pages, n) {
  for (let i = 0; i < 60; i++) {
    const states = await Promise.all(pages.map((p) => e2ee(p)));
    if (states.every((s) => s.code && s.code === states[0].code && s.participants === n)) return states[0].code;
    await pages[0].waitForTimeout(250);
  }
  const states = await Promise.all(pages.map((p) => e2ee(p)));
  assert.fail(`codes differ: ${JSON.stringify(states.map((s) => [s.code, s.participants]))}`);
}

test("an end-to-end encrypted meeting: media decodes through the transforms, one code for all, keys rotate on a leave", async () => {
  const erin = await join(null);
  const gus = await join("Gus");
  const gia = await join("Gia");
  const three = [erin, gus, gia];

  // Everyone decodes the two other cameras and hears the two other microphones.
  for (const [i, x] of three.entries()) await flowing(x.page, 2, 2, `browser ${i}`);
  for (const x of three) {
    const s = await e2ee(x.page);
    assert.ok(s.frames.encrypted > 0 && s.frames.decrypted > 0, JSON.stringify(s.frames));
    assert.equal(s.frames.errors, 0);
  }

  // The same security code everywhere, in the header next to the lock.
  const code3 = await sameCode(three.map((x) => x.page), 3);
  assert.match(code3, /^(\d{5} ){7}\d{5}$/);
  for (const x of three) {
    const badge = await x.page.textContent("#e2ee-badge");
    assert.match(badge, /End-to-end encrypted/);
    assert.ok(badge.includes(code3), badge);
  }
  // The details say what the code is for and what is off; server recording is unavailable.
  await erin.page.click("#e2ee-badge");
  await erin.page.waitForSelector("#e2ee-details");
  assert.equal((await erin.page.textContent("#e2ee-code-details")).trim(), code3);
  assert.match(await erin.page.textContent("#e2ee-details"), /Recording on the server is off/);
  assert.match(await erin.page.textContent("#e2ee-details"), /Chat, reactions and shared files are not end-to-end encrypted/);
  await shot(erin.page, "e2ee-room");

  // Simulcast still switches on ciphertext: a small window gets a lower layer of Gus's camera.
  const widest = async (page) => Math.max(...(await inbound(page)).video.map((v) => v.width));
  const before = await widest(gia.page);
  await gia.page.setViewportSize({ width: 420, height: 300 });
  let after = before;
  for (let i = 0; i < 40 && after >= before; i++) {
    await gia.page.waitForTimeout(500);
    after = await widest(gia.page);
  }
  assert.ok(after < before, `the layer did not change: ${before} → ${after}`);
  await flowing(gia.page, 2, 2, "Gia after the switch");
  await gia.page.setViewportSize(SMALL);

  // A fourth joins: the code changes, identically on all four.
  const ned = await join("Ned");
  const four = [...three, ned];
  const code4 = await sameCode(four.map((x) => x.page), 4);
  assert.notEqual(code4, code3);
  await flowing(ned.page, 3, 3, "Ned");
  const ratchets = (await e2ee(erin.page)).session.ratchets;
  assert.ok(ratchets >= 1, "Erin ratcheted her key forward for the newcomer");

  // Gia leaves: the others rotate to a fresh key (counted), the code changes, media goes on.
  const rotationsBefore = await Promise.all([erin, gus, ned].map(async (x) => (await e2ee(x.page)).session));
  await gia.page.click("#ctl-leave");
  const stay = [erin, gus, ned];
  const code3b = await sameCode(stay.map((x) => x.page), 3);
  assert.notEqual(code3b, code4);
  for (const [i, x] of stay.entries()) {
    for (let j = 0; j < 40; j++) {
      const s = (await e2ee(x.page)).session;
      if (s.rotations > rotationsBefore[i].rotations && s.switches > rotationsBefore[i].switches) break;
      await x.page.waitForTimeout(250);
    }
    const s = (await e2ee(x.page)).session;
    assert.ok(s.rotations > rotationsBefore[i].rotations && s.switches > rotationsBefore[i].switches, JSON.stringify(s));
  }
  // After the switch, frames under the new keys decode everywhere.
  for (const [i, x] of stay.entries()) await flowing(x.page, 2, 2, `after the leave, browser ${i}`);
  await shot(ned.page, "e2ee-after-leave");
  for (const x of four) assert.deepEqual(x.errors, []);
});
