// Recording from the browser: the host records from the participants panel, both people see
// the REC indicator come and go, and afterwards the host finds the recording on the
// recordings page, plays it and seeks in it, with the chat from the meeting beside it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage, toneWav } from "./harness.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`]);
  host = await account(server.base, "rita");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Recorded review", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
const recShown = (page) => page.locator(".pill-rec").isVisible();

test("the host records a meeting, everyone sees it, and the recording plays afterwards", async () => {
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link());
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const g = await newPage(browser);
  await g.page.goto(link());
  await g.page.fill("#pj-name", "Gus");
  await g.page.click("text=Join now");
  await g.page.waitForSelector("#room");
  for (const x of [h, g]) {
    await x.page.waitForFunction(() => [...document.querySelectorAll(".tile video[data-source='camera']")].some((v) => v.videoWidth > 0), null, { timeout: 20_000 });
    assert.equal(await recShown(x.page), false);
  }

  // Only moderators get the button; the guest's panel has none.
  await g.page.click("#ctl-people");
  assert.equal(await g.page.locator("button", { hasText: /^Record$/ }).count(), 0);
  await h.page.click("#ctl-people");
  await h.page.click("button:text-is('Record')");
  for (const x of [h, g]) await x.page.locator(".pill-rec").waitFor({ state: "visible", timeout: 10_000 });
  await shot(h.page, "room-recording");
  await h.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.send({ type: "chat_send", text: "recorded hello" }));
  await h.page.waitForTimeout(3_000);
  await h.page.click("button:text-is('Stop recording')");
  for (const x of [h, g]) await x.page.locator(".pill-rec").waitFor({ state: "hidden", timeout: 10_000 });

  // The recordings page lists it; it turns ready by itself and plays.
  await h.page.click("#ctl-leave");
  await h.page.goto(`${server.base}/#/recordings`);
  const item = h.page.locator("[data-recording]");
  await item.first().waitFor({ timeout: 10_000 });
  await h.page.locator("[data-recording] [data-status='ready']").waitFor({ timeout: 60_000 });
  await item.first().locator("a").click();
  const video = h.page.locator("video.rec-player");
  await video.waitFor({ timeout: 10_000 });
  const duration = await video.evaluate((v) => new Promise((resolve) => (v.readyState >= 1 ? resolve(v.duration) : v.addEventListener("loadedmetadata", () => resolve(v.duration)))));
  assert.ok(duration > 2 && duration < 8, `the recording lasts about 3 s, the player says ${duration}`);
  const seeked = await video.evaluate((v) => new Promise((resolve) => {
    v.addEventListener("seeked", () => resolve(v.currentTime), { once: true });
    v.currentTime = 1.5;
  }));
  assert.ok(Math.abs(Number(seeked) - 1.5) < 0.6, `seeked to ${seeked}`);
  await h.page.locator(".rec-chat", { hasText: "recorded hello" }).waitFor();
  assert.equal(await h.page.locator("a", { hasText: "Download" }).count(), 1);
  await shot(h.page, "recording-player");
  assert.deepEqual(h.errors, []);
  assert.deepEqual(g.errors, []);
});
