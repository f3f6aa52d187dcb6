// The end-to-end encryption worker (a dedicated module worker, one per meeting stay; started
// by media.js): every outgoing encoded frame is encrypted and every incoming one decrypted
// here, for RTCRtpScriptTransform (`rtctransform` events) and, where only that exists, for the
// streams of `createEncodedStreams` handed over by message. One FrameCrypter serves all
// transforms, so all my tracks share one frame counter per key. A frame that cannot be
// processed is dropped and counted; the transform never stops.

import { FrameCrypter } from "./crypter.js";

/** @typedef {import("./bytes.js").Bytes} Bytes */
/** @typedef {import("./crypter.js").EncodedFrame} EncodedFrame */

/**
 * What one transform is attached to (the RTCRtpScriptTransform options, or sent with the
 * streams).
 * @typedef {object} TransformOptions
 * @property {number} id unique within the page
 * @property {"send" | "receive"} direction
 * @property {"audio" | "video"} kind
 * @property {string | null} participantId whose media a receiver carries (null for senders, or not known yet)
 */

/**
 * Messages from media.js.
 * @typedef {{type: "send-key", kid: bigint, baseKey: Bytes}
 *   | {type: "receive-key", participantId: string, kid: bigint, baseKey: Bytes}
 *   | {type: "forget", participantId: string}
 *   | {type: "bind", id: number, participantId: string | null}
 *   | {type: "streams", options: TransformOptions, readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame>}
 *   | {type: "stats", requestId: number}} Command
 */

/**
 * The worker side of an RTCRtpScriptTransform (lib.webworker's RTCRtpScriptTransformer; this
 * project type-checks against the DOM library).
 * @typedef {object} Transformer
 * @property {ReadableStream<EncodedFrame>} readable
 * @property {WritableStream<EncodedFrame>} writable
 * @property {TransformOptions} options
 * @property {() => Promise<void>} [sendKeyFrameRequest]
 */

/**
 * @typedef {object} WorkerScope
 * @property {(message: unknown) => void} postMessage
 * @property {((event: MessageEvent<Command>) => void) | null} onmessage
 * @property {((event: {transformer: Transformer}) => void) | null} onrtctransform
 */

/** A receiver that got its first decryptable frame after undecryptable ones asks for a keyframe, at most this often. */
const KEYFRAME_REQUEST_MS = 1_000;

const scope = /** @type {WorkerScope} */ (/** @type {unknown} */ (self));
const crypter = new FrameCrypter();
/** Whose media each receiving transform carries, by transform id (the SFU may reuse an m-line). @type {Map<number, string | null>} */
const bindings = new Map();
let errors = 0;

/**
 * Runs one transform: encrypt or decrypt each frame, pass it on only if that worked.
 * @param {TransformOptions} options @param {ReadableStream<EncodedFrame>} readable
 * @param {WritableStream<EncodedFrame>} writable @param {Transformer | null} transformer
 */
function pipe(options, readable, writable, transformer) {
  const { id, direction, kind } = options;
  // A `bind` may have come first: the transform event is queued behind it.
  if (direction === "receive" && !bindings.has(id)) bindings.set(id, options.participantId ?? null);
  let undecryptable = false;
  let lastKeyframeRequest = -Infinity;
  const stream = new TransformStream({
    async transform(frame, controller) {
      try {
        if (direction === "send") {
          if ((await crypter.encryptFrame(frame, kind)) === "ok") controller.enqueue(frame);
          return;
        }
        const outcome = await crypter.decryptFrame(frame, kind, bindings.get(id) ?? null);
        if (outcome !== "ok") {
          undecryptable ||= outcome === "unknownKey" || outcome === "unbound";
          return;
        }
        controller.enqueue(frame);
        // The key arrived mid-stream (RFC 9605 §6.2): delta frames cannot be decoded without
        // the keyframe that went by, so ask for one rather than wait for the decoder to.
        const delta = kind === "video" && (new Uint8Array(frame.data)[0] & 0x01) === 1;
        if (undecryptable && delta && transformer?.sendKeyFrameRequest && performance.now() - lastKeyframeRequest > KEYFRAME_REQUEST_MS) {
          lastKeyframeRequest = performance.now();
          transformer.sendKeyFrameRequest().catch(() => {});
        }
        undecryptable = false;
      } catch {
        errors++;
      }
    },
  });
  readable
    .pipeThrough(stream)
    .pipeTo(writable)
    .catch(() => {})
    .finally(() => bindings.delete(id));
}

scope.onrtctransform = (/** @type {{transformer: Transformer}} */ event) => {
  const t = event.transformer;
  pipe(t.options, t.readable, t.writable, t);
};

scope.onmessage = async (/** @type {MessageEvent<Command>} */ event) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case "send-key":
        await crypter.setSendKey(msg.kid, msg.baseKey);
        break;
      case "receive-key":
        crypter.addReceiveKey(msg.participantId, msg.kid, msg.baseKey);
        break;
      case "forget":
        crypter.removeParticipant(msg.participantId);
        break;
      case "bind":
        bindings.set(msg.id, msg.participantId);
        break;
      case "streams":
        pipe(msg.options, msg.readable, msg.writable, null);
        break;
      case "stats":
        scope.postMessage({ type: "stats", requestId: msg.requestId, counters: { ...crypter.counters, errors } });
        break;
    }
  } catch (err) {
    errors++;
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
