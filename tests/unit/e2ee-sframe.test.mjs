// SFrame (web/js/e2ee/sframe.js) against RFC 9605's test vectors: every header of Appendix
// C.1, the key schedule and encryption of Appendix C.3 for the AES-GCM suites, and the
// sender-key ratchet of §5.1 recomputed from HMAC by hand (the RFC gives no ratchet vector).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { AES_128_GCM_SHA256_128, AES_256_GCM_SHA512_128, SUITE, decodeHeader, deriveKeySalt, encodeHeader, frameKey, nonce, open, ratchet, seal } from "../../web/js/e2ee/sframe.js";
import { concat, fromHex, toHex, utf8 } from "../../web/js/e2ee/bytes.js";

const vectors = JSON.parse(readFileSync(new URL("./fixtures/rfc9605.json", import.meta.url), "utf8"));
const suites = { "0x0004": AES_128_GCM_SHA256_128, "0x0005": AES_256_GCM_SHA512_128 };

test("every RFC 9605 C.1 header encodes and decodes exactly", () => {
  assert.equal(vectors.header.length, 289);
  for (const [kidHex, ctrHex, header] of vectors.header) {
    const kid = BigInt(kidHex);
    const ctr = BigInt(ctrHex);
    assert.equal(toHex(encodeHeader(kid, ctr)), header, `encode kid=${kidHex} ctr=${ctrHex}`);
    const bytes = fromHex(header + "aabbcc");
    assert.deepEqual(decodeHeader(bytes), { kid, ctr, length: header.length / 2 }, `decode ${header}`);
  }
});

test("a header cut short, or not in minimal form, does not decode", () => {
  assert.equal(decodeHeader(new Uint8Array(0)), null, "empty");
  assert.equal(decodeHeader(fromHex("0a0100")), null, "CTR needs 3 bytes, 2 left");
  assert.equal(decodeHeader(fromHex("c0")), null, "extended KID missing");
  assert.equal(decodeHeader(fromHex("0805")), null, "CTR 5 belongs in the config byte");
  assert.equal(decodeHeader(fromHex("090012")), null, "leading zero byte");
  assert.equal(decodeHeader(fromHex("8007")), null, "KID 7 belongs in the config byte");
  assert.deepEqual(decodeHeader(fromHex("ff0102030405060708090a0b0c0d0e0f10"), 0), { kid: 0x0102030405060708n, ctr: 0x090a0b0c0d0e0f10n, length: 17 });
  assert.throws(() => encodeHeader(1n << 64n, 0n), RangeError);
});

test("RFC 9605 C.3: key schedule, nonce and ciphertext for AES_128_GCM_SHA256_128 and AES_256_GCM_SHA512_128", async () => {
  assert.equal(vectors.sframe.length, 2);
  for (const v of vectors.sframe) {
    const suite = suites[v.cipher_suite];
    const kid = BigInt(v.kid);
    const ctr = BigInt(v.ctr);
    const baseKey = fromHex(v.base_key);
    const { key, salt } = await deriveKeySalt(suite, kid, baseKey);
    assert.equal(toHex(key), v.sframe_key, `${suite.name} sframe_key`);
    assert.equal(toHex(salt), v.sframe_salt, `${suite.name} sframe_salt`);
    assert.equal(toHex(nonce(salt, ctr)), v.nonce, `${suite.name} nonce`);

    const fk = await frameKey(suite, kid, baseKey);
    const metadata = fromHex(v.metadata);
    const ct = await seal(fk, ctr, metadata, fromHex(v.pt));
    assert.equal(toHex(ct), v.ct, `${suite.name} ciphertext`);

    const header = decodeHeader(ct);
    assert.ok(header);
    assert.equal(toHex(concat(ct.subarray(0, header.length), metadata)), v.aad, `${suite.name} aad`);
    const pt = await open(fk, header, ct.subarray(0, header.length), metadata, ct.subarray(header.length));
    assert.equal(pt && toHex(pt), v.pt, `${suite.name} decrypts`);
  }
});

test("decryption fails for a changed header, metadata, body or key", async () => {
  const v = vectors.sframe[0];
  const fk = await frameKey(SUITE, BigInt(v.kid), fromHex(v.base_key));
  const ct = fromHex(v.ct);
  const metadata = fromHex(v.metadata);
  const header = /** @type {{kid: bigint, ctr: bigint, length: number}} */ (decodeHeader(ct));
  const h = ct.subarray(0, header.length);
  const body = ct.subarray(header.length);
  const flip = (/** @type {Uint8Array} */ b, i) => {
    const c = b.slice();
    c[i] ^= 1;
    return c;
  };
  assert.equal(await open(fk, header, flip(h, 1), metadata, body), null, "header");
  assert.equal(await open(fk, header, h, flip(metadata, 0), body), null, "metadata");
  assert.equal(await open(fk, header, h, metadata, flip(body, 3)), null, "body");
  assert.equal(await open(fk, header, h, metadata, flip(body, body.length - 1)), null, "tag");
  assert.equal(await open(fk, header, h, metadata, body.subarray(0, body.length - 1)), null, "truncated");
  assert.equal(await open(fk, header, h, metadata, body.subarray(0, 5)), null, "shorter than a tag");
  const other = await frameKey(SUITE, BigInt(v.kid), fromHex("ff".repeat(16)));
  assert.equal(await open(other, header, h, metadata, body), null, "other base key");
});

/** HKDF-Extract and HKDF-Expand (RFC 5869) from HMAC, independent of WebCrypto's HKDF. */
async function hmac(hash, key, data) {
  const k = await crypto.subtle.importKey("raw", key.length ? key : new Uint8Array(hash === "SHA-256" ? 32 : 64), { name: "HMAC", hash }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

test("the ratchet is RFC 9605 §5.1: HKDF-Expand(HKDF-Extract(\"\", base_key), \"SFrame 1.0 Ratchet\", Nh)", async () => {
  for (const suite of [AES_128_GCM_SHA256_128, AES_256_GCM_SHA512_128]) {
    const base = fromHex("000102030405060708090a0b0c0d0e0f");
    const prk = await hmac(suite.hash, new Uint8Array(0), base);
    // Nh bytes of output are one HMAC block: T(1) = HMAC(PRK, info || 0x01).
    const expected = await hmac(suite.hash, prk, concat(utf8("SFrame 1.0 Ratchet"), Uint8Array.of(1)));
    const next = await ratchet(suite, base);
    assert.equal(toHex(next), toHex(expected), suite.name);
    assert.equal(next.length, suite.nh);
    assert.notEqual(toHex(await ratchet(suite, next)), toHex(next), "each step is new");
  }
});
