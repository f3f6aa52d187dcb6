// Re-keying in an end-to-end encrypted meeting in real Chromiums (docs/e2ee.md "Keys"): a
// fourth joiner changes the security code identically on all four and decodes everyone (the
// others ratchet their keys for them); one leaves → the others rotate to fresh keys (counted
// on the clients), the code changes again and media goes on under the new keys.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, shot, account, toneWav } from "./harness.mjs";
import { join, e2eeMeeting, e2ee, flowing, sameCode } from "./e2ee-room.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  // Four Chromiums on a loaded machine: a slow fake camera, a steady tone for the microphone.
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`, "--use-fake-device-for-media-stream=fps=10"]);
  host = await account(server.base, "erin");
  meeting = await e2eeMeeting(server, host);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a join changes the code on all four and ratchets; a leave rotates the keys and media goes on", async () => {
  const three = [];
  for (const name of [null, "Gus", "Gia"]) three.push(await join(browser, server, meeting, host, name));
  const [erin, gus, gia] = three;
  const code3 = await sameCode(three.map((x) => x.page), 3);

  // A fourth joins: the code changes, identically on all four; Ned decodes all three (keys
  // the others ratcheted forward for him), and they ratcheted.
  const before = await Promise.all(three.map(async (x) => (await e2ee(x.page)).session));
  const ned = await join(browser, server, meeting, host, "Ned");
  const four = [...three, ned];
  const code4 = await sameCode(four.map((x) => x.page), 4);
  assert.notEqual(code4, code3);
  await flowing(ned.page, 3, 3, "Ned");
  for (const [i, x] of three.entries()) {
    const s = (await e2ee(x.page)).session;
    assert.ok(s.ratchets > before[i].ratchets, `browser ${i} ratcheted for the newcomer: ${JSON.stringify(s)}`);
  }

  // Gia leaves: the others rotate to a fresh key and switch to it (counted), the code changes.
  const stay = [erin, gus, ned];
  const counted = await Promise.all(stay.map(async (x) => (await e2ee(x.page)).session));
  await gia.page.click("#ctl-leave");
  const code3b = await sameCode(stay.map((x) => x.page), 3);
  assert.notEqual(code3b, code4);
  for (const [i, x] of stay.entries()) {
    let s = counted[i];
    for (let j = 0; j < 40 && !(s.rotations > counted[i].rotations && s.switches > counted[i].switches); j++) {
      await x.page.waitForTimeout(250);
      s = (await e2ee(x.page)).session;
    }
    assert.ok(s.rotations > counted[i].rotations && s.switches > counted[i].switches, `browser ${i}: ${JSON.stringify(s)}`);
  }
  // After the switch, frames under the new keys decode everywhere.
  for (const [i, x] of stay.entries()) await flowing(x.page, 2, 2, `after the leave, browser ${i}`);
  await shot(ned.page, "e2ee-after-leave");
  for (const x of four) assert.deepEqual(x.errors, []);
});
