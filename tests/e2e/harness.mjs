// Shared by the end-to-end tests: a real Convene server on a free port with a fresh data
// directory, headless Debian Chromium with fake camera and microphone, and pages that fail
// the test on any uncaught error or console.error.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, createWriteStream, writeFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SCREENSHOTS = join(ROOT, "target", "screenshots");

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** @param {string[]} [extraArgs] more server flags (e.g. cluster mode) */
export async function startServer(extraArgs = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "convene-e2e-"));
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(join(ROOT, "target", "debug", "convene"), ["--listen", `127.0.0.1:${port}`, "--media-listen", "127.0.0.1:0", "--data-dir", dir, "--public-url", base, ...extraArgs], {
    stdio: ["ignore", process.env.E2E_SERVER_LOG ? "pipe" : "ignore", "pipe"],
    // A debug build on a shared test machine would count as overloaded (joins refused with
    // server_busy, video shed): media overload marks off unless the environment sets them.
    env: {
      CONVENE_MEDIA_HIGH_WATER_BUSY_PCT: "100",
      CONVENE_MEDIA_HIGH_WATER_DELAY_MS: "60000",
      ...process.env,
      RUST_LOG: process.env.E2E_RUST_LOG ?? "warn",
    },
  });
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  // E2E_SERVER_LOG=path keeps the server's log (with E2E_RUST_LOG=convene=debug,… for details).
  if (process.env.E2E_SERVER_LOG) {
    const out = createWriteStream(process.env.E2E_SERVER_LOG, { flags: "a" });
    proc.stdout?.pipe(out);
    proc.stderr.pipe(out);
  }
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (proc.exitCode !== null) throw new Error(`server exited: ${log}`);
  }
  return {
    base,
    /** The data directory: mail without SMTP lands in `outbox/*.eml`. */
    dir,
    /** The server's log so far (warnings and errors unless E2E_RUST_LOG says more), for failures. */
    log: () => log.slice(-4000),
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** @param {string[]} [extraArgs] more Chromium switches */
export async function launch(extraArgs = []) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required", ...extraArgs],
  });
}

/**
 * Writes a WAV file of a steady tone (16-bit mono, 48 kHz) for
 * `--use-file-for-fake-audio-capture`: Chromium's default fake microphone only beeps for a few
 * milliseconds, too short to ever make anyone the active speaker.
 */
export function toneWav(seconds = 3, hz = 440) {
  const rate = 48000;
  const n = rate * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12000), 44 + i * 2);
  const path = join(ROOT, "target", `e2e-tone-${hz}hz-${seconds}s.wav`);
  writeFileSync(path, buf);
  return path;
}

/**
 * A new browser context + page that records page errors and console errors. Failed API calls
 * (4xx answers the app handles and shows) are expected in some scenarios and not errors.
 * @param {import("playwright-core").Browser} browser
 */
export async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, permissions: ["camera", "microphone", "clipboard-read", "clipboard-write"] });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) && m.location().url.includes("/api/")) return;
    errors.push(`console.error: ${m.text()}`);
  });
  page.on("dialog", (d) => d.accept());
  return { context, page, errors };
}

/**
 * Waits for a mail to `to` in the server's outbox whose text matches `pattern`; returns the
 * decoded text (quoted-printable soft breaks and escapes undone).
 * @param {{dir: string}} server @param {string} to @param {RegExp} pattern
 */
export async function mailTo(server, to, pattern, timeoutMs = 10_000) {
  const outbox = join(server.dir, "outbox");
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const name of existsSync(outbox) ? readdirSync(outbox).sort() : []) {
      const raw = readFileSync(join(outbox, name), "utf8");
      const text = raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      if (new RegExp(`^To: .*${to.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "mi").test(text) && pattern.test(text)) return text;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${to} matching ${pattern} in ${outbox}`);
}

/** @param {import("playwright-core").Page} page @param {string} name */
export function shot(page, name) {
  return page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** Registers an account through the API and returns its tokens. */
export async function account(base, name) {
  const email = `${name}@example.com`;
  const password = "correct horse battery";
  await fetch(`${base}/api/v1/users/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: name, email, password, display_name: name[0].toUpperCase() + name.slice(1) }) });
  const r = await fetch(`${base}/api/v1/users/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password }) });
  return { email, password, ...(await r.json()) };
}

/** Puts an account's session into a page's localStorage, as signing in would. */
export async function signInPage(page, base, acct) {
  await page.goto(`${base}/#/signin`);
  await page.evaluate((s) => localStorage.setItem("convene.session", JSON.stringify(s)), { token: acct.token, refresh_token: acct.refresh_token, user_id: acct.user_id, expires_at: Date.now() + acct.expires_in * 1000 });
}
