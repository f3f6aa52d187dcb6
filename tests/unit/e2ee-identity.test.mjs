// Identity keys and key blobs (web/js/e2ee/identity.js): a blob opens for its recipient only,
// only as coming from its real sender, in its meeting; anything else — someone else's blob,
// a forged or altered one, an oversize or malformed one, a bad public key — is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BlobKind, Identity, MAX_BLOB_CHARS, importPeerKey, openBlob, sealBlob } from "../../web/js/e2ee/identity.js";
import { fromBase64Url, randomBytes, toBase64Url, toHex } from "../../web/js/e2ee/bytes.js";

async function person(id) {
  const identity = await Identity.generate();
  const peer = await importPeerKey(identity.publicKeyText);
  assert.ok(peer);
  return { id, identity, peer };
}

/** What `from` seals for `to`, and what `to` (or someone else) uses to open it. */
const context = (meetingId, from, to) => ({ meetingId, senderId: from.id, senderKey: from.identity.publicKey, recipientId: to.id, recipientKey: to.identity.publicKey });

test("a key blob opens for its recipient, with the key and KID it carries", async () => {
  const alice = await person("p_alice");
  const bob = await person("p_bob");
  const baseKey = randomBytes(32);
  const blob = await sealBlob(await alice.identity.agree(bob.peer), context("8412345678", alice, bob), { kind: BlobKind.KEY_ACK_REQUESTED, kid: 300n, baseKey });
  assert.ok(blob.length < 200, `a blob is small (${blob.length} characters)`);
  assert.match(blob, /^[A-Za-z0-9_-]+$/);
  const opened = await openBlob(await bob.identity.agree(alice.peer), context("8412345678", alice, bob), blob);
  assert.ok(!("error" in opened));
  assert.equal(opened.kind, BlobKind.KEY_ACK_REQUESTED);
  assert.equal(opened.kid, 300n);
  assert.equal(toHex(opened.baseKey), toHex(baseKey));

  const ack = await sealBlob(await bob.identity.agree(alice.peer), context("8412345678", bob, alice), { kind: BlobKind.ACK, kid: 300n, baseKey: null });
  assert.deepEqual(await openBlob(await alice.identity.agree(bob.peer), context("8412345678", bob, alice), ack), { kind: BlobKind.ACK, kid: 300n, baseKey: null });
});

test("someone else's blob, a wrong sender, another meeting or an altered blob does not open", async () => {
  const [alice, bob, carol] = await Promise.all([person("p_alice"), person("p_bob"), person("p_carol")]);
  const blob = await sealBlob(await alice.identity.agree(bob.peer), context("m1", alice, bob), { kind: BlobKind.KEY, kid: 0n, baseKey: randomBytes(32) });
  const undecryptable = { error: "undecryptable" };
  // Carol got Bob's blob (the server misrouted it): her secret with Alice is another one.
  assert.deepEqual(await openBlob(await carol.identity.agree(alice.peer), context("m1", alice, carol), blob), undecryptable, "for someone else");
  // Bob is told it came from Carol.
  assert.deepEqual(await openBlob(await bob.identity.agree(carol.peer), context("m1", carol, bob), blob), undecryptable, "from someone else");
  // Right keys, but the server swapped who is who in the context (same ECDH secret, other ids).
  assert.deepEqual(await openBlob(await bob.identity.agree(alice.peer), { ...context("m1", alice, bob), senderId: "p_carol" }, blob), undecryptable, "sender id");
  assert.deepEqual(await openBlob(await bob.identity.agree(alice.peer), context("m2", alice, bob), blob), undecryptable, "another meeting");
  // Bob's reply direction is not Alice's: a blob cannot be reflected back to its sender.
  assert.deepEqual(await openBlob(await alice.identity.agree(bob.peer), context("m1", bob, alice), blob), undecryptable, "reflected");
  const bytes = /** @type {Uint8Array} */ (fromBase64Url(blob));
  for (const at of [1, 5, 20, 40, bytes.length - 1]) {
    const altered = bytes.slice();
    altered[at] ^= 0x01;
    const got = await openBlob(await bob.identity.agree(alice.peer), context("m1", alice, bob), toBase64Url(altered));
    assert.ok("error" in got, `byte ${at} altered`);
  }
});

test("oversize and malformed blobs are refused before any crypto", async () => {
  const alice = await person("p_alice");
  const bob = await person("p_bob");
  const shared = await bob.identity.agree(alice.peer);
  const ctx = context("m1", alice, bob);
  assert.deepEqual(await openBlob(shared, ctx, "A".repeat(MAX_BLOB_CHARS + 1)), { error: "oversize" });
  assert.deepEqual(await openBlob(shared, ctx, /** @type {any} */ (42)), { error: "oversize" });
  assert.deepEqual(await openBlob(shared, ctx, "not base64url!"), { error: "malformed" });
  assert.deepEqual(await openBlob(shared, ctx, "AAAA"), { error: "malformed" }, "too short");
  const good = await sealBlob(await alice.identity.agree(bob.peer), ctx, { kind: BlobKind.KEY, kid: 0n, baseKey: randomBytes(32) });
  const bytes = /** @type {Uint8Array} */ (fromBase64Url(good));
  const v2 = bytes.slice();
  v2[0] = 2;
  assert.deepEqual(await openBlob(shared, ctx, toBase64Url(v2)), { error: "malformed" }, "unknown version");
  assert.deepEqual(await openBlob(shared, ctx, toBase64Url(new Uint8Array([...bytes, 0]))), { error: "malformed" }, "a byte too many");
  assert.deepEqual(await openBlob(shared, ctx, good + "="), { error: "malformed" }, "padding");
  await assert.rejects(sealBlob(shared, ctx, { kind: BlobKind.KEY, kid: 0n, baseKey: randomBytes(16) }), RangeError);
});

test("public identity keys are validated: P-256 points only", async () => {
  const alice = await Identity.generate();
  assert.equal(alice.publicKey.length, 65);
  assert.equal(alice.publicKeyText.length, 87);
  assert.ok(await importPeerKey(alice.publicKeyText));
  const notOnCurve = alice.publicKey.slice();
  notOnCurve[64] ^= 0x01;
  for (const [name, text] of [
    ["off the curve", toBase64Url(notOnCurve)],
    ["compressed", toBase64Url(Uint8Array.of(0x02, ...alice.publicKey.subarray(1, 33)))],
    ["too short", toBase64Url(alice.publicKey.subarray(0, 64))],
    ["not base64url", alice.publicKeyText.replace(/.$/, "+")],
    ["empty", ""],
    ["huge", "A".repeat(10_000)],
  ]) {
    assert.equal(await importPeerKey(text), null, name);
  }
  assert.equal(await importPeerKey(/** @type {any} */ (null)), null);
});

test("the private key cannot be exported", async () => {
  const alice = await Identity.generate();
  await assert.rejects(crypto.subtle.exportKey("pkcs8", alice.privateKey));
});
