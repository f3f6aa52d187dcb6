// E2EE sessions of several participants talking through a relay that plays the server
// (web/js/e2ee/session.js, with the worker's FrameCrypter holding the media keys): everyone
// decrypts everyone; a newcomer cannot read what came before; a leaver cannot read what
// follows; the security code is the same for all, whatever the join order, and changes with
// each join and leave; bad blobs are refused and counted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { E2eeSession } from "../../web/js/e2ee/session.js";
import { FrameCrypter } from "../../web/js/e2ee/crypter.js";
import { Identity, MAX_BLOB_CHARS } from "../../web/js/e2ee/identity.js";
import { MAX_STEP, splitKid } from "../../web/js/e2ee/keyring.js";
import { securityCode } from "../../web/js/e2ee/security-code.js";
import { decodeHeader } from "../../web/js/e2ee/sframe.js";

const OPUS = [0x78, ...Array.from({ length: 40 }, (_, i) => i)];

/** The server's part: who is in, relaying blobs (or losing them), timers on a fake clock. */
class Meeting {
  constructor(meetingId = "8412345678") {
    this.meetingId = meetingId;
    /** @type {Map<string, {id: string, identity: Identity, crypter: FrameCrypter, session: E2eeSession, refused: string[]}>} */
    this.people = new Map();
    /** @type {{from: string, to: string, blob: string}[]} */
    this.wire = [];
    /** @type {{fn: () => void, live: boolean}[]} */
    this.timers = [];
    /** Blobs to this participant are lost (a client that never answers). */
    this.deaf = new Set();
  }

  announce(p) {
    return { participantId: p.id, identityKey: p.identity.publicKeyText };
  }

  /**
   * Someone is admitted: they get the roster (`welcome`), everyone else `participant_joined`
   * (unless `tell` is false: the caller says it some other way).
   */
  async join(id, identity, tell = true) {
    identity ??= await Identity.generate();
    const crypter = new FrameCrypter();
    const session = new E2eeSession({
      meetingId: this.meetingId,
      selfId: id,
      identity,
      keys: crypter,
      schedule: (fn) => {
        const t = { fn, live: true };
        this.timers.push(t);
        return () => (t.live = false);
      },
    });
    const p = { id, identity, crypter, session, refused: [] };
    session.addEventListener("send", (e) => this.wire.push({ from: id, ...e.detail }));
    session.addEventListener("refused", (e) => p.refused.push(e.detail.reason));
    session.addEventListener("error", (e) => assert.fail(`session ${id}: ${e.detail}`));
    const others = [...this.people.values()];
    this.people.set(id, p);
    await session.start([...others, p].map((q) => this.announce(q)));
    if (tell) for (const q of others) await q.session.join(this.announce(p));
    return p;
  }

  /** Someone leaves for good (`participant_left`); they hear nothing more. */
  async leave(id) {
    const p = this.people.get(id);
    this.people.delete(id);
    for (const q of this.people.values()) await q.session.leave(id);
    return p;
  }

  /** Relays blobs until none are left. */
  async settle() {
    for (let round = 0; round < 20; round++) {
      await Promise.all([...this.people.values()].map((p) => p.session.queue));
      const batch = this.wire.splice(0);
      if (batch.length === 0) return;
      for (const { from, to, blob } of batch) {
        const p = this.people.get(to);
        if (p && !this.deaf.has(to)) await p.session.receive(from, blob);
      }
    }
    assert.fail("blobs kept flowing");
  }

  async fireTimers() {
    for (const t of this.timers.splice(0)) if (t.live) t.fn();
    await this.settle();
  }

  /** A frame `from` sends now, and what each viewer makes of it. */
  async send(from) {
    const f = { data: Uint8Array.from(OPUS).buffer };
    assert.equal(await this.people.get(from).crypter.encryptFrame(f, "audio"), "ok");
    return new Uint8Array(f.data);
  }

  /** @param {{crypter: FrameCrypter}} viewer @param {string} from @param {Uint8Array} bytes */
  async open(viewer, from, bytes) {
    const f = { data: bytes.slice().buffer };
    const outcome = await viewer.crypter.decryptFrame(f, "audio", from);
    if (outcome === "ok") assert.deepEqual([...new Uint8Array(f.data)], OPUS);
    return outcome;
  }

  codes() {
    return new Set([...this.people.values()].map((p) => p.session.code));
  }
}

const kidOf = (bytes) => splitKid(/** @type {{kid: bigint}} */ (decodeHeader(bytes)).kid);

test("three people: everyone decrypts everyone, and all see one security code", async () => {
  const m = new Meeting();
  for (const id of ["p_a", "p_b", "p_c"]) await m.join(id);
  await m.settle();
  for (const from of m.people.keys()) {
    const bytes = await m.send(from);
    for (const viewer of m.people.values()) if (viewer.id !== from) assert.equal(await m.open(viewer, from, bytes), "ok", `${viewer.id} reads ${from}`);
  }
  assert.equal(m.codes().size, 1);
  const [code] = m.codes();
  assert.match(code, /^\d{5}( \d{5}){7}$/);
  const a = m.people.get("p_a").session;
  assert.deepEqual({ ratchets: a.counters.ratchets, rotations: a.counters.rotations, refused: a.counters.blobsRefused }, { ratchets: 2, rotations: 0, refused: 0 });
  assert.equal(kidOf(await m.send("p_a")).step, 2, "A ratcheted once per newcomer");
});

test("the security code does not depend on join order, and changes with every join and leave", async () => {
  const ids = ["p_3", "p_1", "p_2", "p_10"];
  const identities = await Promise.all(ids.map(() => Identity.generate()));
  const codeAfter = async (order) => {
    const m = new Meeting();
    for (const i of order) await m.join(ids[i], identities[i]);
    await m.settle();
    assert.equal(m.codes().size, 1, `one code in order ${order}`);
    return [...m.codes()][0];
  };
  const forward = await codeAfter([0, 1, 2, 3]);
  assert.equal(await codeAfter([3, 2, 1, 0]), forward);
  assert.equal(await codeAfter([2, 0, 3, 1]), forward);
  // The same as computing it straight from the keys.
  assert.equal(await securityCode("8412345678", ids.map((id, i) => ({ participantId: id, publicKey: identities[i].publicKey }))), forward);

  const m = new Meeting();
  const seen = [];
  for (const i of [0, 1, 2]) {
    await m.join(ids[i], identities[i]);
    await m.settle();
    seen.push([...m.codes()]);
  }
  await m.leave(ids[1]);
  await m.settle();
  seen.push([...m.codes()]);
  for (const codes of seen) assert.equal(codes.length, 1, "everyone agrees at every step");
  assert.equal(new Set(seen.map((c) => c[0])).size, 4, "each join and the leave changed it");
  assert.notEqual(seen[3][0], seen[1][0], "p_3 and p_2 is not p_3 and p_1");

  const other = new Meeting("9999999999");
  for (const i of [0, 1, 2, 3]) await other.join(ids[i], identities[i]);
  await other.settle();
  assert.notEqual([...other.codes()][0], forward, "another meeting, another code");
});

test("a server that shows one participant a different key shows them a different code", async () => {
  const ids = ["p_a", "p_b"];
  const [a, b, mallory] = await Promise.all([Identity.generate(), Identity.generate(), Identity.generate()]);
  const honest = await securityCode("m", [{ participantId: "p_a", publicKey: a.publicKey }, { participantId: "p_b", publicKey: b.publicKey }]);
  const fooled = await securityCode("m", [{ participantId: "p_a", publicKey: mallory.publicKey }, { participantId: "p_b", publicKey: b.publicKey }]);
  assert.notEqual(honest, fooled);
  await assert.rejects(securityCode("m", [{ participantId: ids[0], publicKey: a.publicKey }, { participantId: ids[0], publicKey: b.publicKey }]), /twice/);
});

test("a newcomer cannot decrypt what was sent before they joined", async () => {
  const m = new Meeting();
  await m.join("p_a");
  await m.join("p_b");
  await m.settle();
  const before = await m.send("p_a");
  const beforeB = await m.send("p_b");
  const d = await m.join("p_d");
  await m.settle();
  assert.equal(await m.open(d, "p_a", before), "unknownKey");
  assert.equal(await m.open(d, "p_b", beforeB), "unknownKey");
  const after = await m.send("p_a");
  assert.equal(await m.open(d, "p_a", after), "ok");
  assert.equal(await m.open(m.people.get("p_b"), "p_a", after), "ok", "B follows A's ratchet without a blob");
  assert.equal(await m.open(m.people.get("p_b"), "p_a", before), "ok", "and still reads a late frame from before");
});

test("a leaver cannot decrypt what is sent once the remaining participants have the new key", async () => {
  const m = new Meeting();
  for (const id of ["p_a", "p_b", "p_c"]) await m.join(id);
  await m.settle();
  const c = await m.leave("p_c");
  const a = m.people.get("p_a");
  // A fresh key went out; until B acknowledged it, A still sends with the old one.
  const meanwhile = await m.send("p_a");
  assert.equal(kidOf(meanwhile).generation, 0);
  await m.settle();
  const after = await m.send("p_a");
  assert.deepEqual(kidOf(after), { generation: 1, step: 0 }, "switched on B's acknowledgement, no timer needed");
  assert.equal(await m.open(m.people.get("p_b"), "p_a", after), "ok");
  assert.equal(await m.open(c, "p_a", after), "unknownKey", "C holds no key of generation 1");
  const fromB = await m.send("p_b");
  assert.equal(await m.open(c, "p_b", fromB), "unknownKey");
  assert.equal(await m.open(m.people.get("p_b"), "p_a", meanwhile), "ok", "frames in flight across the switch still decrypt");
  assert.deepEqual({ rotations: a.session.counters.rotations, switches: a.session.counters.switches }, { rotations: 1, switches: 1 });
});

test("a participant who never acknowledges does not hold the rotation up past the timeout", async () => {
  const m = new Meeting();
  for (const id of ["p_a", "p_b", "p_c"]) await m.join(id);
  await m.settle();
  m.deaf.add("p_b");
  await m.leave("p_c");
  await m.settle();
  assert.equal(kidOf(await m.send("p_a")).generation, 0, "still waiting for B");
  await m.fireTimers();
  assert.equal(kidOf(await m.send("p_a")).generation, 1, "switched after the timeout");
});

test("leaves in a row: each rotation supersedes the last, and the last key is the one used", async () => {
  const m = new Meeting();
  for (const id of ["p_a", "p_b", "p_c", "p_d"]) await m.join(id);
  await m.settle();
  const c = await m.leave("p_c");
  const d = await m.leave("p_d");
  await m.settle();
  const after = await m.send("p_a");
  assert.equal(kidOf(after).generation, 2);
  assert.equal(await m.open(m.people.get("p_b"), "p_a", after), "ok");
  assert.equal(await m.open(c, "p_a", after), "unknownKey");
  assert.equal(await m.open(d, "p_a", after), "unknownKey", "D left after C but before any switch: not given generation 2");
});

test("someone reloading (a new identity under the same id) is a leave and a join", async () => {
  const m = new Meeting();
  await m.join("p_a");
  const oldB = await m.join("p_b");
  await m.settle();
  const identity = await Identity.generate();
  const codeBefore = m.people.get("p_a").session.code;
  // The new page starts its own session; A hears of the new key (`participant_updated`).
  m.people.delete("p_b");
  const b2 = await m.join("p_b", identity, false);
  await m.people.get("p_a").session.replace(m.announce(b2));
  await m.settle();
  assert.notEqual(m.people.get("p_a").session.code, codeBefore);
  assert.equal(m.codes().size, 1);
  const after = await m.send("p_a");
  assert.equal(await m.open(b2, "p_a", after), "ok");
  assert.equal(await m.open(oldB, "p_a", after), "unknownKey", "the old page's keys are useless");
  assert.deepEqual(kidOf(after), { generation: 1, step: 1 }, "a fresh key for the leave, a ratchet step for the join");
});

test("oversize, misrouted, garbage and early blobs", async () => {
  const m = new Meeting();
  for (const id of ["p_a", "p_b", "p_c"]) await m.join(id);
  await m.settle();
  const a = m.people.get("p_a");
  const b = m.people.get("p_b");
  await b.session.receive("p_a", "A".repeat(MAX_BLOB_CHARS + 1));
  await b.session.receive("p_a", "%%%");
  await m.leave("p_c");
  assert.equal(m.wire.find((w) => w.to === "p_c"), undefined, "nothing for the leaver");
  // A blob A sealed for D, delivered to B.
  const d = await m.join("p_d");
  const toD = m.wire.find((w) => w.from === "p_a" && w.to === "p_d");
  assert.ok(toD);
  await b.session.receive("p_a", toD.blob);
  assert.deepEqual(b.refused, ["oversize", "malformed", "undecryptable"]);
  assert.equal(b.session.counters.blobsRefused, 3);
  await m.settle();
  assert.equal(await m.open(d, "p_a", await m.send("p_a")), "ok", "the refusals harmed nothing");
  assert.equal(await m.open(b, "p_a", await m.send("p_a")), "ok");

  // A blob from someone whose participant_joined has not arrived yet is held, then used.
  const late = new Meeting();
  const x = await late.join("p_x");
  const yIdentity = await Identity.generate();
  const y = await (async () => {
    const crypter = new FrameCrypter();
    const session = new E2eeSession({ meetingId: late.meetingId, selfId: "p_y", identity: yIdentity, keys: crypter });
    const p = { id: "p_y", identity: yIdentity, crypter, session, refused: [] };
    session.addEventListener("send", (e) => late.wire.push({ from: "p_y", ...e.detail }));
    late.people.set("p_y", p);
    await session.start([late.announce(x), late.announce(p)]);
    return p;
  })();
  for (const w of late.wire.splice(0)) if (w.to === "p_x") await x.session.receive(w.from, w.blob);
  assert.equal(await late.open(x, "p_y", await late.send("p_y")), "unknownKey", "held, not used yet");
  await x.session.join(late.announce(y));
  await late.settle();
  assert.equal(await late.open(x, "p_y", await late.send("p_y")), "ok", "used once Y is known");
  assert.equal(a.session.counters.blobsRefused, 0);
});

test("after MAX_STEP ratchets a join brings a fresh key instead", async () => {
  const m = new Meeting();
  await m.join("p_a");
  await m.join("p_b");
  await m.settle();
  const a = m.people.get("p_a");
  const changes = [];
  a.session.addEventListener("key-changed", (e) => changes.push(e.detail.reason));
  // Pretend 127 people came and went without anyone leaving since A's last fresh key.
  a.session.current.step = MAX_STEP;
  await m.join("p_c");
  await m.settle();
  const after = await m.send("p_a");
  assert.deepEqual(kidOf(after), { generation: 1, step: 0 });
  assert.deepEqual(changes, ["exhausted"]);
  for (const id of ["p_b", "p_c"]) assert.equal(await m.open(m.people.get(id), "p_a", after), "ok", id);
});
