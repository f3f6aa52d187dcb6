// End-to-end encrypted media on the page (docs/e2ee.md "Browser API"): starts the transform
// worker and attaches it to every RTCRtpSender and RTCRtpReceiver of the meeting's peer
// connections, with RTCRtpScriptTransform or, where only that exists, createEncodedStreams.
// It is the KeySink an E2eeSession drives. No DOM beyond WebRTC and Worker.
//
// Use:
//   const media = new E2eeMedia();
//   const pc = new RTCPeerConnection({ ...config, ...peerConnectionOptions() });
//   const t = pc.addTransceiver(track, …); media.attachSender(t.sender, "video");   // before negotiating
//   pc.ontrack = (e) => media.attachReceiver(e.receiver, participantIdOf(e));        // again when an m-line changes hands
//   const session = new E2eeSession({ …, keys: media });

/** @typedef {import("./bytes.js").Bytes} Bytes */
/** @typedef {import("./worker.js").Command} Command */
/** @typedef {import("./worker.js").TransformOptions} TransformOptions */
/** @typedef {import("./crypter.js").Counters & {errors: number}} MediaCounters */
/** @typedef {"script" | "streams"} TransformMode */

/** The pre-standard API of Chromium before RTCRtpScriptTransform (not in lib.dom). @typedef {{createEncodedStreams(): {readable: ReadableStream, writable: WritableStream}}} EncodedStreams */

/**
 * Which Encoded Transform API this browser has: `script` (RTCRtpScriptTransform: Safari 15.4+,
 * Firefox 117+, Chromium since its 2025 release of it), `streams` (createEncodedStreams only:
 * older Chromium, from 86), or `null`.
 * @returns {TransformMode | null}
 */
export function transformMode() {
  if (typeof globalThis.RTCRtpScriptTransform === "function") return "script";
  if (typeof RTCRtpSender !== "undefined" && "createEncodedStreams" in RTCRtpSender.prototype) return "streams";
  return null;
}

/**
 * Whether this browser can take part in an end-to-end encrypted meeting: an Encoded Transform
 * API, module workers, and WebCrypto (a secure context). A client without it is refused
 * before it gets in (docs/e2ee.md "Admission").
 */
export function e2eeSupported() {
  return transformMode() !== null && typeof Worker === "function" && globalThis.isSecureContext !== false && typeof globalThis.crypto?.subtle?.deriveBits === "function";
}

/**
 * What an E2EE meeting's RTCPeerConnections need in their configuration: with
 * createEncodedStreams, Chromium must be told at construction (and then every sender and
 * receiver must be attached, or its media stalls).
 * @param {TransformMode | null} [mode]
 * @returns {{encodedInsertableStreams?: boolean}}
 */
export function peerConnectionOptions(mode = transformMode()) {
  return mode === "streams" ? { encodedInsertableStreams: true } : {};
}

let nextTransformId = 1;

/**
 * Events: `error` (detail: message) when the worker refused a command (a sending KID given
 * twice).
 */
export class E2eeMedia extends EventTarget {
  /** @param {{mode?: TransformMode, workerUrl?: URL | string}} [opts] mode: force one API (tests) */
  constructor(opts = {}) {
    super();
    const mode = opts.mode ?? transformMode();
    if (!mode) throw new Error("this browser has no WebRTC Encoded Transform");
    this.mode = mode;
    this.worker = new Worker(opts.workerUrl ?? new URL("./worker.js", import.meta.url), { type: "module", name: "convene-e2ee" });
    /** @type {WeakMap<RTCRtpReceiver, number>} */
    this.receivers = new WeakMap();
    /** @type {WeakSet<RTCRtpSender>} */
    this.senders = new WeakSet();
    /** @type {Map<number, (counters: MediaCounters) => void>} */
    this.statsWaiting = new Map();
    this.worker.onmessage = (e) => {
      const msg = e.data;
      if (msg?.type === "stats") {
        this.statsWaiting.get(msg.requestId)?.(msg.counters);
        this.statsWaiting.delete(msg.requestId);
      } else if (msg?.type === "error") {
        this.dispatchEvent(new CustomEvent("error", { detail: msg.message }));
      }
    };
  }

  /**
   * Encrypts everything this sender sends (every simulcast layer). Attach right after
   * addTransceiver / addTrack, before negotiating: frames sent before would go out in clear.
   * Until the session sets a key, frames are dropped, not sent in clear.
   * @param {RTCRtpSender} sender @param {"audio" | "video"} kind
   */
  attachSender(sender, kind) {
    if (this.senders.has(sender)) return;
    this.senders.add(sender);
    this.attach(sender, { id: nextTransformId++, direction: "send", kind, participantId: null });
  }

  /**
   * Decrypts what this receiver gets with `participantId`'s keys. Call again with the new owner
   * when the SFU moves the m-line to another participant's track.
   * @param {RTCRtpReceiver} receiver @param {string | null} participantId
   */
  attachReceiver(receiver, participantId) {
    const id = this.receivers.get(receiver);
    if (id !== undefined) {
      this.post({ type: "bind", id, participantId });
      return;
    }
    /** @type {TransformOptions} */
    const options = { id: nextTransformId++, direction: "receive", kind: receiver.track.kind === "audio" ? "audio" : "video", participantId };
    this.receivers.set(receiver, options.id);
    this.attach(receiver, options);
  }

  /** @param {RTCRtpSender | RTCRtpReceiver} endpoint @param {TransformOptions} options */
  attach(endpoint, options) {
    if (this.mode === "script") {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, options);
      return;
    }
    const { readable, writable } = /** @type {EncodedStreams} */ (/** @type {unknown} */ (endpoint)).createEncodedStreams();
    this.worker.postMessage({ type: "streams", options, readable, writable }, [readable, writable]);
  }

  /** KeySink: my frames are encrypted with this key from now on. @param {bigint} kid @param {Bytes} baseKey */
  setSendKey(kid, baseKey) {
    this.post({ type: "send-key", kid, baseKey: baseKey.slice() });
  }

  /** KeySink: `participantId`'s frames with this KID (or a later ratchet step of it) decrypt with it. @param {string} participantId @param {bigint} kid @param {Bytes} baseKey */
  addReceiveKey(participantId, kid, baseKey) {
    this.post({ type: "receive-key", participantId, kid, baseKey: baseKey.slice() });
  }

  /** KeySink: forget everything of a participant who left. @param {string} participantId */
  removeParticipant(participantId) {
    this.post({ type: "forget", participantId });
  }

  /** Frames encrypted, decrypted and dropped (by reason) so far. @returns {Promise<MediaCounters>} */
  stats() {
    const requestId = nextTransformId++;
    return new Promise((resolve) => {
      this.statsWaiting.set(requestId, resolve);
      this.post({ type: "stats", requestId });
    });
  }

  /** @param {Command} command */
  post(command) {
    this.worker.postMessage(command);
  }

  /** Stops the worker: attached senders and receivers pass no more frames. */
  close() {
    this.worker.terminate();
    for (const resolve of this.statsWaiting.values()) resolve({ encrypted: 0, decrypted: 0, noSendKey: 0, unknownKey: 0, authFailed: 0, malformed: 0, replayed: 0, unsupportedCodec: 0, unbound: 0, errors: 0 });
    this.statsWaiting.clear();
  }
}
