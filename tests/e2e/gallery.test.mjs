// A 26-person meeting: one browser (the host, camera on), 24 lightweight participants that
// only speak the signaling protocol (WebSockets opened from a page, docs/protocol.md §1), and
// one more browser with its camera on, last to arrive. The host's gallery holds 25 tiles a
// page, so it pages: page 1 has 25 tiles, page 2 the last arrival, whose camera is reported
// 0×0 (the SFU sends nothing for it) until its page is shown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

const BOTS = 24;
let server, browser, host;
before(async () => {
  server = await startServer();
  browser = await launch();
  host = await account(server.base, "ines");
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("26 people: the gallery pages past 25 tiles and off-page cameras are sized 0×0", async () => {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "All hands", settings: { allow_guests: true } }),
  });
  const meeting = await r.json();
  const link = `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
  const h = await newPage(browser, { width: 1280, height: 800 });
  await signInPage(h.page, server.base, host);
  await h.page.goto(link);
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");

  // 24 signaling-only guests: join over HTTP, then a WebSocket each (answered pings and all
  // by the browser), held open in one page.
  const bots = await newPage(browser);
  await bots.page.goto(`${server.base}/#/signin`);
  const seated = await bots.page.evaluate(
    async ({ id, passcode, count }) => {
      const sockets = [];
      const welcomed = [];
      for (let i = 1; i <= count; i++) {
        const res = await fetch(`/api/v1/meetings/${id}/join`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ passcode, display_name: `Bot ${String(i).padStart(2, "0")}` }) });
        const ticket = await res.json();
        const ws = new WebSocket(`${location.origin.replace("http", "ws")}${ticket.ws_url}?ticket=${encodeURIComponent(ticket.ticket)}`);
        sockets.push(ws);
        welcomed.push(new Promise((resolve) => ws.addEventListener("message", (e) => JSON.parse(e.data).type === "welcome" && resolve(true), { once: false })));
      }
      /** @type {any} */ (window).__bots = sockets;
      return (await Promise.all(welcomed)).length;
    },
    { id: meeting.meeting_id, passcode: meeting.passcode, count: BOTS },
  );
  assert.equal(seated, BOTS);

  const z = await newPage(browser);
  await z.page.goto(link);
  await z.page.fill("#pj-name", "Zed Last");
  await z.page.click("text=Join now");
  await z.page.waitForSelector("#room");

  // The host: 26 people, pages of 25; Zed (26th to arrive) is on page 2.
  const hp = h.page;
  await hp.waitForFunction(() => /** @type {any} */ (window).__convene.meeting.participants.size === 26, null, { timeout: 20_000 });
  await hp.waitForSelector(".pager:not([hidden])");
  assert.match(await hp.textContent(".pager-label"), /1\/2/);
  assert.equal(await hp.locator(".grid .tile").count(), 25);
  assert.equal(await hp.locator(".tile[data-name='Zed Last']").count(), 0);
  assert.equal(await hp.locator(".tile[data-name='Bot 24']").count(), 1);
  assert.equal(await hp.isDisabled("#page-prev"), true);
  assert.match(await hp.textContent("#ctl-people .count"), /^26/);

  // Zed's camera arrives, but his tile is not shown: it is reported 0×0.
  const zedCamera = () =>
    hp.evaluate(() => {
      const m = /** @type {any} */ (window).__convene.meeting;
      const zed = [...m.participants.values()].find((p) => p.display_name === "Zed Last");
      const track = [...m.media.published.values()].find((t) => t.participant_id === zed?.participant_id && t.source === "camera");
      return track ? (m.media.sizes.sent.get(track.track_id) ?? null) : null;
    });
  await hp.waitForFunction(() => {
    const m = /** @type {any} */ (window).__convene.meeting;
    const zed = [...m.participants.values()].find((p) => p.display_name === "Zed Last");
    return [...m.media.published.values()].some((t) => t.participant_id === zed?.participant_id && t.source === "camera" && m.media.sizes.sent.has(t.track_id));
  }, null, { timeout: 20_000 });
  assert.equal(await zedCamera(), "0x0");
  await shot(hp, "room-gallery-26");

  // Page 2: Zed alone, his video playing and reported at its size; back to page 1 on ‹.
  await hp.click("#page-next");
  await hp.waitForFunction(() => document.querySelector(".pager-label")?.textContent?.includes("2/2"));
  assert.deepEqual(await hp.locator(".grid .tile").evaluateAll((ts) => ts.map((t) => /** @type {HTMLElement} */ (t).dataset.name)), ["Zed Last"]);
  assert.equal(await hp.isDisabled("#page-next"), true);
  await hp.waitForFunction(() => {
    const v = document.querySelector(".tile[data-name='Zed Last'] video[data-source='camera']");
    return v instanceof HTMLVideoElement && v.videoWidth > 0 && !v.paused;
  }, null, { timeout: 20_000 });
  await hp.waitForFunction(() => {
    const m = /** @type {any} */ (window).__convene.meeting;
    const v = /** @type {HTMLElement | null} */ (document.querySelector(".tile[data-name='Zed Last'] video[data-track]"));
    const size = v ? m.media.sizes.sent.get(v.dataset.track) : null;
    return !!size && size !== "0x0";
  }, null, { timeout: 5_000 });
  await hp.click("#page-prev");
  await hp.waitForFunction(() => document.querySelector(".pager-label")?.textContent?.includes("1/2"));
  await hp.waitForFunction(() => {
    const m = /** @type {any} */ (window).__convene.meeting;
    return [...m.media.sizes.sent.values()].includes("0x0");
  });
  assert.equal(await zedCamera(), "0x0");

  // Bots leave: one page again, 2 tiles.
  await bots.page.evaluate(() => /** @type {any} */ (window).__bots.forEach((/** @type {WebSocket} */ ws) => ws.send(JSON.stringify({ type: "leave" }))));
  // (The pager hides as soon as 25 remain; wait for the last bot to be gone.)
  await hp.waitForFunction(() => document.querySelectorAll(".grid .tile").length === 2, null, { timeout: 20_000 });
  await hp.waitForSelector(".pager", { state: "hidden", timeout: 5_000 });
  for (const x of [h, bots, z]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});
