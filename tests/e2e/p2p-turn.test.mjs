// Peer-to-peer through the embedded TURN relay: two people who cannot reach each other
// directly — each browser in a network namespace of its own whose firewall lets out nothing
// but TCP to the server's HTTPS port — still talk peer-to-peer, each through its own TURN over
// TLS allocation (relay to relay, the relay allowing exactly the pair's relayed addresses),
// video decoding on both sides while the SFU forwards nothing for them. Needs root (ip netns,
// nft); skipped without, failed under CI=true.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch, newPage, shot, account, signInPage, toneWav, startServer } from "./harness.mjs";

// The test's own self-signed server certificate, for Node's fetch of the API.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

const METRICS_TOKEN = "e2e-metrics-token-0123456789";

const have = (cmd) => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const missing = process.getuid?.() !== 0 ? "root (network namespaces)" : !have("nft") ? "nft (nftables)" : !have("ip") ? "ip (iproute2)" : null;
if (missing && process.env.CI === "true") throw new Error(`p2p-turn.test.mjs needs ${missing} and CI=true: refusing to skip`);

/**
 * Network namespace `n` (0, 1) joined to this machine by a veth pair: this machine is
 * `hostIp`, the namespace `nsIp`; its default route goes through the machine.
 * @param {number} n
 */
function namespace(n) {
  const id = `${process.pid % 10000}${n}`;
  const ns = `convene-p2pt-${id}`;
  const [hostIf, nsIf] = [`cvph${id}`, `cvpn${id}`];
  const net = `10.232.${(process.pid * 2 + n) % 250}`;
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
    nsIp,
    /** Drops every packet leaving the namespace but TCP to `host:port` (and loopback). */
    allowOnly(host, port) {
      const rules = `table inet convene_firewall {
        chain out {
          type filter hook output priority 0; policy drop;
          oif "lo" accept
          ip daddr ${host} tcp dport ${port} accept
        }
      }`;
      execFileSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: rules, stdio: ["pipe", "pipe", "pipe"] });
    },
    /** Whether TCP from inside reaches `host:port` within a second. */
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

let nets = [];
let server, browsers = [], host, wrapperDir;
before(async () => {
  if (missing) return;
  nets = [namespace(0), namespace(1)];
  // The server listens on the first namespace's link; the second reaches it through its own.
  server = await startServer(["--turn", "--turn-listen", `${nets[0].hostIp}:0`, "--metrics-token", METRICS_TOKEN], { host: nets[0].hostIp, tls: true, logLevel: "info" });
  for (const n of nets) n.allowOnly(nets[0].hostIp, server.port);
  wrapperDir = mkdtempSync(join(tmpdir(), "convene-netns-"));
  const tone = toneWav();
  for (const n of nets) {
    const wrapper = join(wrapperDir, `chromium-${n.ns}`);
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${n.ns} ${process.env.CHROMIUM ?? "/usr/bin/chromium"} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browsers.push(await launch([`--use-file-for-fake-audio-capture=${tone}`, "--ignore-certificate-errors"], { executablePath: wrapper }));
  }
  host = await account(server.base, "tilde");
});
after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await server?.stop();
  for (const n of nets) n.remove();
  if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
});

async function metrics() {
  const text = await (await fetch(`${server.base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const value = (re) => Number(re.exec(text)?.[1] ?? 0);
  return {
    forwarded: value(/^media_forwarded_packets_total (\S+)$/m),
    pairs: value(/^p2p_pairs (\S+)$/m),
    failed: value(/^p2p_pairs_total\{outcome="failed"\} (\S+)$/m),
  };
}

/** What the page's direct connection does: decoded frames, audio bytes, the path in use. */
function direct(page) {
  return page.evaluate(async () => {
    const pc = /** @type {any} */ (window).__convene?.meeting.p2p.pc;
    const out = { frames: 0, audioBytes: 0, local: null, remote: null, dtls: "" };
    if (!pc) return out;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out.frames += s.framesDecoded ?? 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioBytes += s.bytesReceived ?? 0;
      if (s.type === "transport" && s.selectedCandidatePairId) {
        out.dtls = s.dtlsState;
        const pair = stats.get(s.selectedCandidatePairId);
        const l = stats.get(pair?.localCandidateId);
        const r = stats.get(pair?.remoteCandidateId);
        if (l) out.local = { type: l.candidateType, relayProtocol: l.relayProtocol ?? null };
        if (r) out.remote = { type: r.candidateType, address: r.address ?? r.ip };
      }
    });
    return out;
  });
}

test("two people behind firewalls open only to the HTTPS port talk peer-to-peer through the TURN relay", { skip: missing ? `needs ${missing}` : false }, async () => {
  const turnPort = Number(/TURN server listening.*listen=[\d.]+:(\d+)/.exec(server.log(Infinity))?.[1]);
  for (const n of nets) {
    assert.equal(n.canConnect(nets[0].hostIp, server.port), true, "the HTTPS port is open");
    assert.equal(n.canConnect(nets[0].hostIp, turnPort), false, "TURN/TCP is blocked");
  }
  // Nor can the two reach each other: nothing but the HTTPS port leaves either namespace.
  assert.equal(nets[0].canConnect(nets[1].nsIp, 9), false);

  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Both behind firewalls", settings: { allow_guests: true } }),
  });
  const m = await r.json();
  assert.equal(m.settings.peer_to_peer, true);
  const link = `${server.base}/j/${m.meeting_id}?pwd=${encodeURIComponent(m.passcode)}`;
  const failedBefore = (await metrics()).failed;

  const a = await newPage(browsers[0]);
  await signInPage(a.page, server.base, host);
  await a.page.goto(link);
  await a.page.click("text=Join now");
  await a.page.waitForSelector("#room");
  const b = await newPage(browsers[1]);
  await b.page.goto(link);
  await b.page.fill("#pj-name", "Udo");
  const joinedAt = Date.now();
  await b.page.click("text=Join now");
  await b.page.waitForSelector("#room");

  try {
    const rendering = (page) => page.waitForFunction(() => /** @type {any} */ (window).__convene.meeting.p2p.rendering === true, null, { timeout: 45_000, polling: 100 });
    await Promise.all([rendering(a.page), rendering(b.page)]);
    const tookMs = Date.now() - joinedAt;
    const [da, db] = [await direct(a.page), await direct(b.page)];
    console.log(`"Join now" to peer-to-peer media shown through TURN over TLS (relay to relay): ${tookMs} ms; paths ${JSON.stringify(da)} / ${JSON.stringify(db)}`);
    for (const d of [da, db]) {
      assert.deepEqual(d.local, { type: "relay", relayProtocol: "tls" }, "each side sends through its TURN over TLS allocation");
      assert.equal(d.remote?.type, "relay", "to the other's relayed address");
      assert.equal(d.dtls, "connected", "DTLS-SRTP end to end");
    }
    // Media keeps decoding on both sides, on the direct connection.
    await new Promise((r) => setTimeout(r, 2000));
    const [la, lb] = [await direct(a.page), await direct(b.page)];
    assert.ok(la.frames > da.frames && lb.frames > db.frames, `video decodes on both sides: ${JSON.stringify([da, la, db, lb])}`);
    assert.ok(la.audioBytes > da.audioBytes && lb.audioBytes > db.audioBytes, "audio arrives on both sides");
    // Both stop feeding the SFU once the other shows the direct media: it forwards nothing.
    await a.page.waitForFunction(() => /** @type {any} */ (window).__convene.meeting.p2p.sfuIdle === true, null, { timeout: 15_000 });
    await b.page.waitForFunction(() => /** @type {any} */ (window).__convene.meeting.p2p.sfuIdle === true, null, { timeout: 15_000 });
    await new Promise((r) => setTimeout(r, 1000));
    const m0 = await metrics();
    await new Promise((r) => setTimeout(r, 3000));
    const m1 = await metrics();
    console.log(`while the pair talks through the relay the SFU forwards ${(m1.forwarded - m0.forwarded) / 3} packets/s`);
    assert.equal(m1.forwarded - m0.forwarded, 0, "the SFU forwards nothing for the pair");
    assert.equal(m1.pairs, 1, "one live pair");
    assert.equal(m1.failed, failedBefore, "no failed pair");
    await shot(b.page, "p2p-turn");
  } catch (e) {
    await shot(a.page, "p2p-turn-a").catch(() => {});
    await shot(b.page, "p2p-turn-b").catch(() => {});
    throw new Error(`${e.message}\nserver log:\n${server.log().slice(-6000)}`);
  }
  for (const x of [a, b]) assert.deepEqual(x.errors, []);
  await Promise.all([a, b].map((x) => x.context.close().catch(() => {})));
});
