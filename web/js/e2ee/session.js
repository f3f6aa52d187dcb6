// One participant's end-to-end encryption state for one stay in a meeting (docs/e2ee.md
// "Keys"): my sender key and when it changes, which key blobs go to whom, the keys other
// participants sent me, and the security code. It hears "joined", "left", "blob received"
// from the room and says "send this blob to X", "encrypt with this key now", "this key
// decrypts X's media", "the code is now …". No DOM, no network: the room relays the blobs
// (`e2ee_key` messages) and a KeySink (the transform worker, media.js) holds the media keys.
//
// - Someone joins: I ratchet my key forward (RFC 9605 §5.1) and give the newcomer the new
//   step; everyone else derives it from the step they hold. The newcomer cannot go back.
// - Someone leaves (or is removed): I make a fresh key and send it to everyone left, and
//   switch to it once all of them acknowledged it, or after SWITCH_TIMEOUT_MS.

import { equalBytes, randomBytes } from "./bytes.js";
import { BASE_KEY_BYTES, BlobKind, MAX_BLOB_CHARS, importPeerKey, openBlob, sealBlob } from "./identity.js";
import { MAX_STEP, makeKid, splitKid } from "./keyring.js";
import { securityCode } from "./security-code.js";
import { SUITE, ratchet } from "./sframe.js";

/** @typedef {import("./bytes.js").Bytes} Bytes */
/** @typedef {import("./identity.js").Identity} Identity */
/** @typedef {import("./identity.js").PeerKey} PeerKey */
/** @typedef {import("./identity.js").WrapContext} WrapContext */

/** How long a new key waits for acknowledgements before I encrypt with it anyway. */
export const SWITCH_TIMEOUT_MS = 1_500;
/** Blobs from someone I do not know yet (their `participant_joined` is late) are held, a few. */
const HELD_PER_SENDER = 8;
const HELD_SENDERS = 64;

/**
 * What holds the media keys: the transform worker in the browser (media.js `E2eeMedia`), a
 * FrameCrypter in tests.
 * @typedef {object} KeySink
 * @property {(kid: bigint, baseKey: Bytes) => unknown} setSendKey encrypt my frames with this key from now on
 * @property {(participantId: string, kid: bigint, baseKey: Bytes) => unknown} addReceiveKey
 * @property {(participantId: string) => unknown} removeParticipant
 */

/** A participant as signaling describes them: id and public identity key (base64url). @typedef {{participantId: string, identityKey: string}} Announced */

/** @typedef {{id: string, key: PeerKey, shared: Promise<Bytes>}} Member */
/** @typedef {{generation: number, step: number, baseKey: Bytes}} Chain */
/** @typedef {Chain & {reason: "leave" | "exhausted", waiting: Set<string>, cancel: () => void}} Pending */

/**
 * @typedef {object} SessionCounters
 * @property {number} ratchets key steps forward because someone joined
 * @property {number} rotations fresh keys because someone left (or the ratchet ran out)
 * @property {number} switches times my frames moved to a fresh key
 * @property {number} blobsSent
 * @property {number} blobsReceived
 * @property {number} blobsRefused oversize, malformed or undecryptable blobs
 * @property {number} keysAccepted
 * @property {number} invalidIdentities participants announced with an unusable public key
 */

/**
 * @param {() => void} fn @param {number} ms @returns {() => void} cancels
 */
function setTimer(fn, ms) {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
}

/**
 * Events: `send` (detail {to, blob}: relay as an `e2ee_key` message), `security-code` (detail
 * {code, participants}), `key-changed` (detail {reason: "join" | "leave" | "exhausted", kid}),
 * `refused` (detail {from, reason}: a blob that was dropped), `error` (detail: the exception).
 */
export class E2eeSession extends EventTarget {
  /**
   * @param {object} opts
   * @param {string} opts.meetingId
   * @param {string} opts.selfId my participant id
   * @param {Identity} opts.identity
   * @param {KeySink} opts.keys
   * @param {(fn: () => void, ms: number) => () => void} [opts.schedule] timers (tests pass a fake clock)
   * @param {number} [opts.switchTimeoutMs]
   */
  constructor(opts) {
    super();
    this.meetingId = opts.meetingId;
    this.selfId = opts.selfId;
    this.identity = opts.identity;
    this.keys = opts.keys;
    this.schedule = opts.schedule ?? setTimer;
    this.switchTimeoutMs = opts.switchTimeoutMs ?? SWITCH_TIMEOUT_MS;
    /** Everyone else in the meeting. @type {Map<string, Member>} */
    this.members = new Map();
    /** The key my frames are encrypted with. @type {Chain | null} */
    this.current = null;
    /** A fresh key sent out, not yet used. @type {Pending | null} */
    this.pending = null;
    /** @type {Map<string, string[]>} */
    this.held = new Map();
    /** @type {string | null} */
    this.code = null;
    /** @type {SessionCounters} */
    this.counters = { ratchets: 0, rotations: 0, switches: 0, blobsSent: 0, blobsReceived: 0, blobsRefused: 0, keysAccepted: 0, invalidIdentities: 0 };
    this.closed = false;
    /** Every operation runs after the previous one: the crypto is asynchronous, the order is not. */
    this.queue = Promise.resolve();
  }

  /** @param {() => Promise<void>} op @returns {Promise<void>} */
  run(op) {
    const next = this.queue.then(() => (this.closed ? undefined : op()));
    this.queue = next.catch((err) => this.emit("error", err));
    return this.queue;
  }

  /** @param {string} type @param {unknown} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Starts with everyone in the meeting (from `welcome`, me included): my first key, sent to
   * each of them.
   * @param {Announced[]} participants
   */
  start(participants) {
    return this.run(async () => {
      if (this.current) return;
      for (const p of participants) if (p.participantId !== this.selfId) await this.admit(p);
      this.current = { generation: 0, step: 0, baseKey: randomBytes(BASE_KEY_BYTES) };
      await this.keys.setSendKey(makeKid(0, 0), this.current.baseKey);
      for (const m of this.members.values()) await this.sendKey(m, this.current, BlobKind.KEY);
      for (const id of [...this.held.keys()]) if (this.members.has(id)) await this.release(id);
      await this.updateCode();
    });
  }

  /** Someone entered the meeting (`participant_joined`). @param {Announced} participant */
  join(participant) {
    return this.run(() => this.joined(participant));
  }

  /** Someone is gone for good (`participant_left`: left, removed, disconnected). @param {string} participantId */
  leave(participantId) {
    return this.run(() => this.left(participantId));
  }

  /**
   * Someone's identity key changed (they reloaded the page): whoever holds the new key may
   * not be who held the old one, so this is a leave and a join.
   * @param {Announced} participant
   */
  replace(participant) {
    return this.run(async () => {
      await this.left(participant.participantId);
      await this.joined(participant);
    });
  }

  /** A key blob relayed from `from` (`e2ee_key`). @param {string} from @param {string} blob */
  receive(from, blob) {
    return this.run(async () => {
      this.counters.blobsReceived++;
      await this.received(from, blob);
    });
  }

  /** Stops: no more blobs, timers or events. */
  close() {
    this.pending?.cancel();
    this.closed = true;
  }

  /** @param {Announced} p @returns {Promise<Member | null>} */
  async admit(p) {
    const key = await importPeerKey(p.identityKey);
    if (!key) {
      this.counters.invalidIdentities++;
      return null;
    }
    /** @type {Member} */
    const member = { id: p.participantId, key, shared: this.identity.agree(key) };
    // Awaited when a blob goes to or comes from them; a failure surfaces there, not as an unhandled rejection.
    member.shared.catch(() => {});
    this.members.set(member.id, member);
    return member;
  }

  /** @param {Announced} p */
  async joined(p) {
    if (p.participantId === this.selfId) return;
    const known = this.members.get(p.participantId);
    if (known) {
      const again = await importPeerKey(p.identityKey);
      if (again && equalBytes(again.raw, known.key.raw)) return;
      await this.left(p.participantId);
    }
    const member = await this.admit(p);
    if (!member || !this.current) return;
    // Ratchet whichever key I am about to send with: the pending one if a rotation is under way.
    const chain = this.pending ?? this.current;
    if (chain.step >= MAX_STEP) {
      await this.rotate("exhausted");
    } else {
      chain.step++;
      chain.baseKey = await ratchet(SUITE, chain.baseKey);
      this.counters.ratchets++;
      const kid = makeKid(chain.generation, chain.step);
      if (chain === this.current) await this.keys.setSendKey(kid, chain.baseKey);
      await this.sendKey(member, chain, BlobKind.KEY);
      this.emit("key-changed", { reason: "join", kid });
    }
    await this.release(member.id);
    await this.updateCode();
  }

  /** @param {string} id */
  async left(id) {
    this.held.delete(id);
    if (!this.members.delete(id)) return;
    await this.keys.removeParticipant(id);
    if (this.current) await this.rotate("leave");
    await this.updateCode();
  }

  /**
   * Sends a fresh key to everyone and switches to it once all acknowledged (or on timeout).
   * @param {"leave" | "exhausted"} reason
   */
  async rotate(reason) {
    const base = this.pending ?? this.current;
    if (!base) return;
    this.pending?.cancel();
    /** @type {Pending} */
    const next = { generation: base.generation + 1, step: 0, baseKey: randomBytes(BASE_KEY_BYTES), reason, waiting: new Set(this.members.keys()), cancel: () => {} };
    this.pending = next;
    this.counters.rotations++;
    for (const m of this.members.values()) await this.sendKey(m, next, BlobKind.KEY_ACK_REQUESTED);
    if (next.waiting.size === 0) {
      await this.switchKey();
      return;
    }
    next.cancel = this.schedule(() => {
      this.run(async () => {
        if (this.pending === next) await this.switchKey();
      });
    }, this.switchTimeoutMs);
  }

  /** Encrypts with the pending key from now on. */
  async switchKey() {
    const p = this.pending;
    if (!p) return;
    p.cancel();
    this.pending = null;
    this.current = { generation: p.generation, step: p.step, baseKey: p.baseKey };
    const kid = makeKid(p.generation, p.step);
    await this.keys.setSendKey(kid, p.baseKey);
    this.counters.switches++;
    this.emit("key-changed", { reason: p.reason, kid });
  }

  /** @param {string} from @param {string} blob */
  async received(from, blob) {
    if (typeof blob !== "string" || blob.length > MAX_BLOB_CHARS) return this.refuse(from, "oversize");
    const member = this.members.get(from);
    if (!member || !this.current) return this.hold(from, blob);
    const msg = await openBlob(await member.shared, this.context(from, member.key.raw, this.selfId, this.identity.publicKey), blob);
    if ("error" in msg) return this.refuse(from, msg.error);
    if (msg.kind === BlobKind.ACK) {
      const p = this.pending;
      if (p && splitKid(msg.kid).generation === p.generation) {
        p.waiting.delete(from);
        if (p.waiting.size === 0) await this.switchKey();
      }
      return;
    }
    await this.keys.addReceiveKey(from, msg.kid, msg.baseKey);
    this.counters.keysAccepted++;
    if (msg.kind === BlobKind.KEY_ACK_REQUESTED) await this.send(member, { kind: BlobKind.ACK, kid: msg.kid, baseKey: null });
  }

  /** @param {string} from @param {string} blob */
  hold(from, blob) {
    const list = this.held.get(from) ?? [];
    if (list.length >= HELD_PER_SENDER || (!this.held.has(from) && this.held.size >= HELD_SENDERS)) return this.refuse(from, "unknown_sender");
    list.push(blob);
    this.held.set(from, list);
  }

  /** Processes blobs that arrived before their sender's `participant_joined`. @param {string} id */
  async release(id) {
    const list = this.held.get(id) ?? [];
    this.held.delete(id);
    for (const blob of list) await this.received(id, blob);
  }

  /** @param {string} from @param {string} reason */
  refuse(from, reason) {
    this.counters.blobsRefused++;
    this.emit("refused", { from, reason });
  }

  /** @param {Member} m @param {Chain} chain @param {1 | 2} kind */
  sendKey(m, chain, kind) {
    return this.send(m, { kind, kid: makeKid(chain.generation, chain.step), baseKey: chain.baseKey });
  }

  /** @param {Member} m @param {import("./identity.js").BlobMessage} message */
  async send(m, message) {
    const blob = await sealBlob(await m.shared, this.context(this.selfId, this.identity.publicKey, m.id, m.key.raw), message);
    this.counters.blobsSent++;
    this.emit("send", { to: m.id, blob });
  }

  /** @param {string} senderId @param {Bytes} senderKey @param {string} recipientId @param {Bytes} recipientKey @returns {WrapContext} */
  context(senderId, senderKey, recipientId, recipientKey) {
    return { meetingId: this.meetingId, senderId, senderKey, recipientId, recipientKey };
  }

  async updateCode() {
    const everyone = [{ participantId: this.selfId, publicKey: this.identity.publicKey }];
    for (const m of this.members.values()) everyone.push({ participantId: m.id, publicKey: m.key.raw });
    const code = await securityCode(this.meetingId, everyone);
    if (code === this.code) return;
    this.code = code;
    this.emit("security-code", { code, participants: everyone.length });
  }
}
