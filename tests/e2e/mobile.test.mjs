// Convene on a phone, in Chromium's mobile emulation (isMobile, touch, 3× pixels): joining,
// the control bar (round, named, ≥ 44 px targets; the rest under "More"), chat as a
// full-screen sheet, raising a hand, switching between two cameras without renegotiating,
// and leaving — upright at 390×844 and on its side at 844×390. Screenshots in
// target/screenshots/mobile-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";
import { REACTIONS } from "../../web/js/types.js";

const PORTRAIT = { width: 390, height: 844 };
const LANDSCAPE = { width: 844, height: 390 };
const PHONE = { isMobile: true, hasTouch: true, deviceScaleFactor: 3 };

let server, browser, host, meeting, link, h;
before(async () => {
  server = await startServer();
  // Three fake cameras, of which the phones below list two (front and back): Chromium's second
  // fake camera delivers 16-bit depth frames (PIXEL_FORMAT_Y16) that WebRTC cannot send.
  browser = await launch(["--use-fake-device-for-media-stream=device-count=3"]);
  host = await account(server.base, "hana");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Stand-up on the go", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
  link = `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
  h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link);
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Counts the publisher's offers, to show that a camera switch sends no new one. */
function countOffers() {
  const native = RTCPeerConnection.prototype.setLocalDescription;
  /** @type {any} */ (window).__offers = 0;
  RTCPeerConnection.prototype.setLocalDescription = function (...args) {
    /** @type {any} */ (window).__offers++;
    return native.apply(this, /** @type {any} */ (args));
  };
}

/**
 * The offers so far, once negotiation has settled (none for 3.5 s): joining two people may still
 * be setting up their direct connection (p2p.js), which is not what a camera switch causes. The
 * server pairs two people once the conditions held for 2 s (live/p2p.rs `SETTLE`), so the
 * direct connection's offer and answer can come ~3 s after the join: a shorter quiet window
 * ended just before them and counted the pairing's answer as the switch's.
 */
async function settledOffers(page) {
  let last = -1;
  for (let quiet = 0, i = 0; quiet < 7 && i < 60; i++) {
    const now = await page.evaluate(() => /** @type {any} */ (window).__offers);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
    await page.waitForTimeout(500);
  }
  return last;
}

/** Hides Chromium's depth-format fake camera (fake_device_1): the phone has the other two. */
function twoCameras() {
  const native = MediaDevices.prototype.enumerateDevices;
  MediaDevices.prototype.enumerateDevices = async function () {
    return (await native.call(this)).filter((d) => d.label !== "fake_device_1");
  };
}

/**
 * Makes the two fake cameras a phone's: the first faces the user, the second the world, as
 * their tracks' settings say and as `facingMode` constraints choose.
 */
function facingCameras() {
  const md = MediaDevices.prototype;
  /** @type {string[]} */
  let ids = [];
  const listed = md.enumerateDevices.call(navigator.mediaDevices).then((all) => (ids = all.filter((d) => d.kind === "videoinput").map((d) => d.deviceId)));
  const gum = md.getUserMedia;
  md.getUserMedia = async function (c) {
    const v = /** @type {any} */ (c?.video);
    if (v && typeof v === "object" && v.facingMode) {
      await listed;
      const { facingMode, ...rest } = v;
      c = { ...c, video: { ...rest, deviceId: { exact: ids[(facingMode.exact ?? facingMode) === "environment" ? 1 : 0] } } };
    }
    return gum.call(this, c);
  };
  const settings = MediaStreamTrack.prototype.getSettings;
  MediaStreamTrack.prototype.getSettings = function () {
    const s = settings.call(this);
    if (this.kind === "video" && ids.length > 1 && ids.includes(s.deviceId ?? "")) s.facingMode = s.deviceId === ids[1] ? "environment" : "user";
    return s;
  };
}

/** A phone page in the meeting, joined as `name` by tapping. */
async function phoneJoins(name, viewport, init = []) {
  const p = await newPage(browser, viewport, PHONE);
  await p.context.addInitScript(countOffers);
  await p.context.addInitScript(twoCameras);
  for (const script of init) await p.context.addInitScript(script);
  await p.page.goto(link);
  await p.page.fill("#pj-name", name);
  await p.page.tap("text=Join now");
  await p.page.waitForSelector("#room");
  // The host's camera arrives.
  await p.page.waitForFunction(() => [...document.querySelectorAll(".tile video[data-source='camera']")].some((v) => /** @type {HTMLVideoElement} */ (v).videoWidth > 0), null, { timeout: 20_000 });
  return p;
}

/** Visible buttons under `selector` smaller than 44×44 CSS px, and ones without a name. */
function smallTargets(page, selector) {
  return page.evaluate((sel) => {
    const small = [];
    const unnamed = [];
    for (const root of document.querySelectorAll(sel)) {
      for (const b of root.querySelectorAll("button, a[href], select, [role='menuitem']")) {
        if (!(b instanceof HTMLElement) || b.closest("[hidden]") || getComputedStyle(b).display === "none") continue;
        const r = b.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        const name = `${b.tagName.toLowerCase()}${b.id ? `#${b.id}` : ""} "${b.getAttribute("aria-label") ?? b.textContent?.trim()}"`;
        if (r.width < 44 || r.height < 44) small.push(`${name} ${Math.round(r.width)}×${Math.round(r.height)}`);
        if (!(b.getAttribute("aria-label") || b.textContent?.trim() || b.getAttribute("title"))) unnamed.push(name);
      }
    }
    return { small, unnamed };
  }, selector);
}

/** The boxes of the bar's visible controls, by id. */
function barBoxes(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll(".controls .ctl, #ctl-leave")]
        .filter((b) => b instanceof HTMLElement && getComputedStyle(b).display !== "none" && b.getBoundingClientRect().width > 0)
        .map((b) => {
          const r = b.getBoundingClientRect();
          return [b.id, { x: Math.round(r.x), y: Math.round(r.y), w: Math.round(r.width), h: Math.round(r.height), bottom: Math.round(r.bottom), right: Math.round(r.right) }];
        }),
    ),
  );
}

/** The deviceId of the camera track the phone's publisher sends. */
function sentCamera(page) {
  return page.evaluate(() => {
    const w = /** @type {any} */ (window);
    // With the background effects, the camera feeds the effect and the sender keeps its track.
    const effects = w.__convene.effects?.camera;
    if (effects?.supported) return effects.source?.readyState === "live" ? effects.source.getSettings().deviceId : null;
    const sender = w.__convene.meeting.media.publisher?.getSenders().find((/** @type {RTCRtpSender} */ s) => s.track?.kind === "video");
    return sender?.track?.getSettings().deviceId ?? null;
  });
}

test("a phone upright (390×844): join, a bar of named round buttons, chat, More, switch camera, leave", async () => {
  const p = await phoneJoins("Pia", PORTRAIT);
  const { page } = p;
  await h.page.waitForSelector('.tile[data-name="Pia"] video', { timeout: 20_000 });

  // The bar: microphone, camera, chat, participants, More and Leave in one row at the bottom,
  // each with its name under it; the rest is under More.
  const bar = await barBoxes(page);
  assert.deepEqual(Object.keys(bar).sort(), ["ctl-cam", "ctl-chat", "ctl-leave", "ctl-mic", "ctl-more", "ctl-people"], JSON.stringify(bar));
  const tops = Object.values(bar).map((b) => b.y);
  assert.ok(Math.max(...tops) - Math.min(...tops) <= 2, `one row: ${JSON.stringify(bar)}`);
  assert.ok(Object.values(bar).every((b) => b.bottom <= PORTRAIT.height && b.x >= 0 && b.right <= PORTRAIT.width), JSON.stringify(bar));
  for (const id of ["ctl-mic", "ctl-cam", "ctl-chat", "ctl-people", "ctl-more"]) {
    const label = await page.textContent(`#${id} .ctl-label`);
    assert.ok(await page.isVisible(`#${id} .ctl-label`), `${id} shows its name`);
    assert.ok((await page.getAttribute(`#${id}`, "aria-label"))?.startsWith(label ?? "?"), `${id}: "${label}" is what it is called`);
  }
  assert.equal(await page.isVisible("#ctl-leave .leave-label"), true);
  assert.deepEqual(await smallTargets(page, ".controls, .room-top"), { small: [], unnamed: [] });
  // Two cameras: the top bar offers to switch.
  assert.equal(await page.isVisible("#ctl-flip"), true);
  await shot(page, "mobile-room");

  // Chat: a full-screen sheet; a message each way.
  await page.tap("#ctl-chat");
  await page.waitForSelector("#chat-input");
  const side = await page.locator(".side").boundingBox();
  assert.deepEqual([side?.x, side?.y, side?.width, side?.height], [0, 0, PORTRAIT.width, PORTRAIT.height]);
  await page.fill("#chat-input", "Running late, on the train");
  await page.tap("[aria-label='Send']");
  await h.page.keyboard.press("c");
  await h.page.waitForSelector(".chat-msg:has-text('Running late, on the train')");
  await h.page.fill("#chat-input", "No problem!");
  await h.page.press("#chat-input", "Enter");
  await page.waitForSelector(".chat-msg:has-text('No problem!')");
  assert.deepEqual(await smallTargets(page, ".side"), { small: [], unnamed: [] });
  await shot(page, "mobile-chat");
  await page.tap("[aria-label='Close panel']");
  await page.waitForSelector(".side", { state: "hidden" });
  await h.page.keyboard.press("Escape");

  // More: the other controls, named, as large targets; raising a hand from it reaches the host.
  await page.tap("#ctl-more");
  await page.waitForSelector("#more-sheet:not([hidden])");
  const entries = await page.$$eval("#more-sheet .more-item", (els) => els.map((e) => e.textContent));
  for (const name of ["Gallery view", "Speaker view"]) if (entries.includes(name)) entries.splice(entries.indexOf(name), 1, "(view)");
  assert.deepEqual(entries, ["(view)", "Raise hand", "Share screen", "Meeting details", "Polls", "Microphone…", "Camera…"]);
  assert.equal(await page.locator("#more-sheet .react-emoji").count(), REACTIONS.length);
  assert.deepEqual(await smallTargets(page, "#more-sheet"), { small: [], unnamed: [] });
  await shot(page, "mobile-more");
  await page.tap("#more-sheet >> text=Raise hand");
  await page.waitForSelector("#more-sheet", { state: "hidden" });
  await h.page.waitForSelector('.tile[data-name="Pia"] .tile-hand');
  // A tap outside closes the sheet without doing anything; so does Escape (back to More).
  await page.tap("#ctl-more");
  await page.waitForSelector("#more-sheet:not([hidden])");
  await page.tap("#room-clock");
  await page.waitForSelector("#more-sheet", { state: "hidden" });
  assert.equal(await page.isVisible(".side"), false);
  await page.tap("#ctl-more");
  await page.waitForSelector("#more-sheet:not([hidden])");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#more-sheet", { state: "hidden" });
  assert.equal(await page.evaluate(() => document.activeElement?.id), "ctl-more");

  // "Camera…" in More opens the camera menu, inside the screen, with targets to tap.
  await page.tap("#ctl-more");
  await page.tap("#more-sheet >> text=Camera…");
  await page.waitForSelector("#camera-menu:not([hidden]) [role='menuitemradio']");
  const menu = await page.locator("#camera-menu").boundingBox();
  assert.ok(menu && menu.x >= 0 && menu.y >= 0 && menu.x + menu.width <= PORTRAIT.width && menu.y + menu.height <= PORTRAIT.height, JSON.stringify(menu));
  assert.deepEqual(await page.$$eval("#camera-menu [role='menuitemradio'][data-device]", (els) => els.map((e) => e.textContent)), ["fake_device_0", "fake_device_2"]);
  assert.deepEqual(await smallTargets(page, "#camera-menu"), { small: [], unnamed: [] });
  await shot(page, "mobile-camera-menu");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#camera-menu", { state: "hidden" });

  // Switch camera: the other camera goes out on the same sender, without a new offer, and the
  // host keeps receiving video.
  const before = await sentCamera(page);
  const offers = await settledOffers(page);
  await page.tap("#ctl-flip");
  for (let i = 0; i < 50 && (await sentCamera(page)) === before; i++) await page.waitForTimeout(200);
  assert.notEqual(await sentCamera(page), before);
  const framesAt = () => h.page.evaluate(() => /** @type {HTMLVideoElement | null} */ (document.querySelector('.tile[data-name="Pia"] video'))?.getVideoPlaybackQuality().totalVideoFrames ?? 0);
  await page.waitForTimeout(1500);
  const framesAfter = await framesAt();
  await h.page.waitForFunction((f) => (/** @type {HTMLVideoElement | null} */ (document.querySelector('.tile[data-name="Pia"] video'))?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > f + 20, framesAfter, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).__offers), offers, "no renegotiation");
  // The local preview shows the new camera.
  assert.equal(
    await page.evaluate(() => {
      const effects = /** @type {any} */ (window).__convene.effects?.camera;
      if (effects?.supported) return effects.source?.getSettings().deviceId;
      return /** @type {any} */ (document.querySelector(".tile video.tile-video:not([data-track])"))?.srcObject?.getVideoTracks()[0]?.getSettings().deviceId;
    }),
    await sentCamera(page),
  );

  // Leave.
  await page.tap("#ctl-leave");
  await page.waitForSelector("#ended");
  assert.equal(await page.textContent("#ended h1"), "You left the meeting");
  await h.page.waitForSelector('.tile[data-name="Pia"]', { state: "detached" });
  assert.deepEqual(p.errors, []);
  await p.context.close();
});

test("a phone on its side (844×390): the bar is a rail on the right, the stage has the height; chat and leave", async () => {
  const p = await phoneJoins("Lars", LANDSCAPE, [facingCameras]);
  const { page } = p;
  const bar = await barBoxes(page);
  assert.deepEqual(Object.keys(bar).sort(), ["ctl-cam", "ctl-chat", "ctl-leave", "ctl-mic", "ctl-more", "ctl-people"], JSON.stringify(bar));
  const xs = Object.values(bar).map((b) => b.x);
  assert.ok(Math.max(...xs) - Math.min(...xs) <= 4 && Math.min(...xs) > LANDSCAPE.width - 90, `a rail on the right: ${JSON.stringify(bar)}`);
  assert.ok(Object.values(bar).every((b) => b.y >= 0 && b.bottom <= LANDSCAPE.height), JSON.stringify(bar));
  assert.deepEqual(await smallTargets(page, ".controls, .room-top"), { small: [], unnamed: [] });
  // The stage takes the height under the top bar and the width beside the rail.
  const stage = await page.locator(".stage").boundingBox();
  assert.ok(stage && stage.height > LANDSCAPE.height - 90 && stage.width > LANDSCAPE.width - 180, JSON.stringify(stage));
  await shot(page, "mobile-landscape");

  // Cameras that say which way they face: Switch camera asks for the other facing; the back
  // camera is not mirrored in my own view, the front one is; no new offer either way.
  const facing = () => page.evaluate(() => {
    const w = /** @type {any} */ (window);
    const effects = w.__convene.effects?.camera;
    const sent = effects?.supported ? effects.source : w.__convene.meeting.media.publisher?.getSenders().find((/** @type {RTCRtpSender} */ s) => s.track?.kind === "video")?.track;
    const preview = /** @type {HTMLVideoElement | null} */ (document.querySelector(".tile video.tile-video:not([data-track])"));
    return { sent: sent?.readyState === "live" ? sent.getSettings().facingMode : null, mirrored: preview?.classList.contains("mirror") ?? null };
  });
  assert.deepEqual(await facing(), { sent: "user", mirrored: true });
  const offers = await settledOffers(page);
  await page.tap("#ctl-flip");
  await page.waitForFunction(() => document.querySelector(".tile video.tile-video:not([data-track])")?.classList.contains("mirror") === false);
  assert.deepEqual(await facing(), { sent: "environment", mirrored: false });
  await page.tap("#ctl-flip");
  await page.waitForFunction(() => document.querySelector(".tile video.tile-video:not([data-track])")?.classList.contains("mirror") === true);
  assert.deepEqual(await facing(), { sent: "user", mirrored: true });
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).__offers), offers, "no renegotiation");

  await page.tap("#ctl-more");
  await page.waitForSelector("#more-sheet:not([hidden])");
  const sheet = await page.locator("#more-sheet").boundingBox();
  assert.ok(sheet && sheet.y >= 0 && sheet.y + sheet.height <= LANDSCAPE.height, JSON.stringify(sheet));
  assert.deepEqual(await smallTargets(page, "#more-sheet"), { small: [], unnamed: [] });
  await shot(page, "mobile-landscape-more");
  await page.keyboard.press("Escape");

  await page.tap("#ctl-chat");
  await h.page.keyboard.press("c");
  await page.fill("#chat-input", "Sideways hello");
  await page.press("#chat-input", "Enter");
  await h.page.waitForSelector(".chat-msg:has-text('Sideways hello')");
  await page.waitForSelector(".chat-msg.mine");
  await shot(page, "mobile-landscape-chat");
  await page.tap("[aria-label='Close panel']");
  await h.page.keyboard.press("Escape");
  await page.tap("#ctl-leave");
  await page.waitForSelector("#ended");
  assert.deepEqual(p.errors, []);
  await p.context.close();
});

test("a phone with one camera has no Switch camera button", async () => {
  const p = await newPage(browser, PORTRAIT, PHONE);
  // This phone's browser lists only its first camera.
  await p.context.addInitScript(() => {
    const native = MediaDevices.prototype.enumerateDevices;
    MediaDevices.prototype.enumerateDevices = async function () {
      const all = await native.call(this);
      const first = all.find((d) => d.kind === "videoinput");
      return all.filter((d) => d.kind !== "videoinput" || d === first);
    };
  });
  await p.page.goto(link);
  await p.page.fill("#pj-name", "Uno");
  await p.page.tap("text=Join now");
  await p.page.waitForSelector("#room");
  await p.page.waitForTimeout(500);
  assert.equal(await p.page.isVisible("#ctl-flip"), false);
  await p.page.tap("#ctl-leave");
  await p.page.waitForSelector("#ended");
  assert.deepEqual(p.errors, []);
  await p.context.close();
});

