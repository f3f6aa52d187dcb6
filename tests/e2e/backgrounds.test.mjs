// Camera backgrounds, judged where it counts: in the encoded video another participant
// receives through the SFU. Chromium's fake camera plays a made-up person (a head and
// shoulders) in front of a fine checkerboard. The host's stored default background (Blur) is
// applied from the pre-join screen on; in the room the camera menu switches to None, back to
// Blur and to a built-in image, live: the guest sees the checkerboard's high-frequency energy
// drop under blur and the image's colours appear, while the host's sender keeps one track and
// its three simulcast layers (no renegotiation).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A y4m of a head and shoulders in front of a 3-pixel checkerboard (1 s, looped by Chromium). */
function personVideo() {
  const path = join(ROOT, "target", "e2e-person-640x360.y4m");
  if (existsSync(path)) return path;
  const head = "lt(hypot((X-320)/62,(Y-125)/80),1)";
  const body = `bitor(${head},bitor(bitand(gt(Y,195),lt(abs(X-320),28)),bitand(gt(Y,225),lt(abs(X-320),min(175,40+(Y-225)*2.2)))))`;
  const r = spawnSync("ffmpeg", [
    "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "nullsrc=s=640x360:r=30,format=gray,geq=lum='if(mod(floor(X/3)+floor(Y/3),2),215,35)',format=yuv420p",
    "-f", "lavfi", "-i", `color=c=0x1f3f7a:s=640x360:r=30,format=rgba,geq=r='if(${head},215,40)':g='if(${head},160,55)':b='if(${head},125,110)':a='255*${body}'`,
    "-filter_complex", "[1]format=rgba[p];[0][p]overlay=format=auto,format=yuv420p",
    "-t", "1", "-pix_fmt", "yuv420p", path,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return path;
}

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  browser = await launch([`--use-file-for-fake-video-capture=${personVideo()}`]);
  host = await account(server.base, "bianca");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Backgrounds", settings: { allow_guests: true, peer_to_peer: false } }), // the SFU sender's one track is checked
  });
  meeting = await r.json();
  // The stored setting: Settings → Default background → Blur.
  const patch = await fetch(`${server.base}/api/v1/users/me`, { method: "PATCH", headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` }, body: JSON.stringify({ default_background: "blur" }) });
  assert.equal(patch.status, 200);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

/**
 * What the guest decodes of the host's camera: the background's high-frequency energy (mean
 * absolute difference of neighbouring pixels, left fifth of the picture), its mean colour
 * there, and the colour at the head's centre.
 */
function received(page, selector = ".tile video[data-source='camera']") {
  return page.evaluate((selector) => {
    const v = /** @type {HTMLVideoElement | null} */ (document.querySelector(selector));
    if (!v || !v.videoWidth) return null;
    const w = v.videoWidth;
    const h = v.videoHeight;
    const c = document.createElement("canvas");
    c.width = w;
    c.height = h;
    const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
    ctx.drawImage(v, 0, 0);
    const d = ctx.getImageData(0, 0, w, h).data;
    const lum = (x, y) => {
      const i = (y * w + x) * 4;
      return 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    };
    let hf = 0;
    let n = 0;
    const rgb = [0, 0, 0];
    for (let y = Math.round(h * 0.05); y < Math.round(h * 0.6); y++)
      for (let x = 1; x < Math.round(w * 0.2); x++) {
        hf += Math.abs(lum(x, y) - lum(x - 1, y));
        const i = (y * w + x) * 4;
        rgb[0] += d[i];
        rgb[1] += d[i + 1];
        rgb[2] += d[i + 2];
        n++;
      }
    const hi = (Math.round(h * 0.35) * w + Math.round(w / 2)) * 4;
    return { w, h, hf: hf / n, bg: rgb.map((x) => x / n), head: [d[hi], d[hi + 1], d[hi + 2]] };
  }, selector);
}

/** The same region of a built-in image, as it covers a w×h frame. */
function imageRegion(page, url, w, h) {
  return page.evaluate(
    async ({ url, w, h }) => {
      const img = await createImageBitmap(await (await fetch(url)).blob());
      const c = document.createElement("canvas");
      c.width = w;
      c.height = h;
      const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
      const k = Math.max(w / img.width, h / img.height);
      ctx.drawImage(img, (w - img.width * k) / 2, (h - img.height * k) / 2, img.width * k, img.height * k);
      const d = ctx.getImageData(1, Math.round(h * 0.05), Math.round(w * 0.2) - 1, Math.round(h * 0.6) - Math.round(h * 0.05)).data;
      const rgb = [0, 0, 0];
      for (let i = 0; i < d.length; i += 4) for (let k2 = 0; k2 < 3; k2++) rgb[k2] += d[i + k2];
      return rgb.map((x) => x / (d.length / 4));
    },
    { url, w, h },
  );
}

/** Polls `received` until `ok` holds (frames are slow under software WebGL), or fails. */
async function until(page, what, ok, ms = 40_000, selector = undefined) {
  const end = Date.now() + ms;
  let last = null;
  while (Date.now() < end) {
    last = await received(page, selector);
    if (last && ok(last)) return last;
    await page.waitForTimeout(500);
  }
  assert.fail(`${what}: last seen ${JSON.stringify(last)}`);
}

/** The host's camera sender: its track id and simulcast layers. */
function sender(page) {
  return page.evaluate(() => {
    const pc = /** @type {any} */ (window).__convene.meeting.media.publisher;
    const s = pc.getSenders().find((x) => x.track?.kind === "video");
    return { id: s?.track?.id ?? "", layers: s?.getParameters().encodings.length ?? 0 };
  });
}

/** Picks a background in the host's camera menu. */
async function pick(page, key) {
  await page.click("#ctl-camera-devices");
  await page.click(`[data-background='${key}']`);
}

test("the stored background applies from pre-join on, and the camera menu switches it live in what others receive", async () => {
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link());
  // Pre-join shows the stored default (Blur) on the preview.
  await h.page.waitForSelector("#pj-background");
  assert.equal(await h.page.inputValue("#pj-background"), "blur");
  await until(h.page, "a blurred pre-join preview", (r) => r.hf < 20, 40_000, ".preview-video");
  await shot(h.page, "backgrounds-prejoin-blur");
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");

  const g = await newPage(browser);
  await g.page.goto(link());
  await g.page.fill("#pj-name", "Gene");
  await g.page.click("text=Join now");
  await g.page.waitForSelector("#room");

  // Blur (the stored setting): the checkerboard behind the head is smoothed away.
  const blurred = await until(g.page, "blurred background", (r) => r.hf < 20);
  const before = await sender(h.page);
  assert.equal(before.layers, 3, "three simulcast layers");

  // None: the checkerboard comes back, sharp.
  await pick(h.page, "none");
  const plain = await until(g.page, "sharp background with no effect", (r) => r.hf > 2 * blurred.hf + 10);
  await shot(g.page, "backgrounds-received-none");

  // Blur again, live.
  await pick(h.page, "blur");
  const again = await until(g.page, "blurred background again", (r) => r.hf < plain.hf / 2);
  await shot(g.page, "backgrounds-received-blur");

  // A built-in image: its colours fill the background; the head stays (skin: red over blue).
  await pick(h.page, "image:builtin:aurora");
  const want = await imageRegion(g.page, "/img/backgrounds/aurora.jpg", again.w, again.h);
  const withImage = await until(g.page, "the image's pixels in the background", (r) => r.bg.every((x, i) => Math.abs(x - want[i]) < 30));
  await shot(g.page, "backgrounds-received-image");
  assert.ok(withImage.head[0] - withImage.head[2] > 40, `the head is still there: ${withImage.head}`);
  await h.page.click("#ctl-camera-devices");
  // The menu fills itself after listing the devices: read it once it shows.
  await h.page.waitForSelector("#camera-menu:not([hidden]) [data-background='image:builtin:aurora']");
  assert.equal(await h.page.getAttribute("#camera-menu [data-background='image:builtin:aurora']", "aria-checked"), "true");
  await shot(h.page, "backgrounds-camera-menu");
  await h.page.keyboard.press("Escape");

  // One track for the whole session, simulcast kept: nothing was renegotiated.
  const afterAll = await sender(h.page);
  assert.equal(afterAll.id, before.id, "the sender's track never changed");
  assert.equal(afterAll.layers, 3);

  // What it costs, as the worker measures it (software WebGL here: no GPU in the test browser).
  const cost = await h.page.evaluate(() => /** @type {any} */ (window).__convene.effects?.camera.cost ?? null);
  if (cost) console.log(`background processing: ${JSON.stringify(cost)}`);
  assert.deepEqual(h.errors, []);
  assert.deepEqual(g.errors, []);
  await h.context.close();
  await g.context.close();
});

test("Settings → Background: upload my image, pick it, preview it on my camera with its cost", async () => {
  const s = await newPage(browser);
  await signInPage(s.page, server.base, host);
  await s.page.goto(`${server.base}/#/settings`);
  await s.page.waitForSelector("#set-bg");
  await s.page.setInputFiles("#s-bg-file", join(ROOT, "web", "img", "backgrounds", "studio.jpg"));
  await s.page.waitForSelector("input[name='backdrop'][value='uploaded']:checked");
  await s.page.selectOption("#s-background", "image");
  await s.page.click("#s-bg-try");
  await s.page.waitForFunction(() => /Processing: [\d.]+ ms a frame/.test(document.querySelector("#s-bg-cost")?.textContent ?? ""), null, { timeout: 40_000 });
  // The studio image (smooth, its colours) shows behind the head in the preview.
  const want = await imageRegion(s.page, "/img/backgrounds/studio.jpg", 640, 360);
  await until(s.page, "my uploaded image in the preview", (r) => r.hf < 5 && r.bg.every((x, i) => Math.abs(x - want[i]) < 30), 40_000, "#s-bg-preview");
  await s.page.locator("#set-bg").scrollIntoViewIfNeeded();
  await shot(s.page, "backgrounds-settings");
  assert.deepEqual(s.errors, []);
  await s.context.close();
});

test("background images: the upload is checked like a profile photo, and a good one comes back as JPEG", async () => {
  const put = (body, type, token = host.token) => fetch(`${server.base}/api/v1/users/me/background`, { method: "PUT", headers: { "content-type": type, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });
  // Not an image (an SVG calls itself one), too big, not signed in.
  const svg = await put("<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml");
  assert.equal(svg.status, 415);
  assert.equal((await svg.json()).error.code, "unsupported_image");
  const big = await put(new Uint8Array(5 * 1024 * 1024 + 10), "image/png");
  assert.equal(big.status, 413);
  assert.equal((await big.json()).error.code, "payload_too_large");
  assert.equal((await put(new Uint8Array(10), "image/png", "")).status, 401);
  // A real image: stored, served back as JPEG to its owner only.
  const jpg = await (await fetch(`${server.base}/img/backgrounds/dusk.jpg`)).arrayBuffer();
  const ok = await put(jpg, "image/jpeg");
  assert.equal(ok.status, 200);
  const got = await fetch(`${server.base}/api/v1/users/me/background`, { headers: { authorization: `Bearer ${host.token}` } });
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("content-type"), "image/jpeg");
  assert.equal((await fetch(`${server.base}/api/v1/users/me/background`)).status, 401);
  assert.equal((await fetch(`${server.base}/api/v1/users/me/background`, { method: "DELETE", headers: { authorization: `Bearer ${host.token}` } })).status, 204);
  const gone = await fetch(`${server.base}/api/v1/users/me/background`, { headers: { authorization: `Bearer ${host.token}` } });
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).error.code, "no_background");
});
