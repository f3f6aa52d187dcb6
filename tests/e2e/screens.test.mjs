// A tour of every screen at 1280×720 and on a phone (390×844), saved to
// target/screenshots/tour/ as <screen>.png and <screen>-phone.png for review: sign in, home, schedule dialog, settings,
// pre-join, waiting room, the room (gallery, speaker view, screen share, chat, participants)
// and the ended screen. On each screen, at both sizes, nothing may stick out sideways and the
// control bar must fit on one screen, and every visible button must have a name.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startServer, launch, newPage, shot, account, signInPage, SCREENSHOTS } from "./harness.mjs";

const DESKTOP = { width: 1280, height: 720 };
const PHONE = { width: 390, height: 844 };

let server, browser, host;
before(async () => {
  server = await startServer();
  browser = await launch();
  host = await account(server.base, "tara");
  mkdirSync(join(SCREENSHOTS, "tour"), { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** What sticks out of the viewport sideways (element descriptions), and whether the control bar fits. */
function overflow(page) {
  return page.evaluate(() => {
    const out = [];
    const vw = document.documentElement.clientWidth;
    for (const el of document.querySelectorAll("body *")) {
      if (!(el instanceof HTMLElement) || el.closest("[hidden], .grid.strip, .attendance, .chat-list, .react-menu, .reactions, .visually-hidden, .skip")) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > vw + 1 || r.left < -1) out.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}.${[...el.classList].join(".")} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    const unnamed = [...document.querySelectorAll("button, [role='button'], a[href]")]
      .filter((b) => b instanceof HTMLElement && b.offsetParent !== null && !(b.getAttribute("aria-label") || b.textContent?.trim() || b.getAttribute("title")))
      .map((b) => b.outerHTML.slice(0, 80));
    const bar = document.querySelector(".controls");
    const barFits = !bar || bar.getBoundingClientRect().bottom <= window.innerHeight + 1;
    return { out: out.slice(0, 5), barFits, unnamed, scrollX: document.documentElement.scrollWidth > vw + 1 };
  });
}

/** Layout problems found on the way (all screens are shot before the test fails). */
const problems = [];

/** Screenshots the page at both sizes (desktop first, then phone, then back) and checks the layout. */
async function both(page, name) {
  for (const [size, suffix] of [[DESKTOP, ""], [PHONE, "-phone"]]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(250);
    const o = await overflow(page);
    if (o.out.length) problems.push(`${name}${suffix}: sticks out sideways: ${o.out.join(", ")}`);
    if (o.scrollX) problems.push(`${name}${suffix}: scrolls sideways`);
    if (!o.barFits) problems.push(`${name}${suffix}: the control bar is off screen`);
    if (o.unnamed.length) problems.push(`${name}${suffix}: buttons without a name: ${o.unnamed.join(" ")}`);
    await shot(page, `tour/${name}${suffix}`);
  }
  await page.setViewportSize(DESKTOP);
}

test("every screen at 1280×720 and 390×844", async () => {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Weekly product sync", settings: { allow_guests: true } }),
  });
  const meeting = await r.json();
  const link = `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

  const h = await newPage(browser, DESKTOP);
  await h.page.goto(`${server.base}/#/signin`);
  await h.page.waitForSelector("#login");
  await both(h.page, "signin");

  await signInPage(h.page, server.base, host);
  await h.page.goto(`${server.base}/#/`);
  await h.page.waitForSelector(`.meeting:has-text("Weekly product sync")`);
  await both(h.page, "home");
  await h.page.click("text=Schedule");
  await h.page.waitForSelector("dialog #m-title");
  await h.page.fill("#m-title", "Quarterly planning");
  await both(h.page, "schedule");
  await h.page.keyboard.press("Escape");
  await h.page.goto(`${server.base}/#/settings`);
  await h.page.waitForSelector("#s-name");
  await both(h.page, "settings");

  await h.page.goto(link);
  await h.page.waitForSelector("#pj-mic");
  await both(h.page, "prejoin");
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");

  const guests = [];
  for (const name of ["Gus Grant", "Gita Rao"]) {
    const g = await newPage(browser, DESKTOP);
    await g.page.goto(link);
    await g.page.fill("#pj-name", name);
    await g.page.click("text=Join now");
    await g.page.waitForSelector("#room");
    guests.push(g);
  }
  await h.page.waitForFunction(() => [...document.querySelectorAll(".tile video[data-source='camera']")].filter((v) => /** @type {HTMLVideoElement} */ (v).videoWidth > 0).length === 2, null, { timeout: 20_000 });
  await both(h.page, "room");

  await h.page.keyboard.press("g");
  await h.page.waitForSelector("#speaker-stage .tile-large");
  await both(h.page, "room-speaker-view");
  await h.page.keyboard.press("g");

  await guests[0].page.click("#ctl-share");
  await h.page.waitForFunction(() => {
    const v = document.querySelector("#screen-stage video[data-source='screen']");
    return v instanceof HTMLVideoElement && v.videoWidth > 0;
  }, null, { timeout: 20_000 });
  await both(h.page, "room-screen-share");
  await guests[0].page.click("#ctl-share");
  await h.page.waitForSelector("#screen-stage", { state: "hidden", timeout: 10_000 });

  await guests[1].page.keyboard.press("c");
  await guests[1].page.fill("#chat-input", "Notes are in https://example.com/notes — see you at 3");
  await guests[1].page.press("#chat-input", "Enter");
  await h.page.keyboard.press("c");
  await h.page.waitForSelector(".chat-msg:has-text('Notes are in')");
  await h.page.fill("#chat-input", "Thanks!");
  await h.page.press("#chat-input", "Enter");
  await h.page.waitForSelector(".chat-msg.mine");
  await both(h.page, "room-chat");
  await h.page.keyboard.press("Escape");

  await guests[1].page.keyboard.press("Escape");
  await guests[1].page.keyboard.press("h");
  await h.page.keyboard.press("p");
  await h.page.waitForSelector(".person:has-text('Gita') [aria-label='Hand raised']");
  await both(h.page, "room-participants");
  await h.page.keyboard.press("Escape");

  // The help dialog lists the keyboard shortcuts.
  await h.page.keyboard.press("?");
  await h.page.waitForSelector("dialog .keys");
  const keys = await h.page.locator("dialog .keys kbd").allTextContents();
  for (const k of ["M", "V", "G", "H", "C", "P", "Esc", "?"]) assert.ok(keys.includes(k), `help lists ${k}: ${keys}`);
  await both(h.page, "room-help");
  await h.page.keyboard.press("Escape");

  // A waiting room in another meeting.
  const wr = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Office hours", settings: { allow_guests: true, waiting_room: true, join_before_host: true } }),
  });
  const office = await wr.json();
  const w = await newPage(browser, DESKTOP);
  await w.page.goto(`${server.base}/j/${office.meeting_id}?pwd=${encodeURIComponent(office.passcode)}`);
  await w.page.fill("#pj-name", "Wanda");
  await w.page.click("text=Join now");
  await w.page.waitForSelector("#waiting-room");
  await both(w.page, "waiting-room");

  await h.page.click("#ctl-end");
  await h.page.click("dialog button:text-is('End for all')");
  await guests[0].page.waitForSelector("#ended[data-why='ended']");
  await both(guests[0].page, "ended");

  assert.deepEqual(problems, []);
  for (const x of [h, ...guests, w]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});
