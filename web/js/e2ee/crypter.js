// Encrypts and decrypts encoded media frames with SFrame (docs/e2ee.md "Frame layout"):
//
//   [clear prefix (codec.js)] [SFrame header: KID, CTR] [AES-GCM ciphertext + 16-byte tag]
//
// with the header and the clear prefix as AAD (RFC 9605's `header || metadata`). Every frame
// that is not what it should be — no key yet, unknown KID, bad tag, cut short, replayed, a
// codec the meeting does not carry — is dropped and counted; nothing here throws for bad
// input. The transform worker runs one FrameCrypter for all its senders and receivers. No DOM.

import { concat } from "./bytes.js";
import { clearPrefix, codecOf } from "./codec.js";
import { KeyRing } from "./keyring.js";
import { SUITE, decodeHeader, frameKey, open, seal } from "./sframe.js";

/** @typedef {import("./bytes.js").Bytes} Bytes */
/** @typedef {import("./sframe.js").FrameKey} FrameKey */
/** @typedef {import("./sframe.js").Suite} Suite */

/**
 * What the worker hands over: an RTCEncodedVideoFrame or RTCEncodedAudioFrame (or a stand-in
 * in tests). Only `data` is replaced.
 * @typedef {object} EncodedFrame
 * @property {ArrayBuffer} data
 * @property {() => {mimeType?: string}} [getMetadata]
 */

/**
 * Why a frame went through (`ok`) or was dropped.
 * @typedef {"ok" | "noSendKey" | "unknownKey" | "authFailed" | "malformed" | "replayed" | "unsupportedCodec" | "unbound"} Outcome
 */

/** @typedef {Record<Exclude<Outcome, "ok">, number> & {encrypted: number, decrypted: number}} Counters */

/** @returns {Counters} */
export function emptyCounters() {
  return { encrypted: 0, decrypted: 0, noSendKey: 0, unknownKey: 0, authFailed: 0, malformed: 0, replayed: 0, unsupportedCodec: 0, unbound: 0 };
}

/** @param {EncodedFrame} frame */
function mimeTypeOf(frame) {
  try {
    return frame.getMetadata?.().mimeType;
  } catch {
    return undefined;
  }
}

export class FrameCrypter {
  /** @param {{suite?: Suite, now?: () => number}} [opts] */
  constructor(opts = {}) {
    this.suite = opts.suite ?? SUITE;
    this.ring = new KeyRing({ suite: this.suite, now: opts.now });
    /** @type {{key: FrameKey, ctr: bigint} | null} */
    this.send = null;
    /** Every KID this session has encrypted with: giving one again would restart its counter. */
    this.sentKids = new Set();
    this.sendRequests = 0;
    this.counters = emptyCounters();
  }

  /**
   * Encrypts from now on with this key, its counter starting at 0. A KID is accepted once:
   * the same key and counter twice would repeat AES-GCM nonces.
   * @param {bigint} kid @param {Bytes} baseKey
   */
  async setSendKey(kid, baseKey) {
    if (this.sentKids.has(kid)) throw new Error(`sending KID ${kid} was set before`);
    this.sentKids.add(kid);
    const request = ++this.sendRequests;
    const key = await frameKey(this.suite, kid, baseKey);
    // A later call that finished first wins; frames keep the old key until the new one is ready.
    if (request === this.sendRequests) this.send = { key, ctr: 0n };
  }

  /** @param {string} participantId @param {bigint} kid @param {Bytes} baseKey */
  addReceiveKey(participantId, kid, baseKey) {
    return this.ring.add(participantId, kid, baseKey);
  }

  /** @param {string} participantId */
  removeParticipant(participantId) {
    this.ring.remove(participantId);
  }

  /**
   * Encrypts an outgoing frame in place. Anything but `ok` means: drop it.
   * @param {EncodedFrame} frame @param {"audio" | "video"} kind @returns {Promise<Outcome>}
   */
  async encryptFrame(frame, kind) {
    const data = new Uint8Array(frame.data);
    // An empty frame carries nothing to protect (and nothing to authenticate).
    if (data.length === 0) return "ok";
    const codec = codecOf(kind, mimeTypeOf(frame));
    if (!codec) return this.drop("unsupportedCodec");
    const n = clearPrefix(codec, data);
    if (n === null) return this.drop("malformed");
    const send = this.send;
    if (!send) return this.drop("noSendKey");
    // Taken before any await: frames of all tracks encrypting at once each get their own CTR.
    const ctr = send.ctr++;
    const prefix = data.subarray(0, n);
    const sealed = await seal(send.key, ctr, prefix, data.subarray(n));
    frame.data = concat(prefix, sealed).buffer;
    this.counters.encrypted++;
    return "ok";
  }

  /**
   * Decrypts an incoming frame of `participantId` in place; only that participant's keys are
   * tried, so the server cannot pass one person's frames off as another's.
   * @param {EncodedFrame} frame @param {"audio" | "video"} kind @param {string | null} participantId
   * @returns {Promise<Outcome>}
   */
  async decryptFrame(frame, kind, participantId) {
    const data = new Uint8Array(frame.data);
    if (data.length === 0) return "ok";
    if (participantId === null) return this.drop("unbound");
    const codec = codecOf(kind, mimeTypeOf(frame));
    if (!codec) return this.drop("unsupportedCodec");
    const n = clearPrefix(codec, data);
    if (n === null) return this.drop("malformed");
    const header = decodeHeader(data, n);
    if (!header) return this.drop("malformed");
    const body = data.subarray(n + header.length);
    if (body.length < this.suite.nt) return this.drop("malformed");
    const entry = await this.ring.lookup(participantId, header.kid);
    if (!entry) return this.drop("unknownKey");
    if (!entry.replay.fresh(header.ctr)) return this.drop("replayed");
    const prefix = data.subarray(0, n);
    const plain = await open(await entry.frameKey, header, data.subarray(n, n + header.length), prefix, body);
    if (!plain) return this.drop("authFailed");
    // Checked again: another frame with this CTR may have been accepted while this one decrypted.
    if (!entry.replay.fresh(header.ctr)) return this.drop("replayed");
    entry.replay.commit(header.ctr);
    this.ring.confirm(participantId, entry);
    frame.data = concat(prefix, plain).buffer;
    this.counters.decrypted++;
    return "ok";
  }

  /** @param {Exclude<Outcome, "ok">} why @returns {Outcome} */
  drop(why) {
    this.counters[why]++;
    return why;
  }
}
