// When a connection fails (ICE or DTLS, or is not up 10 s after it began checking), both are
// made anew after a delay that doubles with every failure in a row (2 s up to 30 s, with
// jitter), and after a few failures the session reports `trouble`: what seems blocked and what
// helps. The server also limits how often a participant may start media over
// (`media_restart_limited`); the session then waits longer.
//
// This file holds the policy (delays, messages, when a connection counts as failed); the
// MediaSession in peer.js keeps the state and runs it.

import { splitAddress } from "./sdp.js";

/** Media restarts after failures: the first waits about 2 s, each next one twice as long, up to 30 s. */
const RESTART_BASE_MS = 2_000;
const RESTART_CAP_MS = 30_000;
/**
 * A connection still checking (or disconnected) after this long counts as failed: on a
 * network that silently drops the media port, browsers keep checking for minutes (an ICE-TCP
 * connection attempt hangs until the TCP timeout) and never report `failed`.
 */
const CONNECT_TIMEOUT_MS = 10_000;
/** Failures in a row after which the user is told what is wrong. */
export const FAILURES_BEFORE_TROUBLE = 3;
/** The wait after the server refused a restart (its budget is per minute, protocol §2a). */
export const LIMITED_WAIT_MS = 30_000;

/**
 * The wait before media restart number `failures` (1 = after the first failure): doubling from
 * RESTART_BASE_MS up to RESTART_CAP_MS, drawn from the upper half of that (jitter, so people who
 * lost the server together do not all come back in the same instant).
 * @param {number} failures @param {() => number} [random] in [0, 1)
 */
export function restartDelay(failures, random = Math.random) {
  const ceiling = Math.min(RESTART_CAP_MS, RESTART_BASE_MS * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + (random() * ceiling) / 2;
}

/**
 * Why audio and video are not flowing, for the user.
 * @typedef {object} MediaTrouble
 * @property {"unreachable" | "limited" | "busy"} reason the media connection keeps failing, the
 *   server refused to start it over again so soon, or it is at capacity (no new publishers)
 * @property {number} failures failed connections in a row
 * @property {number} retry_at when the next attempt starts (epoch ms)
 * @property {string} message what seems blocked and what helps
 */


/**
 * Watches one connection: `failed` when it fails or is not up CONNECT_TIMEOUT_MS after it
 * began checking, `connected` when it comes up; nothing once it is no longer `current`.
 * @param {RTCPeerConnection} pc
 * @param {{current: () => boolean, failed: () => void, connected: () => void}} on
 */
export function watchConnection(pc, on) {
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  const stopTimer = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  const check = () => {
    const ice = pc.iceConnectionState;
    if (!on.current()) stopTimer();
    else if (ice === "failed" || pc.connectionState === "failed") {
      stopTimer();
      on.failed();
    } else if (pc.connectionState === "connected") {
      stopTimer();
      on.connected();
    } else if ((ice === "checking" || ice === "disconnected") && !timer) {
      timer = setTimeout(() => {
        timer = null;
        if (on.current() && pc.connectionState !== "connected") on.failed();
      }, CONNECT_TIMEOUT_MS);
    }
  };
  pc.addEventListener("iceconnectionstatechange", check);
  pc.addEventListener("connectionstatechange", check);
}

/**
 * What to tell someone whose media connection keeps failing.
 * @param {string} serverAddress "host:port" from the server's SDP ("" if not known) @param {number} delay ms
 */
export function unreachableMessage(serverAddress, delay) {
  const [host, port] = splitAddress(serverAddress);
  const where = port ? `UDP and TCP port ${port} of ${host}` : "the server's media port";
  return (
    `Audio and video cannot connect: this network seems to block ${where}. Retrying in ${Math.round(delay / 1000)} s. ` +
    "Try another network, or ask your administrator to open that port or set up a TURN relay."
  );
}
