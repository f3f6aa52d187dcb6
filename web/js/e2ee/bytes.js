// Byte strings for the end-to-end encryption modules: concatenation, big-endian integers,
// length-prefixed UTF-8, hex and base64url. No DOM; runs in pages, workers and Node.

/** A byte string WebCrypto accepts (backed by a plain ArrayBuffer). @typedef {Uint8Array<ArrayBuffer>} Bytes */

const encoder = new TextEncoder();

/** @param {...Uint8Array} parts @returns {Bytes} */
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** @param {string} text @returns {Bytes} */
export function utf8(text) {
  return /** @type {Bytes} */ (encoder.encode(text));
}

/** An unsigned integer as `size` big-endian bytes. @param {bigint} value @param {number} size @returns {Bytes} */
export function bigEndian(value, size) {
  const out = new Uint8Array(size);
  let v = value;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Reads `size` big-endian bytes from `offset`. @param {Uint8Array} bytes @param {number} offset @param {number} size */
export function readBigEndian(bytes, offset, size) {
  let v = 0n;
  for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(bytes[offset + i]);
  return v;
}

/**
 * UTF-8 text behind its length as two big-endian bytes: fields concatenated this way cannot
 * be re-split differently ("ab"+"c" and "a"+"bc" stay apart).
 * @param {string} text @returns {Bytes}
 */
export function lengthPrefixed(text) {
  const body = utf8(text);
  if (body.length > 0xffff) throw new RangeError("field longer than 65535 bytes");
  return concat(bigEndian(BigInt(body.length), 2), body);
}

/** Byte-wise order (what sorting UTF-8 strings means here). @param {Uint8Array} a @param {Uint8Array} b */
export function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** @param {Uint8Array} a @param {Uint8Array} b */
export function equalBytes(a, b) {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** @param {Uint8Array} bytes */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex (whitespace ignored) to bytes. @param {string} hex @returns {Bytes} */
export function fromHex(hex) {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new SyntaxError("not hex");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Unpadded base64url (RFC 4648 §5). @param {Uint8Array} bytes */
export function toBase64Url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Unpadded base64url to bytes; `null` for anything else (padding, other alphabets, spaces).
 * @param {string} text @returns {Bytes | null}
 */
export function fromBase64Url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Cryptographically random bytes. @param {number} size @returns {Bytes} */
export function randomBytes(size) {
  return crypto.getRandomValues(new Uint8Array(size));
}
