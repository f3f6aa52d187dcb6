// The keys a receiver holds for the other participants' media (docs/e2ee.md "Keys"): each
// sender's base keys by KID, ratcheted forward when a frame names a later step, kept a few
// seconds after a newer key of the same sender has decrypted a frame, each with a replay
// window. Lives in the transform worker; no DOM.

import { SUITE, frameKey, ratchet } from "./sframe.js";

/** @typedef {import("./bytes.js").Bytes} Bytes */
/** @typedef {import("./sframe.js").FrameKey} FrameKey */
/** @typedef {import("./sframe.js").Suite} Suite */

/**
 * KID = generation << STEP_BITS | ratchet step (RFC 9605 §5.1's sender-key scheme). A sender
 * starts a new generation (a fresh key) rather than ratchet past MAX_STEP, so the step in a
 * KID is never truncated and a receiver always knows how far to ratchet.
 */
export const STEP_BITS = 7;
export const MAX_STEP = (1 << STEP_BITS) - 1;
/** How long a superseded key still decrypts frames in flight (jitter buffers hold < 1 s). */
export const KEEP_SUPERSEDED_MS = 5_000;
/** Frames more than this many counter values behind the newest one of their key are refused. */
export const REPLAY_WINDOW = 4096n;

/** @param {number} generation @param {number} step */
export function makeKid(generation, step) {
  if (!Number.isSafeInteger(generation) || generation < 0 || !Number.isInteger(step) || step < 0 || step > MAX_STEP) {
    throw new RangeError("bad key generation or step");
  }
  return (BigInt(generation) << BigInt(STEP_BITS)) | BigInt(step);
}

/** @param {bigint} kid */
export function splitKid(kid) {
  return { generation: Number(kid >> BigInt(STEP_BITS)), step: Number(kid & BigInt(MAX_STEP)) };
}

/**
 * The CTR values of one key already accepted. The sender's one counter runs across all its
 * tracks, so a frame replayed from another track (audio bytes into video) is caught too.
 */
export class ReplayWindow {
  constructor() {
    this.highest = -1n;
    /** @type {Set<bigint>} */
    this.seen = new Set();
  }

  /** Whether a frame with this CTR may be accepted (not seen, not too old). @param {bigint} ctr */
  fresh(ctr) {
    if (this.highest >= 0n && ctr + REPLAY_WINDOW <= this.highest) return false;
    return !this.seen.has(ctr);
  }

  /** Records an authenticated frame's CTR (never an unauthenticated one's). @param {bigint} ctr */
  commit(ctr) {
    this.seen.add(ctr);
    if (ctr > this.highest) this.highest = ctr;
    if (this.seen.size > 2 * Number(REPLAY_WINDOW)) {
      for (const c of this.seen) if (c + REPLAY_WINDOW <= this.highest) this.seen.delete(c);
    }
  }
}

/**
 * One base key of one sender.
 * @typedef {object} Entry
 * @property {bigint} kid
 * @property {number} generation
 * @property {number} step
 * @property {Bytes} baseKey
 * @property {Promise<FrameKey>} frameKey
 * @property {boolean} confirmed a frame authenticated with it
 * @property {number | null} supersededAt when a newer key of the sender first authenticated a frame
 * @property {ReplayWindow} replay
 */

/**
 * @typedef {object} Peer
 * @property {Map<bigint, Entry>} entries
 * @property {{generation: number, step: number} | null} newest the newest confirmed key
 * @property {Promise<unknown>} deriving ratchet derivations of this sender, one at a time
 */

/** @param {{generation: number, step: number}} a @param {{generation: number, step: number}} b */
function older(a, b) {
  return a.generation < b.generation || (a.generation === b.generation && a.step < b.step);
}

export class KeyRing {
  /** @param {{suite?: Suite, now?: () => number}} [opts] */
  constructor(opts = {}) {
    this.suite = opts.suite ?? SUITE;
    this.now = opts.now ?? (() => Date.now());
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
  }

  /** @param {string} participantId */
  peer(participantId) {
    let p = this.peers.get(participantId);
    if (!p) {
      p = { entries: new Map(), newest: null, deriving: Promise.resolve() };
      this.peers.set(participantId, p);
    }
    return p;
  }

  /** @param {bigint} kid @param {Bytes} baseKey @returns {Entry} */
  entry(kid, baseKey) {
    const { generation, step } = splitKid(kid);
    return { kid, generation, step, baseKey, frameKey: frameKey(this.suite, kid, baseKey), confirmed: false, supersededAt: null, replay: new ReplayWindow() };
  }

  /**
   * Adds a sender's key (from a key blob). A key older than the newest one that already
   * decrypted this sender's frames is ignored (a replayed blob cannot bring an old key back);
   * `false` then.
   * @param {string} participantId @param {bigint} kid @param {Bytes} baseKey
   */
  add(participantId, kid, baseKey) {
    const p = this.peer(participantId);
    this.sweep(p);
    const e = this.entry(kid, baseKey);
    if (p.newest && !older(p.newest, e)) return false;
    const existing = p.entries.get(kid);
    if (existing?.confirmed) return false;
    p.entries.set(kid, e);
    return true;
  }

  /** Forgets every key of a participant (they left, or came back with a new identity). @param {string} participantId */
  remove(participantId) {
    this.peers.delete(participantId);
  }

  /**
   * The key for a KID of a sender, ratcheting a held key of the same generation forward when
   * the KID names a later step; `null` if no held key leads to it. Derived keys are real keys
   * of the sender's chain whether or not the frame that asked for them authenticates, so they
   * are kept; only `confirm` retires older ones.
   * @param {string} participantId @param {bigint} kid @returns {Promise<Entry | null>}
   */
  async lookup(participantId, kid) {
    const p = this.peers.get(participantId);
    if (!p) return null;
    this.sweep(p);
    const held = p.entries.get(kid);
    if (held) return held;
    const derive = p.deriving.then(() => this.derive(p, kid));
    p.deriving = derive.catch(() => null);
    return derive;
  }

  /** @param {Peer} p @param {bigint} kid @returns {Promise<Entry | null>} */
  async derive(p, kid) {
    const again = p.entries.get(kid);
    if (again) return again;
    const { generation, step } = splitKid(kid);
    /** @type {Entry | null} */
    let from = null;
    for (const e of p.entries.values()) {
      if (e.generation === generation && e.step < step && (!from || e.step > from.step)) from = e;
    }
    if (!from) return null;
    let baseKey = from.baseKey;
    /** @type {Entry | null} */
    let last = null;
    for (let s = from.step + 1; s <= step; s++) {
      baseKey = await ratchet(this.suite, baseKey);
      last = this.entry(makeKid(generation, s), baseKey);
      p.entries.set(last.kid, last);
    }
    return last;
  }

  /**
   * A frame authenticated with `entry`: the sender uses it now, so its older keys start their
   * grace period, and keys whose grace period is over are erased.
   * @param {string} participantId @param {Entry} entry
   */
  confirm(participantId, entry) {
    const p = this.peers.get(participantId);
    if (!p || entry.confirmed) return;
    entry.confirmed = true;
    const now = this.now();
    if (!p.newest || older(p.newest, entry)) p.newest = { generation: entry.generation, step: entry.step };
    for (const e of p.entries.values()) {
      if (e !== entry && e.supersededAt === null && older(e, entry)) e.supersededAt = now;
    }
    this.sweep(p);
  }

  /** @param {Peer} p */
  sweep(p) {
    const now = this.now();
    for (const [kid, e] of p.entries) {
      if (e.supersededAt !== null && now - e.supersededAt >= KEEP_SUPERSEDED_MS) p.entries.delete(kid);
    }
  }

  /** How many keys are held for a participant (for tests and stats). @param {string} participantId */
  size(participantId) {
    return this.peers.get(participantId)?.entries.size ?? 0;
  }
}
