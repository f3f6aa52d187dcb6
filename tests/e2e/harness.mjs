// Shared by the end-to-end tests: a real Convene server on a free port with a fresh data
// directory, headless Debian Chromium with fake camera and microphone, and pages that fail
// the test on any uncaught error, console.error or Content-Security-Policy violation.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, createWriteStream, writeFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SCREENSHOTS = join(ROOT, "target", "screenshots");

/** Each running test server's data directory by its base URL, so `account()` finds its mail. */
const SERVER_DIRS = new Map();

/** A TCP port nobody listens on at `host`. */
export async function freePort(host = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, host, () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/**
 * The environment every test server runs with. A debug build on a shared test machine would
 * count as overloaded (joins refused with server_busy, video shed): the media overload marks
 * are off unless the environment sets them.
 * @param {string} logLevel RUST_LOG unless E2E_RUST_LOG says otherwise
 */
export function serverEnv(logLevel) {
  return {
    CONVENE_MEDIA_HIGH_WATER_BUSY_PCT: "100",
    CONVENE_MEDIA_HIGH_WATER_DELAY_MS: "60000",
    ...process.env,
    RUST_LOG: process.env.E2E_RUST_LOG ?? logLevel,
  };
}

/**
 * @param {string[]} [extraArgs] more server flags (e.g. cluster mode)
 * @param {{host?: string, mediaPort?: number, tls?: boolean, logLevel?: string}} [opts] the address to
 *   listen on (HTTP and media; default 127.0.0.1), the media port (default: any free one), whether
 *   it serves HTTPS (a self-signed certificate) and its log level (default warn; the log holds
 *   stdout and stderr)
 */
export async function startServer(extraArgs = [], opts = {}) {
  const host = opts.host ?? "127.0.0.1";
  const port = await freePort(host);
  const dir = mkdtempSync(join(tmpdir(), "convene-e2e-"));
  const base = `${opts.tls ? "https" : "http"}://${host}:${port}`;
  const tls = opts.tls ? ["--tls", "self-signed"] : [];
  // E2E_CONVENE_BIN=target/release/convene measures a release build (e.g. the P2P switch gap).
  const bin = process.env.E2E_CONVENE_BIN ? join(ROOT, process.env.E2E_CONVENE_BIN) : join(ROOT, "target", "debug", "convene");
  const proc = spawn(bin, ["--listen", `${host}:${port}`, "--media-listen", `${host}:${opts.mediaPort ?? 0}`, "--data-dir", dir, "--public-url", base, ...tls, ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...serverEnv(opts.logLevel ?? "warn"), NO_COLOR: "1" },
  });
  let log = "";
  // Logs go to stdout, errors to stderr.
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  // E2E_SERVER_LOG=path keeps the server's log (with E2E_RUST_LOG=convene=debug,… for details).
  if (process.env.E2E_SERVER_LOG) {
    const out = createWriteStream(process.env.E2E_SERVER_LOG, { flags: "a" });
    proc.stdout.pipe(out);
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
  SERVER_DIRS.set(base, dir);
  return {
    base,
    port,
    /** The data directory: mail without SMTP lands in `outbox/*.eml`. */
    dir,
    /** The last `chars` of the server's log so far (warnings and errors unless the log level or
     * E2E_RUST_LOG says more), for failures. */
    log: (chars = 4000) => log.slice(-chars),
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * @param {string[]} [extraArgs] more Chromium switches
 * @param {{executablePath?: string}} [opts] e.g. a wrapper that runs Chromium in a network namespace
 */
export async function launch(extraArgs = [], opts = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: opts.executablePath ?? process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required", ...extraArgs],
  });
}

/**
 * Writes a WAV file of a steady tone (16-bit mono, 48 kHz) for
 * `--use-file-for-fake-audio-capture`: Chromium's default fake microphone only beeps for a few
 * milliseconds, too short to ever make anyone the active speaker. `speech`: in bursts of a
 * second with half a second's pause, as people talk.
 */
export function toneWav(seconds = 3, hz = 440, speech = false) {
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
  for (let i = 0; i < n; i++) {
    const on = !speech || (i / rate) % 1.5 < 1;
    buf.writeInt16LE(on ? Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12000) : 0, 44 + i * 2);
  }
  const path = join(ROOT, "target", `e2e-tone-${hz}hz-${seconds}s${speech ? "-speech" : ""}.wav`);
  writeFileSync(path, buf);
  return path;
}

/**
 * A new browser context + page that records page errors and console errors. Failed API calls
 * (4xx answers the app handles and shows) are expected in some scenarios and not errors.
 * @param {import("playwright-core").Browser} browser
 * @param {import("playwright-core").BrowserContextOptions} [options] more context options (a phone: isMobile, hasTouch…)
 */
export async function newPage(browser, viewport = { width: 1280, height: 800 }, options = {}) {
  const context = await browser.newContext({ viewport, permissions: ["camera", "microphone", "clipboard-read", "clipboard-write"], ...options });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  // The server's Content-Security-Policy is part of what is tested: any violation fails.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`),
    );
  });
  page.on("console", (m) => {
    if (/Refused to /.test(m.text())) return void errors.push(`CSP: ${m.text()}`);
    if (m.type() !== "error") return;
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) && m.location().url.includes("/api/")) return;
    // Chromium aborts loads in flight when the host's interfaces change: other test files make
    // and remove network namespaces (veth pairs) while this one runs. Not the app's doing.
    if (/Failed to load resource: net::ERR_NETWORK_CHANGED/.test(m.text())) return;
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

/**
 * Registers an account through the API, confirms its address with the link mailed to it (as
 * its owner would; the first account of a server needs none) and returns its tokens.
 * `{verify: false}` leaves the address unconfirmed.
 */
export async function account(base, name, { verify = true } = {}) {
  const email = `${name}@example.com`;
  const password = "correct horse battery";
  const json = { "content-type": "application/json" };
  await fetch(`${base}/api/v1/users/register`, { method: "POST", headers: json, body: JSON.stringify({ username: name, email, password, display_name: name[0].toUpperCase() + name.slice(1) }) });
  const r = await fetch(`${base}/api/v1/users/login`, { method: "POST", headers: json, body: JSON.stringify({ email, password }) });
  const acct = { email, password, ...(await r.json()) };
  const me = await (await fetch(`${base}/api/v1/users/me`, { headers: { authorization: `Bearer ${acct.token}` } })).json();
  if (verify && !me.email_verified) {
    const dir = SERVER_DIRS.get(base);
    if (!dir) throw new Error(`account(): ${base} was not started by startServer; its mail cannot be read`);
    const token = verificationToken(await mailTo({ dir }, email, /verify-email\?token=/));
    const v = await fetch(`${base}/api/v1/users/verify-email`, { method: "POST", headers: json, body: JSON.stringify({ token }) });
    if (!v.ok) throw new Error(`verifying ${email}: ${v.status} ${await v.text()}`);
  }
  return acct;
}

/** The token of the verification link in a mail's text. @param {string} text */
export function verificationToken(text) {
  const m = text.match(/verify-email\?token=([A-Za-z0-9_-]+)/);
  if (!m) throw new Error(`no verification link in:\n${text}`);
  return m[1];
}

/**
 * Signs a page in as `acct`, as the sign-in form does: the browser gets the refresh cookie
 * (HttpOnly, so the page cannot read it) and the app trades it for an access token on load.
 */
export async function signInPage(page, base, acct) {
  await page.goto(`${base}/#/signin`);
  await page.evaluate(async ({ email, password }) => {
    const r = await fetch("/api/v1/users/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password, refresh_token_in: "cookie" }) });
    if (!r.ok) throw new Error(`sign-in failed: ${r.status}`);
    localStorage.setItem("convene.signed_in", (await r.json()).user_id);
  }, { email: acct.email, password: acct.password });
}

/**
 * Firefox prefs a test meeting needs: fake camera and microphone without a prompt, ICE on
 * loopback, and host candidates with real addresses. Without `permission.fake`, Firefox
 * treats the fake devices as "not granted" and hides its IP addresses behind mDNS `.local`
 * names, which the SFU (ICE-lite, no mDNS) cannot reach: ICE fails every time.
 */
const FIREFOX_PREFS = {
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  "media.navigator.permission.fake": true,
  "media.peerconnection.ice.loopback": true,
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
};

/**
 * An X display for browsers that need one (Firefox's getDisplayMedia captures the X screen,
 * even headless): the DISPLAY already set, or a private Xvfb started for the caller.
 * @returns {Promise<{display: string, stop: () => void}>}
 */
async function xDisplay() {
  if (process.env.DISPLAY) return { display: process.env.DISPLAY, stop() {} };
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp"], { stdio: ["ignore", "ignore", "ignore", "pipe"] });
  const display = await new Promise((resolve, reject) => {
    let out = "";
    xvfb.stdio[3]?.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(`:${out.trim()}`);
    });
    xvfb.once("error", reject);
    xvfb.once("exit", (code) => reject(new Error(`Xvfb exited (${code})`)));
  });
  return { display, stop: () => xvfb.kill("SIGTERM") };
}

/**
 * Headless Debian Firefox ESR (driven over WebDriver BiDi by puppeteer-core: Playwright's
 * Firefox needs Playwright's own patched build) with fake camera and microphone, on an X
 * display for screen sharing. `close()` also stops the display it started.
 * @param {Record<string, unknown>} [prefs] more Firefox prefs
 */
export async function launchFirefox(prefs = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const { default: puppeteer } = await import("puppeteer-core");
  const x = await xDisplay();
  try {
    const browser = await puppeteer.launch({
      browser: "firefox",
      executablePath: process.env.FIREFOX ?? "/usr/bin/firefox-esr",
      headless: true,
      env: { ...process.env, DISPLAY: x.display },
      extraPrefsFirefox: { ...FIREFOX_PREFS, ...prefs },
    });
    const close = browser.close.bind(browser);
    browser.close = async () => {
      await close();
      x.stop();
    };
    return browser;
  } catch (e) {
    x.stop();
    throw e;
  }
}

/**
 * A Firefox page that records page errors and console errors, as `newPage` does for Chromium.
 * @param {import("puppeteer-core").Browser} browser
 */
export async function newFirefoxPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport(viewport);
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (/status of 4\d\d/.test(m.text()) && (m.location().url ?? "").includes("/api/")) return;
    errors.push(`console.error: ${m.text()}`);
  });
  page.on("dialog", (d) => d.accept());
  return { context, page, errors };
}
