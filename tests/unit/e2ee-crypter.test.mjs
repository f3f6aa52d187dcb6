// Frame encryption as the transform worker does it (web/js/e2ee/crypter.js and keyring.js):
// which bytes stay in clear per codec, round trips, and every bad frame — no key, unknown KID,
// truncated, tampered, replayed, another codec, another participant's — dropped and counted
// without an exception. Key ratchets, rotations and how long old keys live.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameCrypter } from "../../web/js/e2ee/crypter.js";
import { KEEP_SUPERSEDED_MS, MAX_STEP, makeKid, splitKid } from "../../web/js/e2ee/keyring.js";
import { SUITE, decodeHeader, ratchet } from "../../web/js/e2ee/sframe.js";
import { fromHex, randomBytes } from "../../web/js/e2ee/bytes.js";

/** A stand-in for RTCEncodedVideoFrame / RTCEncodedAudioFrame. */
function frame(bytes, mimeType) {
  return { data: Uint8Array.from(bytes).buffer, getMetadata: () => (mimeType ? { mimeType } : {}) };
}
const bytesOf = (f) => new Uint8Array(f.data);

/** A VP8 keyframe: frame tag with P=0, start code, 640×360, then "compressed" data. */
const VP8_KEY = [0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, ...Array.from({ length: 200 }, (_, i) => i & 0xff)];
/** A VP8 delta frame: P=1. */
const VP8_DELTA = [0x31, 0x05, 0x00, ...Array.from({ length: 80 }, (_, i) => (i * 7) & 0xff)];
const OPUS = [0x78, ...Array.from({ length: 60 }, (_, i) => (i * 13) & 0xff)];

async function pair(now) {
  const alice = new FrameCrypter({ now });
  const bob = new FrameCrypter({ now });
  const base = randomBytes(32);
  await alice.setSendKey(makeKid(0, 0), base);
  bob.addReceiveKey("alice", makeKid(0, 0), base);
  return { alice, bob, base };
}

test("VP8 keyframes keep 10 bytes in clear, delta frames 3, Opus none; the rest is ciphertext and decrypts back", async () => {
  const { alice, bob } = await pair();
  for (const [name, plain, mime, kind, clear] of [
    ["vp8 key", VP8_KEY, "video/VP8", "video", 10],
    ["vp8 delta", VP8_DELTA, "video/VP8", "video", 3],
    ["opus", OPUS, "audio/opus", "audio", 0],
    ["vp8 without metadata", VP8_DELTA, undefined, "video", 3],
    ["opus without metadata", OPUS, undefined, "audio", 0],
  ]) {
    const f = frame(plain, mime);
    assert.equal(await alice.encryptFrame(f, kind), "ok", name);
    const sent = bytesOf(f);
    assert.deepEqual([...sent.subarray(0, clear)], plain.slice(0, clear), `${name}: clear prefix`);
    const header = decodeHeader(sent, clear);
    assert.ok(header, `${name}: SFrame header after the prefix`);
    assert.equal(header.kid, makeKid(0, 0));
    assert.equal(sent.length, plain.length + header.length + SUITE.nt, `${name}: header and tag added`);
    // Nothing of the protected part shows through.
    const body = sent.subarray(clear + header.length);
    assert.notDeepEqual([...body.subarray(0, 16)], plain.slice(clear, clear + 16), `${name}: encrypted`);
    assert.equal(await bob.decryptFrame(f, kind, "alice"), "ok", name);
    assert.deepEqual([...bytesOf(f)], plain, `${name}: round trip`);
  }
  assert.equal(alice.counters.encrypted, 5);
  assert.equal(bob.counters.decrypted, 5);
});

test("one counter runs across all my tracks: no two frames share a nonce", async () => {
  const { alice } = await pair();
  const frames = [
    [frame(VP8_KEY, "video/VP8"), "video", 10],
    [frame(OPUS, "audio/opus"), "audio", 0],
    [frame(VP8_DELTA, "video/VP8"), "video", 3],
    [frame(OPUS, "audio/opus"), "audio", 0],
  ];
  await Promise.all(frames.map(([f, kind]) => alice.encryptFrame(f, kind)));
  const ctrs = frames.map(([f, , clear]) => decodeHeader(bytesOf(f), clear)?.ctr);
  assert.deepEqual(ctrs.sort(), [0n, 1n, 2n, 3n]);
});

test("a sending KID is accepted once (its counter would restart at 0)", async () => {
  const c = new FrameCrypter();
  await c.setSendKey(makeKid(0, 0), randomBytes(32));
  await assert.rejects(c.setSendKey(makeKid(0, 0), randomBytes(32)), /set before/);
});

test("frames that cannot be protected or opened are dropped and counted, never thrown", async () => {
  const { alice, bob, base } = await pair();
  const noKey = new FrameCrypter();
  assert.equal(await noKey.encryptFrame(frame(VP8_DELTA, "video/VP8"), "video"), "noSendKey", "no key yet: not sent in clear");
  assert.equal(await alice.encryptFrame(frame(VP8_DELTA, "video/H264"), "video"), "unsupportedCodec");
  assert.equal(await alice.encryptFrame(frame([0x50, 1, 2], "video/VP8"), "video"), "malformed", "a 3-byte keyframe");
  assert.equal(await alice.encryptFrame(frame([0x51, 1], "video/VP8"), "video"), "malformed", "a 2-byte delta frame");

  const good = frame(VP8_DELTA, "video/VP8");
  await alice.encryptFrame(good, "video");
  const sent = bytesOf(good);
  const variant = (mutate) => {
    const b = sent.slice();
    mutate(b);
    return frame(b, "video/VP8");
  };
  const cases = [
    ["truncated to the header", frame(sent.subarray(0, 5), "video/VP8"), "malformed"],
    ["truncated by one byte", frame(sent.subarray(0, sent.length - 1), "video/VP8"), "authFailed"],
    ["clear prefix changed", variant((b) => (b[1] ^= 0x40)), "authFailed"],
    // The header is then looked for at byte 10, inside the ciphertext: whatever it reads, no key opens it.
    ["keyframe bit flipped", variant((b) => (b[0] ^= 0x01)), "any"],
    ["body changed", variant((b) => (b[20] ^= 0xff)), "authFailed"],
    ["tag changed", variant((b) => (b[b.length - 1] ^= 0x01)), "authFailed"],
    ["CTR changed", variant((b) => (b[3] ^= 0x01)), "authFailed"],
    // KID 128: generation 1, of which Bob has no key (a later step of generation 0 he would derive).
    ["unknown KID", frame([...sent.subarray(0, 3), 0x80 | (sent[3] & 0x0f), 0x80, ...sent.subarray(4)], "video/VP8"), "unknownKey"],
    ["a later step of the known generation, forged", variant((b) => (b[3] = 0x70 | (b[3] & 0x0f))), "authFailed"],
    ["a plaintext frame", frame(VP8_DELTA, "video/VP8"), "authFailed"],
    ["another codec", frame(sent, "video/VP9"), "unsupportedCodec"],
    ["bound to nobody yet", frame(sent, "video/VP8"), "unbound", null],
    ["another participant's keys", frame(sent, "video/VP8"), "unknownKey", "carol"],
  ];
  for (const [name, f, outcome, who = "alice"] of cases) {
    const before = bytesOf(f).slice();
    const got = await bob.decryptFrame(f, "video", who);
    if (outcome === "any") assert.notEqual(got, "ok", name);
    else assert.equal(got, outcome, name);
    assert.deepEqual(bytesOf(f), before, `${name}: frame left as it was`);
  }
  // The intact frame still decrypts after all that, exactly once.
  assert.equal(await bob.decryptFrame(frame(sent, "video/VP8"), "video", "alice"), "ok");
  assert.equal(await bob.decryptFrame(frame(sent, "video/VP8"), "video", "alice"), "replayed", "the same frame again");
  const { encrypted, decrypted, ...dropped } = bob.counters;
  assert.deepEqual({ encrypted, decrypted }, { encrypted: 0, decrypted: 1 });
  assert.equal(Object.values(dropped).reduce((a, b) => a + b), cases.length + 1, "every drop counted once");
  assert.ok(dropped.authFailed >= 6 && dropped.unknownKey >= 2 && dropped.malformed >= 1 && dropped.replayed === 1 && dropped.unbound === 1);
  // Carol holding a different key under the same KID cannot open Alice's frame either.
  bob.addReceiveKey("carol", makeKid(0, 0), randomBytes(32));
  assert.equal(await bob.decryptFrame(frame(sent, "video/VP8"), "video", "carol"), "authFailed");
  assert.ok(base);
});

test("a receiver follows the sender's ratchet from the KID; a key given at step n cannot open step n-1", async () => {
  const alice = new FrameCrypter();
  const bob = new FrameCrypter();
  const newcomer = new FrameCrypter();
  let base = randomBytes(32);
  await alice.setSendKey(makeKid(3, 0), base);
  bob.addReceiveKey("alice", makeKid(3, 0), base);
  const old = frame(VP8_DELTA, "video/VP8");
  await alice.encryptFrame(old, "video");

  // Two people join: Alice ratchets twice; the second newcomer gets step 2.
  base = await ratchet(SUITE, await ratchet(SUITE, base));
  await alice.setSendKey(makeKid(3, 2), base);
  newcomer.addReceiveKey("alice", makeKid(3, 2), base);
  const fresh = frame(OPUS, "audio/opus");
  await alice.encryptFrame(fresh, "audio");

  assert.equal(await bob.decryptFrame(frame(bytesOf(fresh), "audio/opus"), "audio", "alice"), "ok", "Bob derives step 2 himself");
  assert.equal(await newcomer.decryptFrame(frame(bytesOf(fresh), "audio/opus"), "audio", "alice"), "ok");
  assert.equal(await newcomer.decryptFrame(frame(bytesOf(old), "video/VP8"), "video", "alice"), "unknownKey", "the newcomer cannot read what came before");
  assert.equal(await bob.decryptFrame(frame(bytesOf(old), "video/VP8"), "video", "alice"), "ok", "a frame in flight from before the ratchet still decrypts");
});

test("after a rotation the old key keeps working for KEEP_SUPERSEDED_MS, then is erased", async () => {
  let t = 1_000;
  const now = () => t;
  const { alice, bob } = await pair(now);
  const inFlight = frame(OPUS, "audio/opus");
  await alice.encryptFrame(inFlight, "audio");

  const next = randomBytes(32);
  await alice.setSendKey(makeKid(1, 0), next);
  bob.addReceiveKey("alice", makeKid(1, 0), next);
  const first = frame(OPUS, "audio/opus");
  await alice.encryptFrame(first, "audio");
  assert.equal(await bob.decryptFrame(first, "audio", "alice"), "ok");
  assert.equal(bob.ring.size("alice"), 2, "old and new");

  t += KEEP_SUPERSEDED_MS - 1;
  assert.equal(await bob.decryptFrame(inFlight, "audio", "alice"), "ok", "a late frame of the old key");
  t += 1;
  const stale = frame(OPUS, "audio/opus");
  await alice.encryptFrame(stale, "audio");
  assert.equal(await bob.decryptFrame(stale, "audio", "alice"), "ok");
  assert.equal(bob.ring.size("alice"), 1, "the old key is gone");
  assert.equal(bob.addReceiveKey("alice", makeKid(0, 0), randomBytes(32)), false, "a replayed old key blob cannot bring it back");
});

test("KIDs hold generation and step; a step past MAX_STEP does not exist", () => {
  assert.deepEqual(splitKid(makeKid(5, 9)), { generation: 5, step: 9 });
  assert.equal(makeKid(0, MAX_STEP), 127n);
  assert.equal(makeKid(1, 0), 128n);
  assert.throws(() => makeKid(0, MAX_STEP + 1), RangeError);
  assert.equal(fromHex("00").length, 1);
});

test("a forged KID far ahead costs derivations once, and does not retire the real key", async () => {
  const { alice, bob } = await pair();
  const real = frame(OPUS, "audio/opus");
  await alice.encryptFrame(real, "audio");
  const forged = bytesOf(real).slice();
  forged[0] = 0x80 | (forged[0] & 0x0f); // extended KID of one byte…
  const f = frame([forged[0], 100, ...forged.subarray(1)], "audio/opus"); // …KID 100: step 100 of generation 0
  assert.equal(await bob.decryptFrame(f, "audio", "alice"), "authFailed");
  assert.equal(bob.ring.size("alice"), 101, "the chain up to step 100 is derived once and kept");
  assert.equal(await bob.decryptFrame(real, "audio", "alice"), "ok", "the real key still works");
});
