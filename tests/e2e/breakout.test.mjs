// Breakout rooms in Chromium: a host and two guests meet; the host opens two rooms from the
// "Breakout rooms" panel (even split: one guest in each), visits Room 1, and each browser then
// decodes only the video of the people in its own room (getStats through the SFU). A guest asks
// for help and the host joins her room from the notice; "Close all rooms" shows everyone a countdown and brings them back to the main room,
// where all three see each other again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  browser = await launch();
  host = await account(server.base, "bree");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Workshop", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

/** Video frames decoded from `pid` through the SFU so far (0: none of their video arrives). */
const framesFrom = (page, pid) => page.evaluate((p) => /** @type {any} */ (window).__convene.meeting.media.receivedFrom(p), pid);
const myId = (page) => page.evaluate(() => /** @type {any} */ (window).__convene.meeting.me);

/** Waits until `page` decodes video from `pid` (frames growing). */
async function decodes(page, pid) {
  await page.waitForFunction(
    async (p) => {
      const m = /** @type {any} */ (window).__convene.meeting.media;
      const a = await m.receivedFrom(p);
      await new Promise((r) => setTimeout(r, 300));
      return a > 0 && (await m.receivedFrom(p)) > a;
    },
    pid,
    { timeout: 20_000, polling: 500 },
  );
}

/** Remote camera tiles that play. */
const cameras = (page) => page.evaluate(() => [...document.querySelectorAll(".tile video[data-source='camera']")].filter((v) => v.videoWidth > 0).length);

test("rooms split the meeting, each room sees only its own, close all brings everyone back", async () => {
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link());
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const guests = [];
  for (const name of ["Gus", "Gita"]) {
    const g = await newPage(browser);
    await g.page.goto(link());
    await g.page.fill("#pj-name", name);
    await g.page.click("text=Join now");
    await g.page.waitForSelector("#room");
    guests.push(g);
  }
  const [gus, gita] = guests;
  const [hid, gusId, gitaId] = [await myId(h.page), await myId(gus.page), await myId(gita.page)];
  for (const x of [h, gus, gita]) await x.page.waitForFunction(() => [...document.querySelectorAll(".tile video[data-source='camera']")].filter((v) => v.videoWidth > 0).length === 2, null, { timeout: 20_000 });

  // Only the host has the control; participants do not (rooms are assigned, not chosen).
  assert.equal(await gus.page.isVisible("#ctl-breakout"), false);
  await h.page.click("role=button[name='Breakout rooms']");
  await h.page.fill("role=spinbutton[name='Number of rooms (2–50)']", "2");
  await h.page.check("role=radio[name='Automatically (even split)']");
  await shot(h.page, "breakout-setup");
  await h.page.click("role=button[name='Open rooms']");

  // Gus (first to arrive) lands in Room 1, Gita in Room 2; each is told where they are.
  await gus.page.waitForSelector("#breakout-banner >> text=You are in Room 1");
  await gita.page.waitForSelector("#breakout-banner >> text=You are in Room 2");
  // The host visits Room 1.
  await h.page.click("role=button[name='Join Room 1']");
  await h.page.waitForSelector("#breakout-banner >> text=You are in Room 1");

  // Room 1 (host and Gus) decode each other's video; Gita decodes nobody's, nobody decodes hers.
  await decodes(gus.page, hid);
  await decodes(h.page, gusId);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(await framesFrom(gus.page, gitaId), 0, "Gus decodes Gita's video from another room");
  assert.equal(await framesFrom(h.page, gitaId), 0, "the host decodes Gita's video from another room");
  assert.equal(await framesFrom(gita.page, gusId), 0, "Gita decodes Gus's video from another room");
  assert.equal(await framesFrom(gita.page, hid), 0, "Gita decodes the host's video from another room");
  assert.equal(await cameras(gita.page), 0, "Gita's stage shows someone from another room");
  await gus.page.waitForFunction(() => [...document.querySelectorAll(".tile video[data-source='camera']")].filter((v) => v.videoWidth > 0).length === 1, null, { timeout: 10_000 });
  await shot(gus.page, "breakout-in-room");
  await shot(h.page, "breakout-host-panel");

  // Gita asks for help: the host is told, with a Join action, and joining puts the host in
  // Room 2 with Gita (her camera plays on the host's stage, Gus's tile is gone).
  await gita.page.getByRole("button", { name: "Ask for help", exact: true }).click();
  const notice = h.page.locator(".toast", { hasText: "Gita asks for help in Room 2" });
  await notice.waitFor();
  assert.equal((await notice.innerText()).replace(/\s+/g, " ").trim(), "Gita asks for help in Room 2 Join");
  const join = notice.getByRole("button", { name: "Join", exact: true });
  assert.ok(await join.isVisible(), "the help notice's Join button is visible");
  await shot(h.page, "breakout-help");
  await join.click();
  await notice.waitFor({ state: "detached" });
  await h.page.waitForSelector("#breakout-banner >> text=You are in Room 2");
  assert.equal(await h.page.getByRole("button", { name: "Ask for help", exact: true }).count(), 0, "the host is whom help calls go to");
  await h.page.waitForSelector("section.breakout-room[aria-label='Room 2'] >> text=You are here");
  await decodes(h.page, gitaId);
  await decodes(gita.page, hid);
  await h.page.waitForFunction(
    () => {
      const tiles = [...document.querySelectorAll(".tile")].map((t) => /** @type {HTMLElement} */ (t).dataset.name);
      const gita = /** @type {HTMLVideoElement | null} */ (document.querySelector(".tile[data-name='Gita'] video[data-source='camera']"));
      return tiles.length === 2 && !tiles.includes("Gus") && !!gita && gita.videoWidth > 0 && !gita.paused;
    },
    null,
    { timeout: 20_000 },
  );
  assert.equal(await cameras(h.page), 1, "the host's stage shows one remote camera (Gita's)");
  // Gus is left alone in Room 1: he stops seeing the host.
  await gus.page.waitForFunction(() => document.querySelectorAll(".tile").length === 1, null, { timeout: 10_000 });
  await shot(h.page, "breakout-help-joined");

  // Close all with a 10 s countdown: everyone sees it, then all are back with media.
  await h.page.selectOption("#breakout-countdown-choice", "10");
  await h.page.click("role=button[name='Close all rooms']");
  await gita.page.waitForSelector("#breakout-countdown");
  const text = await gita.page.textContent("#breakout-countdown");
  assert.match(text ?? "", /Breakout rooms close in \d+ s/);
  await shot(gita.page, "breakout-countdown");
  for (const x of [h, gus, gita]) await x.page.waitForSelector("#breakout-banner", { state: "hidden", timeout: 20_000 });
  await decodes(gita.page, gusId);
  await decodes(gita.page, hid);
  await decodes(gus.page, gitaId);
  await decodes(h.page, gitaId);
  await decodes(h.page, gusId);
  await shot(h.page, "breakout-back");
  await shot(gita.page, "breakout-back-guest");
});
