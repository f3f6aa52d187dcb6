// Identity keys and key blobs (docs/e2ee.md "Key distribution"). Each participant makes an
// ECDH P-256 key pair for one stay in one meeting; a sender's media key reaches each other
// participant in a blob only that participant can open: AES-128-GCM under a key derived with
// HKDF-SHA256 from the two identity keys' ECDH secret, a fresh salt, and an info string that
// binds meeting, sender, recipient and both public keys. Static-static ECDH authenticates the
// sender too: the server, holding neither private key, can neither read a blob nor forge one.
// No DOM.

import { concat, bigEndian, fromBase64Url, lengthPrefixed, randomBytes, readBigEndian, toBase64Url, utf8 } from "./bytes.js";

/** @typedef {import("./bytes.js").Bytes} Bytes */

const ECDH = /** @type {const} */ ({ name: "ECDH", namedCurve: "P-256" });
/** An uncompressed P-256 point: 0x04, x, y. */
export const PUBLIC_KEY_BYTES = 65;
/** Base keys are Nh bytes, the size the RFC 9605 ratchet produces. */
export const BASE_KEY_BYTES = 32;
/** The longest blob a client sends or accepts, in base64url characters (the server's limit too). */
export const MAX_BLOB_CHARS = 1024;

export const BLOB_VERSION = 1;
/** What a blob carries: a base key; a base key the sender waits to have acknowledged; an acknowledgement. */
export const BlobKind = /** @type {const} */ ({ KEY: 1, KEY_ACK_REQUESTED: 2, ACK: 3 });
const SALT_BYTES = 16;
const IV_BYTES = 12;
/** version, kind, KID (8), salt, IV: authenticated as AAD, readable by the recipient first. */
const BLOB_HEADER_BYTES = 2 + 8 + SALT_BYTES + IV_BYTES;
const TAG_BYTES = 16;
const WRAP_LABEL = "Convene E2EE 1.0 key wrap";

/**
 * A participant's identity key pair for one stay in a meeting. The private key never leaves
 * WebCrypto (not extractable) and is not stored: a reload makes a new identity.
 */
export class Identity {
  /** @param {CryptoKey} privateKey @param {Bytes} publicKey the raw public key */
  constructor(privateKey, publicKey) {
    this.privateKey = privateKey;
    this.publicKey = publicKey;
  }

  static async generate() {
    const pair = await crypto.subtle.generateKey(ECDH, false, ["deriveBits"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return new Identity(pair.privateKey, raw);
  }

  /** The public key as it travels in signaling (unpadded base64url, 87 characters). */
  get publicKeyText() {
    return toBase64Url(this.publicKey);
  }

  /** The ECDH shared secret with a peer (32 bytes). @param {PeerKey} peer @returns {Promise<Bytes>} */
  async agree(peer) {
    return new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: peer.key }, this.privateKey, 256));
  }
}

/** Another participant's public identity key. @typedef {{raw: Bytes, key: CryptoKey}} PeerKey */

/**
 * Imports a public identity key from signaling; `null` unless it is base64url of an
 * uncompressed point on P-256 (WebCrypto checks the curve equation).
 * @param {string} text @returns {Promise<PeerKey | null>}
 */
export async function importPeerKey(text) {
  const raw = typeof text === "string" && text.length <= 100 ? fromBase64Url(text) : null;
  if (!raw || raw.length !== PUBLIC_KEY_BYTES || raw[0] !== 0x04) return null;
  try {
    return { raw, key: await crypto.subtle.importKey("raw", raw, ECDH, true, []) };
  } catch {
    return null;
  }
}

/**
 * Who a blob goes from and to; both sides build the same context from what they know.
 * @typedef {object} WrapContext
 * @property {string} meetingId
 * @property {string} senderId participant id
 * @property {Bytes} senderKey raw public identity key
 * @property {string} recipientId
 * @property {Bytes} recipientKey
 */

/** @param {WrapContext} c */
function wrapInfo(c) {
  return concat(utf8(WRAP_LABEL), Uint8Array.of(0), lengthPrefixed(c.meetingId), lengthPrefixed(c.senderId), lengthPrefixed(c.recipientId), c.senderKey, c.recipientKey);
}

/** @param {Bytes} shared @param {Bytes} salt @param {WrapContext} context */
async function wrapKey(shared, salt, context) {
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt, info: wrapInfo(context) }, ikm, { name: "AES-GCM", length: 128 }, false, ["encrypt", "decrypt"]);
}

/**
 * What a blob says once opened.
 * @typedef {{kind: 1 | 2, kid: bigint, baseKey: Bytes} | {kind: 3, kid: bigint, baseKey: null}} BlobMessage
 */

/**
 * Seals a message for one recipient: `version, kind, KID, salt, IV || AES-GCM(base key)`,
 * base64url.
 * @param {Bytes} shared the ECDH secret of sender and recipient
 * @param {WrapContext} context @param {BlobMessage} message
 * @returns {Promise<string>}
 */
export async function sealBlob(shared, context, message) {
  if (message.kind !== BlobKind.ACK && message.baseKey.length !== BASE_KEY_BYTES) throw new RangeError("base keys are 32 bytes");
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const header = concat(Uint8Array.of(BLOB_VERSION, message.kind), bigEndian(message.kid, 8), salt, iv);
  const key = await wrapKey(shared, salt, context);
  const body = message.kind === BlobKind.ACK ? new Uint8Array(0) : message.baseKey;
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: header }, key, body);
  return toBase64Url(concat(header, new Uint8Array(sealed)));
}

/**
 * Opens a blob from `context.senderId` to me. Refusals: `oversize`, `malformed` (not
 * base64url, wrong version or size), `undecryptable` (meant for someone else, from someone
 * else than the server says, or altered).
 * @param {Bytes} shared @param {WrapContext} context @param {string} text
 * @returns {Promise<BlobMessage | {error: "oversize" | "malformed" | "undecryptable"}>}
 */
export async function openBlob(shared, context, text) {
  if (typeof text !== "string" || text.length > MAX_BLOB_CHARS) return { error: "oversize" };
  const bytes = fromBase64Url(text);
  if (!bytes || bytes.length < BLOB_HEADER_BYTES || bytes[0] !== BLOB_VERSION) return { error: "malformed" };
  const kind = bytes[1];
  const expected = kind === BlobKind.ACK ? TAG_BYTES : kind === BlobKind.KEY || kind === BlobKind.KEY_ACK_REQUESTED ? BASE_KEY_BYTES + TAG_BYTES : -1;
  if (bytes.length !== BLOB_HEADER_BYTES + expected) return { error: "malformed" };
  const header = bytes.subarray(0, BLOB_HEADER_BYTES);
  const kid = readBigEndian(bytes, 2, 8);
  const salt = bytes.slice(10, 10 + SALT_BYTES);
  const iv = bytes.slice(10 + SALT_BYTES, BLOB_HEADER_BYTES);
  let plain;
  try {
    const key = await wrapKey(shared, salt, context);
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: header }, key, bytes.subarray(BLOB_HEADER_BYTES)));
  } catch {
    return { error: "undecryptable" };
  }
  if (kind === BlobKind.ACK) return { kind, kid, baseKey: null };
  return { kind: kind === BlobKind.KEY ? BlobKind.KEY : BlobKind.KEY_ACK_REQUESTED, kid, baseKey: plain };
}
