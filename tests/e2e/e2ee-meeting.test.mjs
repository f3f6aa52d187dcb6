// An end-to-end encrypted meeting in real Chromiums through Convene's SFU (docs/e2ee.md): three
// browsers decode each other's video and hear each other's audio through the SFrame
// transforms, everyone sees the same security code next to the lock, and the SFU still works
// on ciphertext: active speaker, keyframe requests, simulcast layer switches. (Joins and leaves re-keying: e2ee-rekey.test.mjs.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { shot } from "./harness.mjs";
import { e2eeSetup, joinAll, inbound, e2ee, flowing, allFlowing, sameCode } from "./e2ee-room.mjs";

let setup;
before(async () => {
  setup = await e2eeSetup();
});
after(async () => {
  await setup?.close();
});

/** What a page's publishing connection sends per simulcast layer (rid): frames encoded, width. */
function outbound(page) {
  return page.evaluate(async () => {
    const layers = {};
    (await /** @type {any} */ (window).__convene.meeting.media.publisher.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video" && s.rid) layers[s.rid] = { frames: s.framesEncoded ?? 0, width: s.frameWidth ?? 0 };
    });
    return layers;
  });
}

test("three browsers in an end-to-end encrypted meeting decode each other, see one code, and the SFU still switches layers", async (t) => {
  const three = await joinAll(setup, [null, "Gus", "Gia"]);
  const [erin, gus, gia] = three;

  // Everyone decodes the two other cameras and hears the two other microphones, through the
  // transforms: frames were encrypted and decrypted, none failed.
  await allFlowing(three, 2, 2, "three decode each other");
  for (const x of three) {
    const s = await e2ee(x.page);
    assert.ok(s.frames.encrypted > 0 && s.frames.decrypted > 0, JSON.stringify(s.frames));
    assert.equal(s.frames.errors, 0);
  }

  // The SFU still works on the ciphertext: it names the loudest speaker from the audio-level
  // header extension (in clear). (Its keyframe requests are checked at the layer switch below:
  // a newcomer's first picture may come from the SFU's keyframe cache, with no request.)
  for (const x of three) {
    await x.page.waitForFunction(() => {
      const m = /** @type {any} */ (window).__convene.meeting;
      return !!m.activeSpeaker && m.participants.has(m.activeSpeaker);
    }, null, { timeout: 15_000, polling: 250 });
  }
  // The same security code everywhere, in the header next to the lock.
  const code = await sameCode(three.map((x) => x.page), 3);
  assert.match(code, /^(\d{5} ){7}\d{5}$/);
  for (const x of three) {
    const badge = await x.page.textContent("#e2ee-badge");
    assert.match(badge, /End-to-end encrypted/);
    assert.ok(badge.includes(code), badge);
  }
  // The details say what the code is for and what is off.
  await erin.page.click("#e2ee-badge");
  await erin.page.waitForSelector("#e2ee-details");
  assert.equal((await erin.page.textContent("#e2ee-code-details")).trim(), code);
  const details = await erin.page.textContent("#e2ee-details");
  assert.match(details, /Compare it aloud/);
  assert.match(details, /Recording on the server is off/);
  assert.match(details, /Chat, reactions and shared files are not end-to-end encrypted/);
  await shot(erin.page, "e2ee-room");

  // Simulcast on ciphertext: Gia's tile for Gus shrinks to a thumbnail, the SFU forwards his
  // quarter layer; it grows again, a larger layer. Which layer arrives is told by its width
  // against the widths Gus's browser encodes right now (a busy machine scales layers down).
  const gusCamera = await gia.page.evaluate(() => {
    const m = /** @type {any} */ (window).__convene.meeting;
    const gus = [...m.participants.values()].find((p) => p.display_name === "Gus");
    const track = [...m.media.published.values()].find((t) => t.participant_id === gus.participant_id && t.source === "camera");
    return [...m.media.lines].find(([, t]) => t === track.track_id)?.[0];
  });
  const gusWidth = async () => (await inbound(gia.page)).video.find((v) => v.mid === gusCamera)?.width ?? 0;
  const layerBecomes = async (ok, what, tries = 50) => {
    let w = 0;
    let layers = {};
    for (let i = 0; i < tries; i++) {
      w = await gusWidth();
      layers = await outbound(gus.page);
      if (w > 0 && layers.q && ok(w, layers.q.width)) return true;
      await gia.page.waitForTimeout(500);
    }
    return `${what}: Gus's camera arrives ${w} px wide; he sends ${JSON.stringify(layers)}`;
  };
  // A large tile first: a layer above the quarter one — if Gus's browser encodes one at all
  // (on an overloaded machine Chromium stops encoding the upper layers; then there is nothing
  // to switch between and the test says so).
  await gia.page.setViewportSize({ width: 1280, height: 800 });
  const large = await layerBecomes((w, q) => w > q, "a large tile gets a larger layer", 30);
  const upper = await outbound(gus.page);
  await gia.page.waitForTimeout(1000);
  const upperLater = await outbound(gus.page);
  const encodesUpper = ["h", "f"].some((rid) => (upperLater[rid]?.frames ?? 0) > (upper[rid]?.frames ?? 0) && upperLater[rid].width > upperLater.q.width);
  if (large !== true && !encodesUpper) {
    t.diagnostic(`Gus's browser encodes only its quarter layer now (${JSON.stringify(upperLater)}): no layer switch to see`);
  } else {
    assert.equal(large, true);
    // Gia decodes Gus's larger layer: it started at a keyframe the SFU asked his encrypting
    // sender for (PLI), since no cached one of that layer was fresh.
    const plis = await gus.page.evaluate(async () => {
      let n = 0;
      (await /** @type {any} */ (window).__convene.meeting.media.publisher.getStats()).forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "video") n += (s.pliCount ?? 0) + (s.firCount ?? 0);
      });
      return n;
    });
    assert.ok(plis > 0, "keyframe requests reached Gus's encrypting sender");
    await gia.page.setViewportSize({ width: 360, height: 420 });
    assert.equal(await layerBecomes((w, q) => w <= q, "a thumbnail gets the quarter layer"), true);
  }
  await flowing(gia.page, 2, 2, "Gia after the switches");
  for (const x of three) assert.deepEqual(x.errors, []);
});
