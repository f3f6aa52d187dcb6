// A participant behind a firewall that lets out nothing but TCP to the HTTPS port: headless
// Chromium in a network namespace whose nftables rules drop all UDP and every other TCP port
// joins over HTTPS and sends and receives audio and video through the embedded TURN server,
// reached as TURN over TLS on that same port, with a participant on an open network — once
// with iceTransportPolicy 'relay', once by plain ICE. Needs root (ip netns, nft); skipped
// without, failed under CI=true.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { launch, newPage, shot, account, signInPage, toneWav, startServer } from "./harness.mjs";

// The test's own self-signed server certificate, for Node's fetch of the API.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

const have = (cmd) => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const missing = process.getuid?.() !== 0 ? "root (network namespaces)" : !have("nft") ? "nft (nftables)" : !have("ip") ? "ip (iproute2)" : null;
if (missing && process.env.CI === "true") throw new Error(`turn.test.mjs needs ${missing} and CI=true: refusing to skip`);

/** A network namespace joined to the host by a veth pair: the host is `hostIp`, it is `nsIp`. */
function firewalledNamespace() {
  const id = `${process.pid % 10000}`;
  const ns = `convene-turn-${id}`;
  const [hostIf, nsIf] = [`cvh${id}`, `cvn${id}`];
  const net = `10.231.${process.pid % 250}`;
  const hostIp = `${net}.1`;
  const nsIp = `${net}.2`;
  const ip = (...args) => execFileSync("ip", args, { stdio: "pipe" });
  ip("netns", "add", ns);
  ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
  ip("link", "set", nsIf, "netns", ns);
  // No IPv6 link-local addresses appearing a second later: Chromium aborts loads in flight
  // when the machine's addresses change, in other tests' browsers too (network.mjs).
  ip("link", "set", hostIf, "addrgenmode", "none");
  ip("-n", ns, "link", "set", nsIf, "addrgenmode", "none");
  ip("addr", "add", `${hostIp}/30`, "dev", hostIf);
  ip("link", "set", hostIf, "up");
  ip("-n", ns, "addr", "add", `${nsIp}/30`, "dev", nsIf);
  ip("-n", ns, "link", "set", nsIf, "up");
  ip("-n", ns, "link", "set", "lo", "up");
  ip("-n", ns, "route", "add", "default", "via", hostIp);
  return {
    ns,
    hostIp,
    /** Drops every packet leaving the namespace but TCP to `hostIp:port` (and loopback). */
    allowOnly(port) {
      const rules = `table inet convene_firewall {
        chain out {
          type filter hook output priority 0; policy drop;
          oif "lo" accept
          ip daddr ${hostIp} tcp dport ${port} accept
        }
      }`;
      execFileSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: rules, stdio: ["pipe", "pipe", "pipe"] });
    },
    /** Whether TCP from inside reaches `host:port` within a second (the firewall's proof). */
    canConnect(host, port) {
      try {
        execFileSync("ip", ["netns", "exec", ns, "timeout", "1", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port}`], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    },
    remove() {
      try {
        ip("netns", "del", ns); // takes the veth pair with it
      } catch {}
    },
  };
}

/** Convene with HTTPS (self-signed) and the embedded TURN server, all on `host`. */
const startTurnServer = (host) => startServer(["--turn", "--turn-listen", `${host}:0`], { host, tls: true, logLevel: "info" });

/** Forces every peer connection of a page to relay candidates only. */
function relayOnly() {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config = {}) {
      super({ ...config, iceTransportPolicy: "relay" });
    }
  };
}

/** Media counters of a page and the kind of path its subscribing connection uses. */
function media(page) {
  return page.evaluate(async () => {
    const m = /** @type {any} */ (window).__convene?.meeting.media;
    const out = { framesDecoded: 0, audioBytes: 0, framesSent: 0, path: null };
    if (!m?.subscriber) return out;
    const stats = await m.subscriber.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out.framesDecoded += s.framesDecoded ?? 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioBytes += s.bytesReceived ?? 0;
      // The path in use: the transport's selected pair (its `nominated` flag lags behind).
      if (s.type === "transport" && s.selectedCandidatePairId) {
        const local = stats.get(stats.get(s.selectedCandidatePairId)?.localCandidateId);
        if (local) out.path = { type: local.candidateType, relayProtocol: local.relayProtocol ?? null };
      }
    });
    if (m.publisher) (await m.publisher.getStats()).forEach((s) => s.type === "outbound-rtp" && s.kind === "video" && (out.framesSent += s.framesSent ?? 0));
    return out;
  });
}

/**
 * Waits until `page` decodes video and receives audio; the time that took (`ms`) and the time
 * to its first decoded remote video frame (`firstFrameMs`), both from `since`.
 */
async function mediaFlows(page, since, timeout = 45_000) {
  const until = Date.now() + timeout;
  let last;
  let firstFrameMs = null;
  while (Date.now() < until) {
    last = await media(page);
    if (firstFrameMs === null && last.framesDecoded > 0) firstFrameMs = Date.now() - since;
    if (last.framesDecoded > 10 && last.audioBytes > 2000) return { ms: Date.now() - since, firstFrameMs, ...last };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no media within ${timeout} ms: ${JSON.stringify(last)}`);
}

let net, server, openBrowser, walledBrowser, host, meeting, wrapperDir;
before(async () => {
  if (missing) return;
  net = firewalledNamespace();
  server = await startTurnServer(net.hostIp);
  net.allowOnly(server.port);
  // Chromium runs inside the namespace; playwright drives it over a pipe, not the network.
  wrapperDir = mkdtempSync(join(tmpdir(), "convene-netns-"));
  const wrapper = join(wrapperDir, "chromium");
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${net.ns} ${process.env.CHROMIUM ?? "/usr/bin/chromium"} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const tone = toneWav();
  openBrowser = await launch([`--use-file-for-fake-audio-capture=${tone}`, "--ignore-certificate-errors"]);
  walledBrowser = await chromium.launch({
    executablePath: wrapper,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required", `--use-file-for-fake-audio-capture=${tone}`, "--ignore-certificate-errors"],
  });
  host = await account(server.base, "hanna");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Behind the firewall", settings: { allow_guests: true, peer_to_peer: false } }), // TURN toward the SFU is the subject: no peer-to-peer
  });
  meeting = await r.json();
});
after(async () => {
  await walledBrowser?.close();
  await openBrowser?.close();
  await server?.stop();
  net?.remove();
  if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
});

test("behind a firewall open only to TCP on the HTTPS port, a participant joins through TURN over TLS and exchanges audio and video", { skip: missing ? `needs ${missing}` : false }, async () => {
  // The firewall is real: from inside, only the HTTPS port answers.
  const turnPort = Number(/TURN server listening.*listen=[\d.]+:(\d+)/.exec(server.log(Infinity))?.[1]);
  assert.ok(turnPort > 0, server.log());
  assert.equal(net.canConnect(net.hostIp, server.port), true, "the HTTPS port is open");
  assert.equal(net.canConnect(net.hostIp, turnPort), false, "TURN/TCP is blocked");

  const h = await newPage(openBrowser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");

  const context = await walledBrowser.newContext({ viewport: { width: 1280, height: 800 }, permissions: ["camera", "microphone"] });
  await context.addInitScript(relayOnly);
  const g = await context.newPage();
  const errors = [];
  g.on("pageerror", (e) => errors.push(e.message));
  await g.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
  await g.fill("#pj-name", "Walter");
  const joinedAt = Date.now();
  await g.click("text=Join now");
  await g.waitForSelector("#room");

  try {
    const walled = await mediaFlows(g, joinedAt);
    assert.deepEqual(walled.path, { type: "relay", relayProtocol: "tls" }, "its media goes through TURN over TLS");
    const open = await mediaFlows(h.page, joinedAt);
    assert.notEqual(open.path?.type, "relay", "the other participant connects directly");
    // Both directions keep flowing.
    const later = await (async () => {
      await new Promise((r) => setTimeout(r, 2000));
      return [await media(g), await media(h.page)];
    })();
    assert.ok(later[0].framesDecoded > walled.framesDecoded && later[1].framesDecoded > open.framesDecoded, JSON.stringify(later));
    // For comparison, someone on the open network joining the same meeting.
    const o = await newPage(openBrowser);
    await o.page.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
    await o.page.fill("#pj-name", "Olga");
    const openJoinedAt = Date.now();
    await o.page.click("text=Join now");
    await o.page.waitForSelector("#room");
    const direct = await mediaFlows(o.page, openJoinedAt);
    console.log(`"Join now" to the first remote video frame: ${walled.firstFrameMs} ms through TURN over TLS, ${direct.firstFrameMs} ms direct; to audio and video flowing: ${walled.ms} ms / ${direct.ms} ms`);
  } catch (e) {
    await shot(g, "turn-walled");
    throw new Error(`${e.message}\nserver log:\n${server.log().slice(-6000)}`);
  }
  assert.deepEqual(errors, []);
});

test("without any ICE policy, a firewalled browser finds the TURN over TLS path by itself", { skip: missing ? `needs ${missing}` : false }, async () => {
  const context = await walledBrowser.newContext({ viewport: { width: 1280, height: 800 }, permissions: ["camera", "microphone"] });
  const g = await context.newPage();
  const errors = [];
  g.on("pageerror", (e) => errors.push(e.message));
  await g.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
  await g.fill("#pj-name", "Wanda");
  const joinedAt = Date.now();
  await g.click("text=Join now");
  await g.waitForSelector("#room");
  try {
    const walled = await mediaFlows(g, joinedAt);
    assert.deepEqual(walled.path, { type: "relay", relayProtocol: "tls" }, "ICE settles on TURN over TLS");
    console.log(`"Join now" to the first remote video frame by plain ICE behind the firewall: ${walled.firstFrameMs} ms; to audio and video flowing: ${walled.ms} ms`);
  } catch (e) {
    await shot(g, "turn-walled-ice");
    throw new Error(`${e.message}\nserver log:\n${server.log().slice(-6000)}`);
  } finally {
    await context.close();
  }
  assert.deepEqual(errors, []);
});
