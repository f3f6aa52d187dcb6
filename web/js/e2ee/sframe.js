// SFrame (RFC 9605) on WebCrypto: the header (KID and CTR), the key schedule (key and salt
// from a base key, the sender-key ratchet of §5.1) and AES-GCM protection of one frame. Only
// the AES-GCM suites: WebCrypto does them in one call, and their full 16-byte tag needs no
// replay defences against forgery by brute force (§7.5). No DOM; runs in workers and Node.

import { bigEndian, concat, readBigEndian, utf8 } from "./bytes.js";

/** @typedef {import("./bytes.js").Bytes} Bytes */

/**
 * An RFC 9605 cipher suite (§4.5, the IANA registry's columns).
 * @typedef {object} Suite
 * @property {number} id the registry value, part of every key label
 * @property {string} name
 * @property {"SHA-256" | "SHA-512"} hash the HKDF hash
 * @property {number} nh hash output size (bytes)
 * @property {number} nk AES key size
 * @property {number} nn nonce size
 * @property {number} nt tag size
 */

/** @type {Suite} */
export const AES_128_GCM_SHA256_128 = { id: 0x0004, name: "AES_128_GCM_SHA256_128", hash: "SHA-256", nh: 32, nk: 16, nn: 12, nt: 16 };
/** @type {Suite} */
export const AES_256_GCM_SHA512_128 = { id: 0x0005, name: "AES_256_GCM_SHA512_128", hash: "SHA-512", nh: 64, nk: 32, nn: 12, nt: 16 };

/** What Convene uses (docs/e2ee.md: why AES-128-GCM). */
export const SUITE = AES_128_GCM_SHA256_128;

/** KID and CTR are at most 64 bits (RFC 9605 §4.3). */
const MAX_U64 = (1n << 64n) - 1n;

/** The smallest number of bytes holding `value` (at least one). @param {bigint} value */
function byteLength(value) {
  let n = 1;
  while (value >> BigInt(8 * n) !== 0n) n++;
  return n;
}

/**
 * Encodes the SFrame header: values below 8 live in the config byte, larger ones follow it in
 * the fewest big-endian bytes (KID first).
 * @param {bigint} kid @param {bigint} ctr @returns {Bytes}
 */
export function encodeHeader(kid, ctr) {
  if (kid < 0n || kid > MAX_U64 || ctr < 0n || ctr > MAX_U64) throw new RangeError("KID and CTR are 64-bit unsigned");
  let config = 0;
  /** @type {Bytes[]} */
  const tail = [];
  if (kid < 8n) config |= Number(kid) << 4;
  else {
    const n = byteLength(kid);
    config |= 0x80 | ((n - 1) << 4);
    tail.push(bigEndian(kid, n));
  }
  if (ctr < 8n) config |= Number(ctr);
  else {
    const n = byteLength(ctr);
    config |= 0x08 | (n - 1);
    tail.push(bigEndian(ctr, n));
  }
  return concat(Uint8Array.of(config), ...tail);
}

/**
 * Decodes the header starting at `offset`; `null` when it is cut short or not in the minimal
 * form §4.3 requires (a value below 8 in extended form, or a leading zero byte) — a header
 * that could be written two ways would let the same frame carry two AADs.
 * @param {Uint8Array} bytes @param {number} [offset]
 * @returns {{kid: bigint, ctr: bigint, length: number} | null}
 */
export function decodeHeader(bytes, offset = 0) {
  if (offset >= bytes.length) return null;
  const config = bytes[offset];
  let at = offset + 1;
  /** @param {boolean} extended @param {number} field @returns {bigint | null} */
  const field = (extended, field) => {
    if (!extended) return BigInt(field);
    const n = field + 1;
    if (at + n > bytes.length) return null;
    const value = readBigEndian(bytes, at, n);
    if (value < 8n || (n > 1 && bytes[at] === 0)) return null;
    at += n;
    return value;
  };
  const kid = field((config & 0x80) !== 0, (config >> 4) & 0x07);
  if (kid === null) return null;
  const ctr = field((config & 0x08) !== 0, config & 0x07);
  if (ctr === null) return null;
  return { kid, ctr, length: at - offset };
}

/** @param {Bytes} ikm @param {Bytes} info @param {number} size @param {Suite} suite @returns {Promise<Bytes>} */
async function hkdf(ikm, info, size, suite) {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  // An empty salt is RFC 9605's HKDF-Extract("", …): HMAC pads it to a block of zeros.
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: suite.hash, salt: new Uint8Array(0), info }, key, size * 8);
  return new Uint8Array(bits);
}

/**
 * RFC 9605 §4.4.2: `sframe_key` and `sframe_salt` for one KID from its base key, as bytes.
 * @param {Suite} suite @param {bigint} kid @param {Bytes} baseKey
 * @returns {Promise<{key: Bytes, salt: Bytes}>}
 */
export async function deriveKeySalt(suite, kid, baseKey) {
  const suffix = concat(bigEndian(kid, 8), bigEndian(BigInt(suite.id), 2));
  const [key, salt] = await Promise.all([
    hkdf(baseKey, concat(utf8("SFrame 1.0 Secret key "), suffix), suite.nk, suite),
    hkdf(baseKey, concat(utf8("SFrame 1.0 Secret salt "), suffix), suite.nn, suite),
  ]);
  return { key, salt };
}

/**
 * What encrypts or decrypts one KID's frames: the AES key (not extractable) and the salt.
 * @typedef {object} FrameKey
 * @property {Suite} suite
 * @property {bigint} kid
 * @property {CryptoKey} key
 * @property {Bytes} salt
 */

/** @param {Suite} suite @param {bigint} kid @param {Bytes} baseKey @returns {Promise<FrameKey>} */
export async function frameKey(suite, kid, baseKey) {
  const { key, salt } = await deriveKeySalt(suite, kid, baseKey);
  const aes = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
  return { suite, kid, key: aes, salt };
}

/**
 * The next base key of a sender-key chain (RFC 9605 §5.1):
 * `HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Ratchet", Nh)`. One way: the new key
 * does not give the old one back.
 * @param {Suite} suite @param {Bytes} baseKey @returns {Promise<Bytes>}
 */
export function ratchet(suite, baseKey) {
  return hkdf(baseKey, utf8("SFrame 1.0 Ratchet"), suite.nh, suite);
}

/** `sframe_salt` XOR CTR as an Nn-byte big-endian integer (§4.4.3). @param {Bytes} salt @param {bigint} ctr @returns {Bytes} */
export function nonce(salt, ctr) {
  const out = salt.slice();
  const c = bigEndian(ctr, out.length);
  for (let i = 0; i < out.length; i++) out[i] ^= c[i];
  return out;
}

/**
 * SFrame encryption (§4.4.3): `header || AEAD.Encrypt(key, nonce, header || metadata, plaintext)`.
 * @param {FrameKey} key @param {bigint} ctr @param {Uint8Array} metadata @param {Uint8Array} plaintext
 * @returns {Promise<Bytes>}
 */
export async function seal(key, ctr, metadata, plaintext) {
  const header = encodeHeader(key.kid, ctr);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce(key.salt, ctr), additionalData: concat(header, metadata), tagLength: key.suite.nt * 8 },
    key.key,
    concat(plaintext),
  );
  return concat(header, new Uint8Array(sealed));
}

/**
 * SFrame decryption of a ciphertext whose header was decoded already; `null` when it does
 * not authenticate (wrong key, tampered header, metadata or body, cut short).
 * @param {FrameKey} key @param {{ctr: bigint}} header the decoded header
 * @param {Uint8Array} headerBytes @param {Uint8Array} metadata @param {Uint8Array} body what follows the header
 * @returns {Promise<Bytes | null>}
 */
export async function open(key, header, headerBytes, metadata, body) {
  if (body.length < key.suite.nt) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce(key.salt, header.ctr), additionalData: concat(headerBytes, metadata), tagLength: key.suite.nt * 8 },
      key.key,
      concat(body),
    );
    return new Uint8Array(plain);
  } catch {
    return null;
  }
}
