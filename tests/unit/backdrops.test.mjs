// The background choices: what a stored "Default background" means, and which image.
import { test } from "node:test";
import assert from "node:assert/strict";
import { effectOf, chosenImage, chooseImage, builtInUrl, labelOf, BUILT_IN, UPLOADED, guestDefault, saveGuestDefault } from "../../web/js/effects/backdrops.js";

/** A Storage stand-in. */
function memory() {
  const m = new Map();
  return /** @type {Storage} */ (/** @type {unknown} */ ({ getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) }));
}

test("a stored setting becomes an effect; image means this browser's chosen image", () => {
  const s = memory();
  assert.deepEqual(effectOf("none", s), { kind: "none" });
  assert.deepEqual(effectOf("blur", s), { kind: "blur" });
  assert.deepEqual(effectOf("image", s), { kind: "image", image: BUILT_IN[0].id }, "first built-in by default");
  chooseImage(s, UPLOADED);
  assert.deepEqual(effectOf("image", s), { kind: "image", image: UPLOADED });
  assert.deepEqual(effectOf("bogus", s), { kind: "none" });
});

test("unknown image ids fall back to a built-in; built-ins have files and names", () => {
  const s = memory();
  chooseImage(s, "builtin:nope");
  assert.equal(chosenImage(s), BUILT_IN[0].id);
  assert.equal(builtInUrl("builtin:dusk"), "/img/backgrounds/dusk.jpg");
  assert.equal(builtInUrl("elsewhere"), "");
  assert.equal(labelOf({ kind: "image", image: "builtin:studio" }), "Studio");
  assert.equal(labelOf({ kind: "image", image: UPLOADED }), "Your image");
});

test("guests keep their default in this browser", () => {
  const s = memory();
  assert.equal(guestDefault(s), "none");
  saveGuestDefault(s, "blur");
  assert.equal(guestDefault(s), "blur");
});
