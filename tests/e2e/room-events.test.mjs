// What the room shows around the edges of a meeting: the microphone and camera menus, the
// reconnecting banner while the network is gone (and the seat kept), the "ends in 5 minutes"
// style warning before a duration limit, and the ended screen with its reason.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

let server, browser, host;
before(async () => {
  server = await startServer();
  browser = await launch();
  host = await account(server.base, "nell");
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("device menus, a network blip with the reconnecting banner, the time-limit warning and end", async () => {
  // One minute: the warning comes at half time (30 s left), the end at 60 s.
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Stand-up", settings: { allow_guests: true, duration_limit_minutes: 1 } }),
  });
  const meeting = await r.json();
  const link = `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link);
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const g = await newPage(browser);
  // Otto's signaling goes through a switchable "network": cut() drops the open connection at
  // both ends (the server sees it go, as when a Wi-Fi drops) and, while `down`, refuses new
  // ones. Chromium's offline emulation leaves an open WebSocket alone, so it cannot do this.
  let down = false;
  /** @type {Set<{page: import("playwright-core").WebSocketRoute, server: import("playwright-core").WebSocketRoute, live: boolean}>} */
  const links = new Set();
  await g.page.routeWebSocket(/\/ws\?/, (ws) => {
    if (down) return ws.close({ code: 1006, reason: "network down" });
    const link = { page: ws, server: ws.connectToServer(), live: true };
    // Relayed by hand so that nothing is relayed once the link is cut: Playwright's own relay
    // could hand the page a message after its end closed, which throws in the page ("WebSocket
    // is already in CLOSING or CLOSED state") — a message no real network would deliver.
    link.server.onMessage((m) => link.live && ws.send(m));
    ws.onMessage((m) => link.live && link.server.send(m));
    links.add(link);
  });
  const cut = async (code = 1006, reason = "network down") => {
    down = code === 1006;
    for (const l of links) {
      l.live = false;
      await l.server.close();
      await l.page.close({ code, reason });
    }
    links.clear();
  };
  await g.page.goto(link);
  await g.page.fill("#pj-name", "Otto");
  await g.page.click("text=Join now");
  await h.page.waitForSelector(".tile[data-name='Otto']");
  const gp = g.page;

  // The microphone menu: opened by its caret, lists the microphones with the one in use
  // checked, moves by arrow keys, closes on Escape with focus back on the caret.
  await gp.click("#ctl-microphone-devices");
  const mics = gp.locator("#microphone-menu [role='menuitemradio']");
  await mics.first().waitFor();
  assert.ok((await mics.count()) >= 1);
  assert.equal(await gp.locator("#microphone-menu [role='menuitemradio'][aria-checked='true']").count(), 1);
  assert.equal(await gp.evaluate(() => document.activeElement?.getAttribute("aria-checked")), "true", "the current microphone has focus");
  assert.equal(await gp.getAttribute("#ctl-microphone-devices", "aria-expanded"), "true");
  await shot(gp, "room-mic-menu");
  await gp.keyboard.press("Escape");
  await gp.waitForSelector("#microphone-menu", { state: "hidden" });
  assert.equal(await gp.evaluate(() => document.activeElement?.id), "ctl-microphone-devices");
  // Tab moves on to the camera button and its caret; ArrowUp there opens the camera menu at
  // its last entry; Tab leaves it closed.
  await gp.keyboard.press("Tab");
  assert.equal(await gp.evaluate(() => document.activeElement?.id), "ctl-cam");
  await gp.keyboard.press("Tab");
  assert.equal(await gp.evaluate(() => document.activeElement?.id), "ctl-camera-devices");
  await gp.keyboard.press("ArrowUp");
  await gp.waitForSelector("#camera-menu [role='menuitemradio']:focus");
  assert.equal(await gp.getAttribute("#ctl-microphone-devices", "aria-expanded"), "false");
  await gp.keyboard.press("Tab");
  await gp.waitForSelector("#camera-menu", { state: "hidden" });

  // The network goes away: Otto sees the reconnecting banner, Nell sees Otto reconnecting
  // (his seat kept, no leave). Back online, Otto resumes the same seat.
  const ottoPid = await h.page.getAttribute(".tile[data-name='Otto']", "data-pid");
  await cut();
  await gp.waitForSelector(".room-banner.banner-error:has-text('Reconnecting')");
  await h.page.waitForSelector(".tile[data-name='Otto'].dim .pill:has-text('Reconnecting')");
  await gp.waitForTimeout(1500); // a few refused attempts while the network is down
  assert.equal(await gp.isVisible(".room-banner.banner-error"), true);
  await shot(gp, "room-reconnecting");
  down = false;
  await gp.waitForSelector(".room-banner", { state: "hidden", timeout: 20_000 });
  await gp.waitForSelector(".toast:has-text('Reconnected')");
  await h.page.waitForSelector(".tile[data-name='Otto']:not(.dim)");
  assert.equal(await h.page.getAttribute(".tile[data-name='Otto']", "data-pid"), ottoPid, "the same seat");
  assert.equal(await h.page.locator(".tile").count(), 2);
  assert.equal(await h.page.locator(".toast:has-text('Otto left')").count(), 0);

  // A close with 4002 (the server dropped a connection that fell behind) is resumed too.
  await gp.waitForSelector(".toast:has-text('Reconnected')", { state: "detached" });
  await cut(4002, "too slow");
  await gp.waitForSelector(".toast:has-text('Reconnected')");
  await gp.waitForSelector(".room-banner", { state: "hidden" });
  await h.page.waitForSelector(".tile[data-name='Otto']:not(.dim)");
  assert.equal(await h.page.getAttribute(".tile[data-name='Otto']", "data-pid"), ottoPid);

  // Half a minute before the limit: the warning banner, for both.
  for (const p of [h.page, gp]) await p.waitForSelector(".room-banner.banner-warning:not([hidden])", { timeout: 45_000 });
  assert.match(await gp.textContent(".room-banner"), /end/i);
  await shot(gp, "room-ending-soon");

  // At the limit: everyone gets the ended screen with the reason.
  for (const p of [h.page, gp]) {
    await p.waitForSelector("#ended[data-why='ended']", { timeout: 45_000 });
    assert.match(await p.textContent("#ended"), /time limit/i);
  }
  await shot(gp, "ended-time-limit");
  for (const x of [h, g]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});
