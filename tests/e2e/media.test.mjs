// Real media through Convene's SFU: three Chromiums with fake camera and microphone meet; each
// must decode the other two cameras (framesDecoded growing on its subscribing connection,
// video elements playing) and receive their audio; camera off/on, the active speaker, a screen
// share that takes the others' stage, and the restart a page does when ICE fails.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage, toneWav } from "./harness.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  // A steady tone instead of the default fake microphone's short beeps, so someone speaks.
  // Three fake cameras so a device switch really switches (fake_device_1 is a Y16 depth camera
  // WebRTC cannot encode; fake_device_2 sends MJPEG).
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`, "--use-fake-device-for-media-stream=device-count=3"]);
  host = await account(server.base, "mona");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Design review", settings: { allow_guests: true, peer_to_peer: false } }), // the SFU path is the subject: no peer-to-peer while two are alone
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

/** Inbound RTP counters of the page's subscribing connection, by kind. */
function inbound(page) {
  return page.evaluate(async () => {
    const pc = /** @type {any} */ (window).__convene?.meeting.media.subscriber;
    if (!pc) return { video: [], audio: [], state: "none" };
    const stats = await pc.getStats();
    const video = [];
    const audio = [];
    stats.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") video.push({ mid: s.mid, framesDecoded: s.framesDecoded ?? 0, width: s.frameWidth ?? 0 });
      else audio.push({ mid: s.mid, bytesReceived: s.bytesReceived ?? 0 });
    });
    return { video, audio, state: pc.connectionState };
  });
}

/** Remote camera videos in tiles that show frames and whose time advances. */
function playingCameras(page) {
  return page.evaluate(async () => {
    const videos = [...document.querySelectorAll(".tile video[data-source='camera']")];
    const before = videos.map((v) => v.currentTime);
    await new Promise((r) => setTimeout(r, 500));
    return videos.filter((v, i) => v.videoWidth > 0 && !v.paused && v.currentTime > before[i]).length;
  });
}

test("three browsers see and hear each other through the SFU; a screen share takes the stage", async () => {
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
  const all = [h, ...guests];

  // Every browser shows the other two cameras playing in their tiles.
  for (const x of all) {
    await x.page.waitForFunction(
      () => [...document.querySelectorAll(".tile video[data-source='camera']")].filter((v) => v.videoWidth > 0).length === 2,
      null,
      { timeout: 20_000 },
    );
    assert.equal(await playingCameras(x.page), 2);
  }

  // …and decodes them: framesDecoded > 0 and growing on two video streams, audio bytes growing.
  const first = await Promise.all(all.map((x) => inbound(x.page)));
  await h.page.waitForTimeout(1500);
  const second = await Promise.all(all.map((x) => inbound(x.page)));
  for (let i = 0; i < all.length; i++) {
    const [a, b] = [first[i], second[i]];
    assert.equal(b.state, "connected");
    const decoding = b.video.filter((v) => v.framesDecoded > (a.video.find((w) => w.mid === v.mid)?.framesDecoded ?? 0) && v.framesDecoded > 0);
    assert.equal(decoding.length, 2, `browser ${i}: ${JSON.stringify(b.video)}`);
    const hearing = b.audio.filter((v) => v.bytesReceived > (a.audio.find((w) => w.mid === v.mid)?.bytesReceived ?? 0));
    assert.equal(hearing.length, 2, `browser ${i}: ${JSON.stringify(b.audio)}`);
    assert.equal(await all[i].page.locator(".remote-audio audio").count(), 2);
  }
  await shot(h.page, "room-video");

  // Active speaker: someone's tile lights up (every fake microphone plays the tone).
  await h.page.waitForSelector(".tile.speaking", { timeout: 10_000 });

  // Gita turns her camera off: her tile shows her avatar (the hidden video is reported 0×0,
  // so the SFU stops sending it); back on, her video plays again for Mona.
  const gitaVideo = ".tile[data-name='Gita'] video[data-source='camera']";
  await guests[1].page.keyboard.press("v");
  await h.page.waitForSelector(`.tile[data-name='Gita'] .avatar`);
  assert.equal(await h.page.locator(gitaVideo).count(), 0);
  await guests[1].page.keyboard.press("v");
  await h.page.waitForSelector(gitaVideo);
  await h.page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    if (!(v instanceof HTMLVideoElement)) return false;
    const w = /** @type {any} */ (window);
    const before = w.__gitaFrames ?? -1;
    const now = v.getVideoPlaybackQuality().totalVideoFrames;
    w.__gitaFrames = now;
    return before >= 0 && now > before && v.videoWidth > 0;
  }, gitaVideo, { timeout: 10_000, polling: 300 });

  // Gus shares his screen: it takes the stage for Mona and Gita, the tiles move to a strip.
  const [gus, gita] = guests;
  await gus.page.click("#ctl-share");
  for (const x of [h, gita]) {
    await x.page.waitForFunction(() => {
      const v = document.querySelector("#screen-stage video[data-source='screen']");
      return v instanceof HTMLVideoElement && v.videoWidth > 0 && !v.paused;
    }, null, { timeout: 20_000 });
    assert.match(await x.page.textContent("#screen-stage"), /Gus is presenting/);
    assert.equal(await x.page.locator(".grid.strip .tile").count(), 3);
  }
  await gus.page.waitForSelector("#screen-stage video[data-source='my-screen']");
  await h.page.waitForTimeout(500);
  await shot(h.page, "room-screen-share");

  // He stops: the stage goes away everywhere.
  await gus.page.click("#ctl-share");
  for (const x of [h, gita, gus]) await x.page.waitForSelector("#screen-stage", { state: "hidden", timeout: 10_000 });
  assert.equal(await playingCameras(gita.page), 2);

  // Gita opens the camera menu (both fake cameras listed, the current one checked); Escape
  // closes it. Then, by keyboard only, she switches to the other camera: her preview plays the
  // new track and Mona keeps decoding her camera on the same track (no renegotiation).
  const gp = gita.page;
  // The camera that feeds her video: through the background effects (web/js/effects), whose
  // output track stays the same for the session, or straight into the preview.
  const cameraLabel = () =>
    gp.evaluate(() => {
      const source = /** @type {any} */ (window).__convene.effects?.camera?.source;
      const v = /** @type {HTMLVideoElement} */ (document.querySelector(".tile video.mirror"));
      return source?.label ?? /** @type {MediaStream} */ (v.srcObject).getVideoTracks()[0]?.label;
    });
  const preview = async () => {
    const playing = await gp.evaluate(async () => {
      const v = /** @type {HTMLVideoElement} */ (document.querySelector(".tile video.mirror"));
      const t0 = v.currentTime;
      await new Promise((r) => setTimeout(r, 400));
      return v.videoWidth > 0 && !v.paused && v.currentTime > t0;
    });
    return { label: await cameraLabel(), playing };
  };
  assert.deepEqual(await preview(), { label: "fake_device_0", playing: true });
  await gp.click("#ctl-camera-devices");
  const items = gp.locator("#camera-menu [role='menuitemradio'][data-device]");
  await items.first().waitFor();
  assert.deepEqual(await items.allTextContents(), ["fake_device_0", "fake_device_1", "fake_device_2"]);
  assert.equal(await gp.textContent("#camera-menu [data-device][aria-checked='true']"), "fake_device_0");
  assert.equal(await gp.getAttribute("#ctl-camera-devices", "aria-expanded"), "true");
  await gp.waitForTimeout(200);
  await shot(gp, "room-device-menu");
  await gp.keyboard.press("Escape");
  await gp.waitForSelector("#camera-menu", { state: "hidden" });
  assert.equal(await gp.evaluate(() => document.activeElement?.id), "ctl-camera-devices");
  assert.equal(await gp.locator("#screen-stage").isHidden(), true);
  const gitaTrack = await h.page.getAttribute(gitaVideo, "data-track");
  await gp.keyboard.press("ArrowDown"); // opens, first device focused
  await gp.waitForSelector("#camera-menu [role='menuitemradio']:focus");
  assert.equal(await gp.evaluate(() => document.activeElement?.textContent), "fake_device_0");
  await gp.keyboard.press("ArrowUp"); // wraps to the last item (the last background)
  assert.equal(await gp.evaluate(() => document.activeElement?.hasAttribute("data-background")), true);
  await gp.keyboard.press("Home");
  await gp.keyboard.press("ArrowDown");
  await gp.keyboard.press("ArrowDown");
  assert.equal(await gp.evaluate(() => document.activeElement?.textContent), "fake_device_2");
  await gp.keyboard.press("Enter");
  await gp.waitForSelector("#camera-menu", { state: "hidden" });
  await gp.waitForFunction(() => {
    const source = /** @type {any} */ (window).__convene.effects?.camera?.source;
    return (source?.label ?? /** @type {MediaStream} */ (document.querySelector(".tile video.mirror")?.srcObject)?.getVideoTracks()[0]?.label) === "fake_device_2";
  });
  assert.deepEqual(await preview(), { label: "fake_device_2", playing: true });
  await h.page.evaluate(() => delete /** @type {any} */ (window).__gitaFrames);
  await h.page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    if (!(v instanceof HTMLVideoElement)) return false;
    const w = /** @type {any} */ (window);
    const before = w.__gitaFrames ?? -1;
    w.__gitaFrames = v.getVideoPlaybackQuality().totalVideoFrames;
    return before >= 0 && w.__gitaFrames > before;
  }, gitaVideo, { timeout: 10_000, polling: 300 });
  assert.equal(await h.page.getAttribute(gitaVideo, "data-track"), gitaTrack);
  // The menu now checks the new camera; a click elsewhere closes it.
  await gp.click("#ctl-camera-devices");
  await gp.waitForSelector("#camera-menu [role='menuitemradio']");
  assert.equal(await gp.textContent("#camera-menu [aria-checked='true']"), "fake_device_2");
  await gp.mouse.click(640, 200);
  await gp.waitForSelector("#camera-menu", { state: "hidden" });

  // Speaker view (G): one large tile, the other two in a strip; G again: the gallery.
  await h.page.keyboard.press("g");
  await h.page.waitForSelector("#speaker-stage .tile.tile-large");
  assert.equal(await h.page.locator(".tile-large").count(), 1);
  assert.equal(await h.page.locator(".grid.strip .tile").count(), 2);
  assert.notEqual(await h.page.getAttribute(".tile-large", "data-name"), "Mona", "speaker view shows someone else large");
  await h.page.waitForFunction(() => {
    const v = document.querySelector(".tile-large video");
    return v instanceof HTMLVideoElement && v.videoWidth > 0 && !v.paused;
  }, null, { timeout: 10_000 });
  await h.page.waitForTimeout(300);
  await shot(h.page, "room-speaker-view");
  await h.page.keyboard.press("g");
  await h.page.waitForSelector("#speaker-stage", { state: "hidden" });
  assert.equal(await h.page.locator(".grid:not(.strip) .tile").count(), 3);

  // A window too small for three tiles pages the gallery ("1/2" or "1/3"), and the cameras
  // whose tiles are on another page are reported 0×0 (the SFU sends nothing for them); the
  // last page shows them.
  // (300 px wide: one 160 px column, whatever the phone layout's bar takes.)
  await h.page.setViewportSize({ width: 300, height: 420 });
  await h.page.waitForSelector(".pager:not([hidden])");
  const pages = Number((await h.page.textContent(".pager-label"))?.match(/1\/(\d)/)?.[1]);
  assert.ok(pages >= 2, `pages: ${pages}`);
  const offPage = () =>
    h.page.evaluate(() => {
      const media = /** @type {any} */ (window).__convene.meeting.media;
      const shown = new Set([...document.querySelectorAll(".tile")].map((t) => /** @type {HTMLElement} */ (t).dataset.pid));
      return [...media.published.values()].filter((t) => t.source === "camera" && !shown.has(t.participant_id) && t.participant_id !== /** @type {any} */ (window).__convene.meeting.me).map((t) => media.sizes.sent.get(t.track_id));
    });
  const onPage = await h.page.locator(".tile").count();
  assert.ok(onPage < 3);
  await h.page.waitForTimeout(600); // set_video_size is debounced
  const hidden = await offPage();
  assert.ok(hidden.length >= 1);
  assert.deepEqual(hidden, hidden.map(() => "0x0"));
  await shot(h.page, "room-gallery-pages");
  for (let i = 1; i < pages; i++) await h.page.click("#page-next");
  await h.page.waitForFunction((n) => document.querySelector(".pager-label")?.textContent?.includes(`${n}/${n}`), pages);
  assert.equal(await h.page.isDisabled("#page-next"), true);
  await h.page.waitForTimeout(600);
  assert.ok((await offPage()).every((s) => s === "0x0"));
  // …and the cameras shown on the last page are reported at their size again.
  const shownSizes = await h.page.evaluate(() => {
    const media = /** @type {any} */ (window).__convene.meeting.media;
    return [...document.querySelectorAll(".tile video[data-track]")].map((v) => media.sizes.sent.get(/** @type {HTMLElement} */ (v).dataset.track));
  });
  assert.ok(shownSizes.length >= 1 && shownSizes.every((s) => s && s !== "0x0"), JSON.stringify(shownSizes));
  await h.page.setViewportSize({ width: 1280, height: 800 });
  await h.page.waitForSelector(".pager", { state: "hidden" });
  assert.equal(await h.page.locator(".tile").count(), 3);

  // What Gus's page does when ICE fails: both connections anew, publish_offer with
  // `restart: true`. Mona sees his camera again and he sees both of theirs.
  const gusCamera = () => h.page.getAttribute(".tile[data-name='Gus'] video[data-source='camera']", "data-track");
  const oldTrack = await gusCamera();
  await gus.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.media.restart());
  await h.page.waitForFunction(
    (old) => {
      const v = document.querySelector(".tile[data-name='Gus'] video[data-source='camera']");
      return v instanceof HTMLVideoElement && v.dataset.track !== old && v.videoWidth > 0;
    },
    oldTrack,
    { timeout: 20_000 },
  );
  await gus.page.waitForFunction(() => /** @type {any} */ (window).__convene.meeting.media.subscriber?.connectionState === "connected", null, { timeout: 20_000 });
  for (const x of all) {
    await x.page.waitForFunction(
      () => [...document.querySelectorAll(".tile video[data-source='camera']")].filter((v) => v.videoWidth > 0).length === 2,
      null,
      { timeout: 20_000 },
    );
    assert.equal(await playingCameras(x.page), 2);
  }

  for (const x of all) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});
