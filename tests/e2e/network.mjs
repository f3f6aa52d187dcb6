// Network conditions for browsers under test, made with nftables and network namespaces we
// create (never the machine's own network beyond loopback to a test's server):
//
// - privateNetwork(): a network namespace of its own for a browser, joined to this machine by a
//   veth pair (10.213.x.y/30, derived from the test's process id), where nftables drops what the
//   test wants blocked (as a hotel network or a strict firewall would), whose downlink is
//   shaped with `tc`, a token bucket (as a congested access link would), or where nftables
//   drops a share of the media at random (as a lossy Wi-Fi or mobile link does).
// - blip(): one browser cut off a test server on loopback for a while, with a table of our own
//   in the machine's nftables that only names that browser's sockets and the server's ports,
//   removed when the blip ends.
//
// Both need root (CAP_NET_ADMIN), as the test command on CI has.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { startServer } from "./harness.mjs";

let created = 0;

/** @param {string[]} args */
function ip(...args) {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * Whether this machine lets the tests make network namespaces (root with CAP_NET_ADMIN).
 * @returns {string | null} why not, or null when it does
 */
export function netnsUnavailable() {
  const name = `cvprobe${process.pid}`;
  try {
    ip("netns", "add", name);
    ip("netns", "del", name);
    execFileSync("nft", ["--version"], { stdio: "ignore" });
    return null;
  } catch (e) {
    return `network namespaces or nftables unavailable: ${e instanceof Error ? e.message.split("\n")[0] : e}`;
  }
}

/**
 * Why a test that needs network namespaces is skipped here, or `false`: never with CI=true
 * (CI runs as root; a missing capability fails there, in `namespaceServer`).
 */
export function namespaceSkip() {
  const unavailable = netnsUnavailable();
  return unavailable && process.env.CI !== "true" ? unavailable : false;
}

/**
 * A private network and a Convene server listening on this machine's end of it, so a browser
 * inside (launched with `net.wrap(...)` and the `secure` flag: http://10.213.… is no secure
 * context unless Chromium is told) reaches it over the link the test shapes or blocks.
 * @param {string[]} [args] extra server flags
 */
export async function namespaceServer(args = []) {
  const unavailable = netnsUnavailable();
  if (unavailable) throw new Error(`${unavailable} (CI=true: not skipped)`);
  const net = privateNetwork();
  const mediaPort = await freeMediaPort(net.host);
  const server = await startServer(args, { host: net.host, mediaPort });
  return { net, server, mediaPort, secure: `--unsafely-treat-insecure-origin-as-secure=${server.base}` };
}

/**
 * Makes the namespace and its link. `host` is this machine's end (listen there to be
 * reachable from inside), `wrap(executable)` a script that runs a program inside, `block`
 * drops UDP and TCP to a port of `host` from inside, `unblock` lets them through again.
 */
export function privateNetwork() {
  const n = created++;
  const id = `${process.pid}${n}`.slice(-9);
  const name = `cvn${id}`;
  const [outer, inner] = [`cvh${id}`, `cvb${id}`];
  // A /30 of its own per process and network: 10.213.<pid / 64 % 256>.<(pid % 64) * 4>.
  const key = (process.pid * 4 + n) % 16384;
  const net = `10.213.${key >> 6}.${(key & 63) << 2}`;
  const base = net.split(".").slice(0, 3).join(".");
  const last = Number(net.split(".")[3]);
  const host = `${base}.${last + 1}`;
  const guest = `${base}.${last + 2}`;
  ip("netns", "add", name);
  const dir = mkdtempSync(join(tmpdir(), "convene-netns-"));
  try {
    ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", name);
    // No IPv6 link-local addresses: the kernel would add them a second or so after the link
    // comes up (after duplicate address detection), and Chromium aborts the loads in flight
    // when the machine's addresses change — a browser on this machine launched just then
    // fails to load the app (net::ERR_NETWORK_CHANGED, or ERR_FAILED through the service
    // worker).
    ip("link", "set", outer, "addrgenmode", "none");
    ip("netns", "exec", name, "ip", "link", "set", inner, "addrgenmode", "none");
    ip("addr", "add", `${host}/30`, "dev", outer);
    ip("link", "set", outer, "up");
    ip("netns", "exec", name, "ip", "addr", "add", `${guest}/30`, "dev", inner);
    ip("netns", "exec", name, "ip", "link", "set", inner, "up");
    ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
  } catch (e) {
    ip("netns", "del", name);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  /** @param {string} ruleset */
  const nft = (ruleset) => execFileSync("ip", ["netns", "exec", name, "nft", "-f", "-"], { input: ruleset, stdio: ["pipe", "ignore", "pipe"] });
  return {
    name,
    host,
    guest,
    /** A script that runs `executable` (with its arguments) inside the namespace. @param {string} executable */
    wrap(executable) {
      const script = join(dir, `in-${name}-${executable.split("/").pop()}`);
      writeFileSync(script, `#!/bin/sh\nexec ip netns exec ${name} ${executable} "$@"\n`);
      chmodSync(script, 0o755);
      return script;
    },
    /** Drops everything sent from inside to UDP and TCP `port` of `host`. @param {number} port */
    block(port) {
      nft(`table inet convene_block {\n chain output {\n  type filter hook output priority 0; policy accept;\n  ip daddr ${host} udp dport ${port} drop\n  ip daddr ${host} tcp dport ${port} drop\n }\n}\n`);
    },
    unblock() {
      nft("delete table inet convene_block\n");
    },
    /**
     * Shapes what reaches the namespace (its downlink) to `kbit` kbit/s with a token bucket
     * (`tc … tbf` on this machine's end of the link; its queue holds `latencyMs` of traffic,
     * the rest is dropped, as a congested access link does); `unshape()` lifts it.
     * @param {number} kbit @param {number} [latencyMs]
     */
    shapeDownlink(kbit, latencyMs = 200) {
      execFileSync("tc", ["qdisc", "replace", "dev", outer, "root", "tbf", "rate", `${kbit}kbit`, "burst", "16kb", "latency", `${latencyMs}ms`], { stdio: ["ignore", "ignore", "pipe"] });
    },
    unshape() {
      execFileSync("tc", ["qdisc", "del", "dev", outer, "root"], { stdio: ["ignore", "ignore", "pipe"] });
    },
    /**
     * Random loss on the downlink (`tc netem` is not in every kernel; nftables' `numgen` is):
     * drops `percent` % (a whole number) of the UDP packets from `port` of `host` that reach the namespace, each
     * on its own draw. `counts()` says how many arrived there and how many of them were dropped
     * so far; `lift()` ends the loss.
     * @param {number} port @param {number} percent
     */
    lossy(port, percent) {
      nft(
        `table ip convene_loss {\n chain input {\n  type filter hook input priority 0; policy accept;\n` +
          `  ip saddr ${host} udp sport ${port} counter\n` +
          `  ip saddr ${host} udp sport ${port} numgen random mod 100 < ${percent} counter drop\n }\n}\n`,
      );
      let lifted = false;
      return {
        /** @returns {{arrived: number, dropped: number}} */
        counts() {
          const out = execFileSync("ip", ["netns", "exec", name, "nft", "list", "table", "ip", "convene_loss"], { encoding: "utf8" });
          const [arrived, dropped] = [...out.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
          return { arrived, dropped };
        },
        lift() {
          if (lifted) return;
          lifted = true;
          nft("delete table ip convene_loss\n");
        },
      };
    },
    close() {
      try {
        ip("netns", "del", name); // takes the veth pair with it
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A port free for both UDP and TCP on `host` (the media engine listens on both). @param {string} host */
export async function freeMediaPort(host) {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = createServer();
      srv.listen(0, host, () => {
        const a = /** @type {import("node:net").AddressInfo} */ (srv.address());
        srv.close(() => resolve(a.port));
      });
      srv.on("error", reject);
    });
    const udpFree = await new Promise((resolve) => {
      const s = createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(port, host, () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error(`no free media port on ${host}`);
}

/** `pid` and every process below it. @param {number} pid */
function processTree(pid) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses; ppid follows the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // the process ended meanwhile
    }
  }
  const tree = new Set([pid]);
  for (const p of tree) for (const c of children.get(p) ?? []) tree.add(c);
  return tree;
}

/**
 * The TCP and UDP sockets of a set of processes, from `ss`.
 * @param {Set<number>} pids
 * @returns {{proto: string, localPort: number, peerPort: number}[]}
 */
function socketsOf(pids) {
  const out = execFileSync("ss", ["-tunapH"], { encoding: "utf8" });
  const found = [];
  for (const line of out.split("\n")) {
    const [proto, , , , local, peer, ...rest] = line.trim().split(/\s+/);
    if (!peer) continue;
    const owners = [...rest.join(" ").matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    if (!owners.some((p) => pids.has(p))) continue;
    found.push({ proto, localPort: Number(local.split(":").pop()), peerPort: Number(peer.split(":").pop()) });
  }
  return found;
}

/**
 * Cuts the browser whose process is `pid` off a server on 127.0.0.1 until `end()`: its media
 * (UDP between its sockets and the media port) is dropped both ways, its open connections to
 * the HTTP port (the meeting's WebSocket) are reset at both ends as soon as either sends, and
 * no new connection to the HTTP port
 * gets through (from anyone: the other browsers keep their open sockets).
 * @param {{pid: number, httpPort: number, mediaPort: number}} where
 */
export function blip({ pid, httpPort, mediaPort }) {
  const socks = socketsOf(processTree(pid));
  const udp = [...new Set(socks.filter((s) => s.proto === "udp").map((s) => s.localPort))];
  const tcp = [...new Set(socks.filter((s) => s.proto === "tcp" && s.peerPort === httpPort).map((s) => s.localPort))];
  if (udp.length === 0 || tcp.length === 0) throw new Error(`no sockets of the browser to cut off: udp ${udp}, tcp ${tcp}`);
  const table = `convene_blip_${process.pid}`;
  const set = (/** @type {number[]} */ ports) => `{ ${ports.join(", ")} }`;
  const rules = [
    `ip daddr 127.0.0.1 udp sport ${set(udp)} udp dport ${mediaPort} drop`,
    `ip daddr 127.0.0.1 udp sport ${mediaPort} udp dport ${set(udp)} drop`,
    // Not the resets themselves (the kernel's answer to a rejected packet passes here too).
    `ip daddr 127.0.0.1 tcp sport ${set(tcp)} tcp dport ${httpPort} tcp flags & rst == 0 reject with tcp reset`,
    `ip daddr 127.0.0.1 tcp sport ${httpPort} tcp dport ${set(tcp)} tcp flags & rst == 0 reject with tcp reset`,
    `ip daddr 127.0.0.1 tcp dport ${httpPort} tcp flags & (syn | ack) == syn reject with tcp reset`,
  ];
  const nft = (/** @type {string} */ text) => execFileSync("nft", ["-f", "-"], { input: text, stdio: ["pipe", "ignore", "pipe"] });
  nft(`table inet ${table} {\n chain output {\n  type filter hook output priority 0; policy accept;\n  ${rules.join("\n  ")}\n }\n}\n`);
  let ended = false;
  return {
    udp,
    tcp,
    end() {
      if (ended) return;
      ended = true;
      nft(`delete table inet ${table}\n`);
    },
  };
}
