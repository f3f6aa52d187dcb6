// Helpers of the end-to-end encrypted meeting tests (e2ee-meeting, e2ee-rekey): joining the
// meeting from a page, what its connections decode, its E2EE state.
import assert from "node:assert/strict";
import { newPage, signInPage } from "./harness.mjs";

export const SMALL = { width: 900, height: 560 };

/**
 * Opens a page in `browser` and joins `meeting` (as the signed-in `host` when `name` is null).
 * @param {string | null} name a guest's name, or null for the signed-in host
 */
export async function join(browser, server, meeting, host, name) {
  const x = await newPage(browser, SMALL);
  if (!name) await signInPage(x.page, server.base, host);
  await x.page.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
  if (name) await x.page.fill("#pj-name", name);
  await x.page.click("text=Join now");
  await x.page.waitForSelector("#room");
  return x;
}

/** Schedules an end-to-end encrypted meeting as `host`. */
export async function e2eeMeeting(server, host) {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Board", settings: { allow_guests: true, e2ee: true } }),
  });
  const meeting = await r.json();
  assert.equal(meeting.settings.e2ee, true);
  return meeting;
}

/** Video frames decoded, audio energy heard and the widest frame, per inbound stream. */
export function inbound(page) {
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
export function e2ee(page) {
  return page.evaluate(async () => {
    const e = /** @type {any} */ (window).__convene.meeting.e2ee;
    return { code: e.code, participants: e.participants, ...(await e.stats()) };
  });
}

/** Waits until `page` decodes `videos` remote videos and hears `audios` remote microphones, all growing. */
export async function flowing(page, videos, audios, label) {
  let last;
  for (let i = 0; i < 30; i++) {
    const a = await inbound(page);
    await page.waitForTimeout(1000);
    const b = await inbound(page);
    last = b;
    const grew = (list, before, key) => list.filter((s) => s[key] > (before.find((t) => t.mid === s.mid)?.[key] ?? 0)).length;
    if (grew(b.video, a.video, "frames") >= videos && grew(b.audio, a.audio, "energy") >= audios) return b;
  }
  const state = await e2ee(page);
  assert.fail(`${label}: not decoding ${videos} videos and ${audios} audios: ${JSON.stringify(last)}; E2EE: ${JSON.stringify(state)}`);
}

/** Waits until every page shows the same code covering `n` people; returns it. */
export async function sameCode(pages, n) {
  for (let i = 0; i < 60; i++) {
    const states = await Promise.all(pages.map((p) => e2ee(p)));
    if (states.every((s) => s.code && s.code === states[0].code && s.participants === n)) return states[0].code;
    await pages[0].waitForTimeout(250);
  }
  const states = await Promise.all(pages.map((p) => e2ee(p)));
  assert.fail(`codes differ: ${JSON.stringify(states.map((s) => [s.code, s.participants]))}`);
}

