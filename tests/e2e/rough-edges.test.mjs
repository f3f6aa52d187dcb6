// The small things a new user trips over (issue 21): joining by code from the signed-out
// landing page, the ID and passcode on the home list and in the meeting's details, toasts that
// stay on their screen, the schedule dialog's buttons at 1280×720, the pre-join screen's title
// and who is there, what the clock counts down to, names that say what buttons show, an
// obvious private-chat recipient, "End for all" through an in-app dialog, the participant
// count on its icon, and videos subscribed at the layer their tile needs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  browser = await launch();
  host = await account(server.base, "hana");
  meeting = await schedule("Roadmap review");
});

/** Scheduled for 30 minutes; the time limit is the server's default, 60. */
async function schedule(title) {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title, start_time: new Date(Date.now() + 3600_000).toISOString(), duration_minutes: 30, settings: { allow_guests: true, peer_to_peer: false } }), // the first-layer check reads the SFU path
  });
  return r.json();
}
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
const spaced = (id) => String(id).replace(/^(\d{3})(\d{3})(\d+)$/, "$1 $2 $3");

/** The page's signaling, both ways, in order (the real WebSocket frames). */
async function recordSignaling(page) {
  const log = [];
  await page.routeWebSocket(/\/ws\?/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      log.push({ dir: "out", msg: JSON.parse(String(m)) });
      server.send(m);
    });
    server.onMessage((m) => {
      log.push({ dir: "in", msg: JSON.parse(String(m)) });
      ws.send(m);
    });
  });
  return log;
}

test("home and landing: join by code signed out, ID + passcode shown and copied, toasts stay home, schedule buttons in view", async () => {
  const h = await newPage(browser, { width: 1280, height: 720 });
  await signInPage(h.page, server.base, host);
  await h.page.goto(`${server.base}/#/`);
  const row = h.page.locator(`.meeting[data-meeting-id='${meeting.meeting_id}']`);
  await row.waitFor();
  assert.equal(await row.locator("[data-code='id']").textContent(), spaced(meeting.meeting_id));
  assert.equal(await row.locator("[data-code='passcode']").textContent(), meeting.passcode);
  await row.locator("[aria-label='Copy invitation for Roadmap review']").click();
  await h.page.waitForSelector(".toast:has-text('Copied')");
  const copied = await h.page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, new RegExp(`Meeting ID: ${spaced(meeting.meeting_id)}`));
  assert.match(copied, new RegExp(`Passcode: ${meeting.passcode}`));
  assert.match(copied, new RegExp(`/j/${meeting.meeting_id}\\?pwd=`));

  // The schedule dialog fits: its buttons are on screen without scrolling the page.
  await h.page.click("text=Schedule");
  await h.page.waitForSelector("dialog #m-title");
  for (const name of ["Schedule", "Close"]) {
    const box = await h.page.locator(`dialog .dialog-actions button:text-is('${name}')`).boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 720, `${name} at ${JSON.stringify(box)}`);
  }
  await shot(h.page, "schedule-1280x720");
  await h.page.keyboard.press("Escape");

  // A toast on the home screen does not follow into the pre-join screen.
  await row.locator("[aria-label='Copy invitation for Roadmap review']").click();
  await h.page.waitForSelector(".toast");
  await row.locator("text=Start").click();
  await h.page.waitForSelector("#pj-mic");
  assert.equal(await h.page.locator(".toast").count(), 0);
  // The host's pre-join names the meeting; nobody is there yet.
  await h.page.waitForSelector("#pj-title:not([hidden])");
  assert.equal(await h.page.textContent("#pj-title"), "Roadmap review");
  assert.equal(await h.page.textContent("#pj-present"), "No one else is here yet");
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");

  // Signed out, `/` offers "Enter a code or link"; a pasted link opens that meeting's pre-join
  // screen, which says who is there.
  const v = await newPage(browser, { width: 1280, height: 720 });
  await v.page.goto(`${server.base}/`);
  await v.page.waitForSelector("#login");
  assert.equal(await v.page.textContent("label[for='join-id']"), "Enter a code or link");
  await v.page.fill("#join-id", "12345");
  await v.page.click(".join-card button[type=submit]");
  assert.match(await v.page.textContent(".join-card .form-error"), /9 to 11 digits/);
  await v.page.fill("#join-id", link());
  await shot(v.page, "landing");
  await v.page.click(".join-card button[type=submit]");
  await v.page.waitForSelector("#pj-name");
  assert.equal(new URL(v.page.url()).pathname, `/j/${meeting.meeting_id}`);
  await v.page.waitForSelector("#pj-present:not([hidden])");
  assert.equal(await v.page.textContent("#pj-title"), "Roadmap review");
  assert.equal(await v.page.textContent("#pj-present"), "Hana is in this meeting");
  await shot(v.page, "prejoin-who-is-here");
  // By the bare ID, the passcode is asked for on the pre-join screen.
  await v.page.goto(`${server.base}/`);
  await v.page.fill("#join-id", spaced(meeting.meeting_id));
  await v.page.click(".join-card button[type=submit]");
  await v.page.waitForSelector("#pj-passcode");
  assert.equal(await v.page.isVisible("#pj-title"), false, "no title before the passcode");
  await v.page.fill("#pj-passcode", meeting.passcode);
  await v.page.press("#pj-passcode", "Tab");
  await v.page.waitForSelector("#pj-title:not([hidden])");
  await v.page.fill("#pj-name", "Vera");
  await v.page.click("text=Join now");
  await v.page.waitForSelector("#room");
  await h.page.waitForSelector(".tile[data-name='Vera']");

  // The preview behind it keeps the passcode rule: missing or wrong is refused, an unknown ID
  // is not found, and with a waiting room only the count is told.
  const preview = (id, body) => fetch(`${server.base}/api/v1/meetings/${id}/preview`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json() }));
  assert.deepEqual(await preview(meeting.meeting_id, { passcode: meeting.passcode }).then((r) => [r.status, r.body.present_count, r.body.present.sort()]), [200, 2, ["Hana", "Vera"]]);
  assert.deepEqual(await preview(meeting.meeting_id, {}).then((r) => [r.status, r.body.error.code]), [403, "passcode_required"]);
  assert.deepEqual(await preview(meeting.meeting_id, { passcode: "nope" }).then((r) => [r.status, r.body.error.code]), [403, "wrong_passcode"]);
  assert.deepEqual(await preview("99999999999", { passcode: "x" }).then((r) => [r.status, r.body.error.code]), [404, "meeting_not_found"]);
  await fetch(`${server.base}/api/v1/meetings/${meeting.meeting_id}`, { method: "PATCH", headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` }, body: JSON.stringify({ settings: { waiting_room: true } }) });
  assert.deepEqual(await preview(meeting.meeting_id, { passcode: meeting.passcode }).then((r) => [r.body.present_count, r.body.present]), [2, []]);
  for (const x of [h, v]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});

test("in the room: the limit, details with ID + passcode, names that follow the state, private chat, End for all, counts, first layer", async () => {
  meeting = await schedule("Design crit");
  const h = await newPage(browser, { width: 1280, height: 800 });
  const hostLog = await recordSignaling(h.page);
  await signInPage(h.page, server.base, host);
  await h.page.goto(`${server.base}/j/${meeting.meeting_id}`); // the host needs no passcode
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const g = await newPage(browser, { width: 1280, height: 800 });
  const guestLog = await recordSignaling(g.page);
  await g.page.goto(link());
  await g.page.fill("#pj-name", "Gita");
  await g.page.click("text=Join now");
  await g.page.waitForSelector("#room");
  await h.page.waitForSelector(".tile[data-name='Gita']");

  // The control bar is one row at 1280 px: the host's (End for all, a dozen buttons) turns
  // icon-only to fit, the guest's fewer buttons keep their names.
  const bar = (page) =>
    page.evaluate(() => {
      const el = /** @type {HTMLElement} */ (document.querySelector("#room .controls"));
      const tops = [...el.querySelectorAll(".ctl, .btn")].filter((b) => b instanceof HTMLElement && b.offsetParent).map((b) => Math.round(b.getBoundingClientRect().top + b.getBoundingClientRect().height / 2));
      const labels = [...el.querySelectorAll(".ctl-label")].filter((l) => l instanceof HTMLElement && l.offsetParent).length;
      // Centres within 20 px of each other: one row (the buttons differ in height, not row).
      return { rows: Math.max(...tops) - Math.min(...tops) < 20 ? 1 : 2, labels, fits: el.scrollWidth <= el.clientWidth };
    });
  await h.page.waitForSelector("#ctl-end:not([hidden])");
  await h.page.waitForFunction(() => document.querySelector("#room .controls")?.classList.contains("compact"));
  assert.deepEqual(await bar(h.page), { rows: 1, labels: 0, fits: true }, "the host's bar: one row of icons");
  await shot(h.page, "host-bar-1280");
  const guestBar = await bar(g.page);
  assert.equal(guestBar.rows, 1, "the guest's bar: one row");
  assert.ok(guestBar.labels >= 8, `the guest's buttons keep their names: ${JSON.stringify(guestBar)}`);
  // Wider, the host's bar has room for the names again.
  await h.page.setViewportSize({ width: 1680, height: 900 });
  await h.page.waitForFunction(() => !document.querySelector("#room .controls")?.classList.contains("compact"));
  assert.equal((await bar(h.page)).rows, 1, "the host's labelled bar at 1680 px: one row");
  await h.page.setViewportSize({ width: 1280, height: 800 });

  // The clock says what it counts down to: the 60-minute limit, not the 30 scheduled.
  await h.page.waitForFunction(() => /left/.test(document.querySelector("#room-clock")?.textContent ?? ""));
  assert.match(await h.page.textContent("#room-clock"), /^(59|60):\d\d left · 60-min limit$/);
  assert.match(await h.page.getAttribute("#room-clock", "aria-label"), /60-minute time limit/);

  // Meeting details (I): link, ID and passcode, each copyable — also for the host, who
  // joined without typing the passcode.
  await h.page.keyboard.press("i");
  await h.page.waitForSelector("#meeting-info");
  assert.equal(await h.page.textContent("#info-id"), spaced(meeting.meeting_id));
  assert.equal(await h.page.textContent("#info-passcode"), meeting.passcode);
  await h.page.click("[aria-label='Copy passcode']");
  assert.equal(await h.page.evaluate(() => navigator.clipboard.readText()), meeting.passcode);
  await shot(h.page, "room-info");
  await h.page.keyboard.press("Escape");
  await g.page.click("#ctl-info");
  assert.equal(await g.page.textContent("#info-passcode"), meeting.passcode);
  await g.page.click("#copy-invitation");
  assert.match(await g.page.evaluate(() => navigator.clipboard.readText()), new RegExp(`Passcode: ${meeting.passcode}`));
  await g.page.keyboard.press("Escape");
  // On a phone the control bar has no room for the details button: the title opens them.
  await g.page.setViewportSize({ width: 390, height: 844 });
  assert.equal(await g.page.isVisible("#ctl-info"), false);
  await g.page.click("#room-title");
  await g.page.waitForSelector("#info-passcode");
  await shot(g.page, "room-info-phone");
  await g.page.keyboard.press("Escape");
  await g.page.waitForSelector("#meeting-info", { state: "hidden" });
  await g.page.setViewportSize({ width: 1280, height: 800 });

  // Raise hand ↔ Lower hand, Share screen ↔ Stop sharing: the accessible name is what shows.
  const named = async (page, sel) => ({ name: await page.getAttribute(sel, "aria-label"), shown: await page.textContent(`${sel} .ctl-label`) });
  assert.deepEqual(await named(g.page, "#ctl-hand"), { name: "Raise hand (H)", shown: "Raise hand" });
  await g.page.keyboard.press("h");
  await g.page.waitForSelector("#ctl-hand[aria-label='Lower hand (H)']");
  assert.deepEqual(await named(g.page, "#ctl-hand"), { name: "Lower hand (H)", shown: "Lower hand" });
  await g.page.click("[aria-label='Lower hand (H)']");
  await g.page.waitForSelector("#ctl-hand[aria-label='Raise hand (H)']");
  await g.page.click("#ctl-share");
  await g.page.waitForSelector("#ctl-share[aria-label='Stop sharing']");
  assert.equal(await g.page.textContent("#ctl-share .ctl-label"), "Stop sharing");
  await g.page.click("[aria-label='Stop sharing']");
  await g.page.waitForSelector("#ctl-share[aria-label='Share screen']");

  // The participant count sits on the icon's top-right corner.
  const icon = await h.page.locator("#ctl-people .icon").boundingBox();
  const count = await h.page.locator("#ctl-people .count").boundingBox();
  assert.equal(await h.page.textContent("#ctl-people .count"), "2");
  assert.ok(icon && count, "both laid out");
  assert.ok(Math.abs(count.x - (icon.x + icon.width / 2)) < 12 && count.y < icon.y + icon.height / 2 && count.y + count.height > icon.y, `count ${JSON.stringify(count)} vs icon ${JSON.stringify(icon)}`);

  // A private recipient stays chosen after sending, and the composer says so; one click goes
  // back to everyone.
  await h.page.keyboard.press("c");
  await h.page.selectOption("#chat-to", { label: "Gita" });
  await h.page.waitForSelector("#chat-private-note");
  await h.page.fill("#chat-input", "Just for you");
  await h.page.press("#chat-input", "Enter");
  await h.page.waitForSelector(".chat-msg.private");
  assert.match(await h.page.textContent("#chat-private-note"), /Private to Gita/);
  assert.equal(await h.page.getAttribute("#chat-input", "aria-label"), "Private message to Gita");
  await shot(h.page, "room-chat-private");
  await h.page.click("#chat-private-note button");
  await h.page.waitForSelector("#chat-private-note", { state: "detached" });
  assert.equal(await h.page.inputValue("#chat-to"), "");
  assert.equal(await h.page.getAttribute("#chat-input", "aria-label"), "Message to everyone");
  await h.page.keyboard.press("Escape");

  // Each camera's first set_video_size goes out before the subscription that carries it is
  // answered, with the tile's size (the host: Gita's camera arrived later, track_published;
  // Gita: the host's camera was there when she came, welcome).
  const order = (log) => {
    const out = [];
    for (const { dir, msg } of log) {
      if (dir === "in" && msg.type === "subscribe_offer") out.push({ offer: msg.offer_id, tracks: msg.tracks.map((t) => t.track_id) });
      if (dir === "out" && msg.type === "subscribe_answer") out.push({ answer: msg.offer_id });
      if (dir === "out" && msg.type === "set_video_size") out.push({ size: msg.track_id, width: msg.width, height: msg.height });
    }
    return out;
  };
  const cameraOf = async (page, name) => page.getAttribute(`.tile[data-name='${name}'] video[data-source='camera']`, "data-track");
  await h.page.waitForSelector(".tile[data-name='Gita'] video[data-source='camera']", { timeout: 20_000 });
  await g.page.waitForSelector(".tile[data-name='Hana'] video[data-source='camera']", { timeout: 20_000 });
  // With slot subscriptions (docs/protocol.md §2e: one offer, no tracks in it) there is no
  // offer to answer per camera: the size goes out as soon as the camera is announced (welcome
  // or track_published), before anything else the page says but its p2p capability and state.
  for (const [log, track] of [[hostLog, await cameraOf(h.page, "Gita")], [guestLog, await cameraOf(g.page, "Hana")]]) {
    const seq = order(log);
    const sized = seq.findIndex((e) => e.size === track);
    if (log.some(({ msg }) => msg.type === "slot_map")) {
      const announced = log.findIndex(({ dir, msg }) => dir === "in" && (msg.type === "welcome" ? msg.tracks.some((t) => t.track_id === track) : msg.type === "track_published" && msg.track.track_id === track));
      const firstSize = log.findIndex(({ dir, msg }) => dir === "out" && msg.type === "set_video_size" && msg.track_id === track);
      const before = log.slice(announced + 1, firstSize).filter(({ dir, msg }) => dir === "out" && !["p2p_capable", "set_state"].includes(msg.type));
      assert.ok(announced >= 0 && firstSize > announced && before.length === 0, `${track}: ${JSON.stringify(log.map(({ dir, msg }) => [dir, msg.type]))}`);
    } else {
      const offer = seq.find((e) => e.tracks?.includes(track));
      const answered = seq.findIndex((e) => e.answer === offer?.offer);
      assert.ok(sized >= 0 && answered >= 0 && sized < answered, `${track}: ${JSON.stringify(seq)}`);
    }
    assert.ok(seq[sized].width > 320, `a 1280×800 two-person gallery wants more than the lowest layer: ${JSON.stringify(seq[sized])}`);
  }

  // End for all asks in the page (no browser confirm): Cancel keeps the meeting, "End for all"
  // ends it for everyone.
  await h.page.click("#ctl-end");
  await h.page.waitForSelector("dialog[open] button:text-is('Leave')");
  assert.equal(await h.page.locator("dialog[open] button:text-is('End for all')").count(), 1);
  await shot(h.page, "room-end-dialog");
  await h.page.click("dialog[open] button:text-is('Cancel')");
  await h.page.waitForSelector("dialog", { state: "detached" });
  assert.equal(await h.page.isVisible("#room"), true);
  await h.page.click("#ctl-end");
  await h.page.click("dialog[open] button:text-is('End for all')");
  for (const p of [h.page, g.page]) await p.waitForSelector("#ended[data-why='ended']");
  for (const x of [h, g]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});

test("a module lost on the way: the page says so and offers Reload instead of staying blank; Reload brings the app", async () => {
  const { context, page, errors } = await newPage(browser);
  // One of the app's modules (pulled in by app.js's imports) fails, as when the device changes
  // networks mid-load; this is the first load, before a service worker could have kept it.
  let cut = true;
  await context.route("**/js/ui/home.js", (route) => (cut ? route.abort("internetdisconnected") : route.continue()));
  await page.goto(server.base);
  const alert = page.getByRole("alert").filter({ hasText: "Convene didn't finish loading" });
  await alert.waitFor({ timeout: 10_000 });
  const reload = page.getByRole("button", { name: "Reload" });
  assert.ok(await reload.evaluate((b) => b === document.activeElement), "Reload has the focus");
  const box = await reload.boundingBox();
  assert.ok(box && box.height >= 44, `a touch-sized button: ${JSON.stringify(box)}`);
  await shot(page, "boot-failed");
  cut = false;
  await reload.click();
  await page.getByRole("heading", { name: "Sign in" }).or(page.getByRole("button", { name: "Join" }).first()).first().waitFor({ timeout: 10_000 });
  assert.equal(await alert.count(), 0);
  // Only the cut module's load is reported, nothing else went wrong.
  assert.deepEqual(errors.filter((e) => !/Failed to load resource: net::ERR_INTERNET_DISCONNECTED/.test(e)), []);
  await context.close();
});
