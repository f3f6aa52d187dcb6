// A browser on a network that blocks the media port (UDP and TCP; the web page and signaling
// still get through), made with a network namespace and nftables (network.mjs): it retries
// politely — its peer connections over a minute are counted, the waits between them grow — and
// tells the user what is blocked and what helps; once the network lets media through it
// connects and the message goes; and when the server refuses more restarts it says why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, newPage, account, signInPage, shot } from "./harness.mjs";
import { namespaceServer, namespaceSkip } from "./network.mjs";

const skip = namespaceSkip();

let net, server, browser, host, meeting, mediaPort;
before(async () => {
  if (skip) return;
  let secure;
  ({ net, server, mediaPort, secure } = await namespaceServer());
  browser = await launch([secure], { executablePath: net.wrap("/usr/bin/chromium") });
  host = await account(server.base, "bea");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Hotel wifi", settings: { peer_to_peer: false } }), // reaching the SFU is the subject: no peer-to-peer
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  net?.close();
});

/** Counts the page's RTCPeerConnections: when each was made (epoch ms). */
function countPeerConnections() {
  const w = /** @type {any} */ (window);
  const Native = w.RTCPeerConnection;
  const made = (w.__peerConnections = []);
  w.RTCPeerConnection = class extends Native {
    constructor(/** @type {any[]} */ ...args) {
      super(...args);
      made.push(Date.now());
    }
  };
}

test("a browser whose network blocks media retries politely and says what is blocked", { skip }, async () => {
  net.block(mediaPort);
  const h = await newPage(browser);
  await h.context.addInitScript(countPeerConnections);
  await signInPage(h.page, server.base, host);
  await h.page.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  await h.page.waitForFunction(() => /** @type {any} */ (window).__peerConnections.length > 0);
  const t0 = await h.page.evaluate(() => /** @type {any} */ (window).__peerConnections[0]);

  // After a few failures the room says what is blocked and what helps (a banner that stays).
  const banner = h.page.locator(".room-banner:not([hidden])");
  await banner.waitFor({ timeout: 60_000 });
  const text = (await banner.textContent()) ?? "";
  assert.match(text, /Audio and video cannot connect/);
  assert.match(text, new RegExp(`UDP and TCP port ${mediaPort} of ${net.host.replace(/\./g, "\\.")}`));
  assert.match(text, /another network/);
  assert.match(text, /TURN relay/);
  await shot(h.page, "room-media-blocked");

  // Over the first minute: a few attempts, further and further apart. (The client this
  // replaced made a new pair of connections every ~5 s: a dozen attempts a minute.)
  await h.page.waitForFunction((t) => Date.now() > t + 60_000, t0, { timeout: 70_000, polling: 1000 });
  const connections = await h.page.evaluate((t) => /** @type {any} */ (window).__peerConnections.filter((/** @type {number} */ at) => at < t + 60_000), t0);
  // Alone in the meeting, each attempt makes one connection (nothing to subscribe to) — or
  // two with slot subscriptions (docs/protocol.md §2e), whose slots are offered to someone
  // alone too: connections made within a second of each other are one attempt.
  const made = connections.filter((/** @type {number} */ t, /** @type {number} */ i) => i === 0 || t - connections[i - 1] > 1000);
  assert.ok(made.length >= 3 && made.length <= 6, `attempts in the first minute: ${made.length} (${connections.map((t) => t - t0)})`);
  // Each attempt is given up after the same time, then the wait before the next one doubles.
  const gaps = made.slice(1).map((t, i) => t - made[i]);
  assert.ok(gaps.every((g, i) => i === 0 || g > gaps[i - 1] - 250), `the waits never shrink: ${gaps}`);
  assert.ok(gaps.at(-1) >= gaps[0] + 1500, `the waits grow: ${gaps}`);
  const trouble = await h.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.mediaTrouble);
  assert.equal(trouble?.reason, "unreachable");
  assert.ok(trouble.failures >= 3, JSON.stringify(trouble));

  // The network lets media through again: the next attempt connects and the banner goes.
  net.unblock();
  await h.page.waitForFunction(() => /** @type {any} */ (window).__convene.meeting.media.publisher?.connectionState === "connected", null, { timeout: 45_000, polling: 500 });
  await h.page.locator(".room-banner").waitFor({ state: "hidden", timeout: 5_000 });
  assert.equal(await h.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.mediaTrouble), null);

  // Restarting over and over (as a broken client would): the server refuses once this
  // participant made 16 connections in a minute, and the room says why.
  for (let i = 0; i < 10; i++) {
    const limited = await h.page.evaluate(async () => {
      const media = /** @type {any} */ (window).__convene.meeting.media;
      if (media.trouble?.reason === "limited") return true;
      media.restart();
      while (media.restarting) await new Promise((r) => setTimeout(r, 50));
      return media.trouble?.reason === "limited";
    });
    if (limited) break;
  }
  await banner.waitFor({ timeout: 5_000 });
  assert.match((await banner.textContent()) ?? "", /server refused to reconnect them again so soon.*16 new media connections a minute/);
  assert.deepEqual(h.errors, []);
  await h.context.close();
});
