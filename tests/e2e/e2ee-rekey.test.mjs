// Re-keying in an end-to-end encrypted meeting in real Chromiums (docs/e2ee.md "Keys"): a
// fourth joiner changes the security code identically on all four and decodes everyone (the
// others ratchet their keys for them); one leaves → the others rotate to fresh keys and switch
// to them (counted on the clients), the code changes again and media goes on under the new
// keys. Every wait is on what the pages observe — the key change that follows the join or the
// leave, whenever it lands — never on a counter read at a moment that may race the event.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { shot } from "./harness.mjs";
import { e2eeSetup, joinAll, e2ee, flowing, allFlowing, sameCode, watchKeys, keyChanged } from "./e2ee-room.mjs";

let setup;
before(async () => {
  setup = await e2eeSetup();
});
after(async () => {
  await setup?.close();
});

test("a join changes the code on all four and ratchets; a leave rotates the keys and media goes on", async () => {
  const three = await joinAll(setup, [null, "Gus", "Gia"]);
  const [erin, gus, gia] = three;
  const code3 = await sameCode(three.map((x) => x.page), 3);

  // A fourth joins: the code changes, identically on all four; each of the three ratchets its
  // key for him (a key change "join"), and Ned decodes all three with those keys.
  const before = await Promise.all(three.map(async (x) => (await e2ee(x.page)).session));
  await Promise.all(three.map((x) => watchKeys(x.page)));
  const [ned] = await joinAll(setup, ["Ned"]);
  const four = [...three, ned];
  const code4 = await sameCode(four.map((x) => x.page), 4);
  assert.notEqual(code4, code3);
  const ratcheted = await Promise.all(three.map((x, i) => keyChanged(x.page, "join", `browser ${i} ratchets for Ned`)));
  ratcheted.forEach((s, i) => assert.ok(s.ratchets > before[i].ratchets, `browser ${i}: ${JSON.stringify(s)}`));
  await flowing(ned.page, 3, 3, "Ned");

  // Gia leaves: the others rotate to a fresh key and switch to it (a key change "leave", after
  // every other acknowledged or 1.5 s), the code changes.
  const stay = [erin, gus, ned];
  const counted = await Promise.all(stay.map(async (x) => (await e2ee(x.page)).session));
  await Promise.all(stay.map((x) => watchKeys(x.page)));
  await gia.page.click("#ctl-leave");
  const code3b = await sameCode(stay.map((x) => x.page), 3);
  assert.notEqual(code3b, code4);
  const rotated = await Promise.all(stay.map((x, i) => keyChanged(x.page, "leave", `browser ${i} rotates after Gia left`)));
  rotated.forEach((s, i) => assert.ok(s.rotations > counted[i].rotations && s.switches > counted[i].switches, `browser ${i}: ${JSON.stringify(s)}`));
  // After the switch, frames under the new keys decode everywhere.
  await allFlowing(stay, 2, 2, "after the leave");
  await shot(ned.page, "e2ee-after-leave");
  for (const x of four) assert.deepEqual(x.errors, []);
});
