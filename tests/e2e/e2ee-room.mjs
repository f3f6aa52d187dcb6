// Shared by the end-to-end encrypted meeting tests (e2ee-meeting, e2ee-rekey, e2ee-blind,
// local-recording's E2EE part): the setup (a server, a Chromium with a steady tone and a slow
// fake camera, a host, an E2EE meeting), joining from pages, what their
// connections decode, their E2EE state, and waits on what the pages observe (key changes,
// codes) rather than on time.
import assert from "node:assert/strict";
import { startServer, launch, newPage, signInPage, account, toneWav } from "./harness.mjs";

export const SMALL = { width: 900, height: 560 };

/**
 * What every E2EE test starts from: a server, one Chromium (several browsers on a loaded
 * machine: a slow fake camera, a steady tone for the microphone), a signed-up host and an
 * end-to-end encrypted meeting. `close()` stops them.
 * @param {{hostName?: string, fps?: number, settings?: object}} [opts]
 */
export async function e2eeSetup({ hostName = "erin", fps = 10, settings = {} } = {}) {
  const server = await startServer();
  const browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`, `--use-fake-device-for-media-stream=fps=${fps}`]);
  const host = await account(server.base, hostName);
  const meeting = await schedule(server, host, { e2ee: true, ...settings });
  assert.equal(meeting.settings.e2ee, true);
  return {
    server,
    browser,
    host,
    meeting,
    async close() {
      await browser.close();
      await server.stop();
    },
  };
}

/** Schedules a meeting (guests allowed, joinable before the host) as `host`. @param {object} settings */
export async function schedule(server, host, settings = {}, title = "Board") {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title, settings: { allow_guests: true, join_before_host: true, ...settings } }),
  });
  assert.equal(r.status, 201);
  return r.json();
}

/** The meeting's link with its passcode. */
export const link = (server, meeting) => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

/**
 * Opens a page in `browser` and joins `meeting` (as the signed-in `host` when `name` is null).
 * @param {string | null} name a guest's name, or null for the signed-in host
 */
export async function join(browser, server, meeting, host, name, viewport = SMALL) {
  const x = await newPage(browser, viewport);
  if (!name) await signInPage(x.page, server.base, host);
  await x.page.goto(link(server, meeting));
  if (name) await x.page.fill("#pj-name", name);
  await x.page.click("text=Join now");
  await x.page.waitForSelector("#room");
  return x;
}

/**
 * Joins everyone in `names` (null: the host), one after the other: three page loads at once
 * on a loaded two-core machine time out, and the joins are not what is measured.
 * @param {(string | null)[]} names
 */
export async function joinAll(setup, names) {
  const xs = [];
  for (const name of names) xs.push(await join(setup.browser, setup.server, setup.meeting, setup.host, name));
  return xs;
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

/**
 * Waits until `page` decodes `videos` remote videos and hears `audios` remote microphones,
 * all growing between two looks a second apart, as often as it takes, for at most 40 s.
 */
export async function flowing(page, videos, audios, label) {
  let last;
  const until = Date.now() + 40_000;
  const grew = (list, before, key) => list.filter((s) => s[key] > (before.find((t) => t.mid === s.mid)?.[key] ?? 0)).length;
  let a = await inbound(page);
  while (Date.now() < until) {
    await page.waitForTimeout(1000);
    const b = await inbound(page);
    last = b;
    if (grew(b.video, a.video, "frames") >= videos && grew(b.audio, a.audio, "energy") >= audios) return b;
    a = b;
  }
  const state = await e2ee(page);
  assert.fail(`${label}: not decoding ${videos} videos and ${audios} audios: ${JSON.stringify(last)}; E2EE: ${JSON.stringify(state)}`);
}

/** `flowing` on every page at once. @param {{page: any}[]} xs */
export function allFlowing(xs, videos, audios, label) {
  return Promise.all(xs.map((x, i) => flowing(x.page, videos, audios, `${label}, browser ${i}`)));
}

/** Waits until every page shows the same code covering `n` people; returns it. */
export async function sameCode(pages, n) {
  for (let i = 0; i < 80; i++) {
    const states = await Promise.all(pages.map((p) => e2ee(p)));
    if (states.every((s) => s.code && s.code === states[0].code && s.participants === n)) return states[0].code;
    await pages[0].waitForTimeout(250);
  }
  const states = await Promise.all(pages.map((p) => e2ee(p)));
  assert.fail(`codes differ: ${JSON.stringify(states.map((s) => [s.code, s.participants]))}`);
}

/**
 * Starts recording the page's key changes (`key-changed` of its E2EE session: a ratchet for a
 * newcomer, a switch to a rotated key) from now on, so a test can wait for one that follows
 * what it does, whenever it lands.
 */
export function watchKeys(page) {
  return page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__keyChanges = [];
    w.__convene.meeting.e2ee.session.addEventListener("key-changed", (/** @type {CustomEvent} */ e) => w.__keyChanges.push(e.detail.reason));
  });
}

/** Waits until the page's session changed its key for `reason` since `watchKeys`; returns its counters then. */
export async function keyChanged(page, reason, label) {
  try {
    await page.waitForFunction((r) => /** @type {any} */ (window).__keyChanges.includes(r), reason, { timeout: 15_000, polling: 100 });
  } catch {
    const seen = await page.evaluate(() => /** @type {any} */ (window).__keyChanges);
    assert.fail(`${label}: no key change for "${reason}"; seen: ${JSON.stringify(seen)}; ${JSON.stringify((await e2ee(page)).session)}`);
  }
  return (await e2ee(page)).session;
}
