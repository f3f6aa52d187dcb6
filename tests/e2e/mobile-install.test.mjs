// Convene as an installable app on a phone-sized Chromium: the manifest is served with its
// type and is valid (name, start_url, standalone, theme colours, PNG icons 192/512 and a
// maskable one, all fetched and of the size they claim), Chromium itself finds nothing that
// stops installation, the service worker controls the page and the start_url, the API is never
// cached, and with the server gone and the device offline a reload still shows the app.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, shot } from "./harness.mjs";

const PHONE = { isMobile: true, hasTouch: true, deviceScaleFactor: 3 };

let server, profile;
before(async () => {
  server = await startServer();
  profile = mkdtempSync(join(tmpdir(), "convene-e2e-profile-"));
});
after(async () => {
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/**
 * A phone-sized Chromium with a profile on disk: an ordinary (incognito) test context is never
 * offered installation, so Chromium's verdict would only say "in-incognito".
 */
async function phone() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 390, height: 844 },
    ...PHONE,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await context.addInitScript(() => document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective}`)));
  page.on("console", (m) => {
    if (m.type() === "error" && !(/Failed to load resource/.test(m.text()) && m.location().url.includes("/api/"))) errors.push(`console.error: ${m.text()}`);
  });
  return { context, page, errors };
}

/** Width and height from a PNG's IHDR chunk. @param {ArrayBuffer} buf */
function pngSize(buf) {
  const b = Buffer.from(buf);
  assert.equal(b.subarray(1, 4).toString("latin1"), "PNG");
  return `${b.readUInt32BE(16)}x${b.readUInt32BE(20)}`;
}

test("the manifest: served as application/manifest+json, valid, with PNG icons of the sizes it says", async () => {
  const r = await fetch(`${server.base}/manifest.webmanifest`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/manifest+json");
  const m = await r.json();
  assert.equal(m.name, "Convene");
  assert.equal(m.short_name, "Convene");
  assert.equal(m.start_url, "/");
  assert.equal(m.scope, "/");
  assert.equal(m.display, "standalone");
  assert.match(m.theme_color, /^#[0-9a-f]{6}$/i);
  assert.match(m.background_color, /^#[0-9a-f]{6}$/i);
  const pngs = m.icons.filter((i) => i.type === "image/png");
  for (const want of [["192x192", "any"], ["512x512", "any"], ["512x512", "maskable"]]) {
    assert.ok(pngs.some((i) => i.sizes === want[0] && i.purpose === want[1]), `an icon ${want.join(" ")}`);
  }
  for (const icon of pngs) {
    const res = await fetch(new URL(icon.src, server.base));
    assert.equal(res.status, 200, icon.src);
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.equal(pngSize(await res.arrayBuffer()), icon.sizes, icon.src);
  }
  // The worker is served as JavaScript from the root (its scope is the whole site).
  const sw = await fetch(`${server.base}/sw.js`);
  assert.equal(sw.status, 200);
  assert.match(sw.headers.get("content-type") ?? "", /^text\/javascript/);
  // A missing icon is a 404, not the app shell.
  assert.equal((await fetch(`${server.base}/icons/icon-1024.png`)).status, 404);
});

test("installable: Chromium parses the manifest without errors, the worker controls the page and the start_url; offline, a reload shows the app", async () => {
  const p = await phone();
  const { page, context } = p;
  await page.goto(`${server.base}/`);
  await page.waitForSelector("#login");
  // The page links the manifest; Chromium reads it as an app manifest with no errors, and
  // reports nothing that stops installation.
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send("Page.getAppManifest");
  assert.match(manifest.url, /\/manifest\.webmanifest$/);
  assert.deepEqual(manifest.errors, []);
  // The service worker: registered for the whole site, in control of this page.
  await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 15_000 });
  const reg = await page.evaluate(async () => {
    const r = await navigator.serviceWorker.getRegistration("/");
    return { scope: r?.scope, script: r?.active?.scriptURL };
  });
  assert.deepEqual(reg, { scope: `${server.base}/`, script: `${server.base}/sw.js` });
  const installability = await cdp.send("Page.getInstallabilityErrors");
  assert.deepEqual(installability.installabilityErrors, []);

  // The app shell is cached (the modules the page loaded included), the API never is.
  await page.waitForFunction(async () => {
    const keys = (await (await caches.open("convene-shell-v1")).keys()).map((r) => new URL(r.url).pathname);
    return ["/", "/css/app.css", "/js/app.js", "/js/ui/auth.js", "/js/ui/dom.js", "/manifest.webmanifest"].every((k) => keys.includes(k));
  }, null, { timeout: 15_000 });
  await page.evaluate(() => fetch("/api/v1/push/vapid-public-key").catch(() => null));
  const apiCached = await page.evaluate(async () => {
    const out = [];
    for (const name of await caches.keys()) for (const r of await (await caches.open(name)).keys()) if (new URL(r.url).pathname.startsWith("/api")) out.push(r.url);
    return out;
  });
  assert.deepEqual(apiCached, []);

  // The start_url (what the home-screen icon opens) is in the worker's scope: controlled too.
  const start = await context.newPage();
  await start.goto(`${server.base}/`);
  await start.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 10_000 });
  await start.close();

  // No network and no server: a reload still shows the app (and says it is offline).
  await server.stop();
  server = null;
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector("#login", { timeout: 15_000 });
  await page.waitForSelector(".toast:has-text('You are offline')");
  // The API is not answered from a cache.
  assert.equal(await page.evaluate(() => fetch("/api/v1/push/vapid-public-key").then(() => "answered", () => "failed")), "failed");
  await shot(page, "mobile-offline");
  // What failed offline are requests to the network (the app handles them); nothing else.
  assert.deepEqual(p.errors.filter((e) => !/Failed to load resource: net::ERR_(INTERNET_DISCONNECTED|CONNECTION_REFUSED)/.test(e)), []);
  await context.close();
});
