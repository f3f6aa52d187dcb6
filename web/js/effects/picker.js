// A "Background" picker for the pre-join screen and the settings preview: None, Blur and the
// images, applied live to a CameraEffects, with a status line that says what is happening
// (loading the model, an error, or that this browser cannot).

import { h, field } from "../ui/dom.js";
import { BUILT_IN, UPLOADED, labelOf } from "./backdrops.js";
import { UNSUPPORTED } from "./camera.js";

/** @typedef {import("./camera.js").Effect} Effect */

/** Every effect one can pick, the upload only when there is one. @param {boolean} uploaded @returns {Effect[]} */
export function choices(uploaded) {
  return [{ kind: "none" }, { kind: "blur" }, ...BUILT_IN.map((b) => /** @type {Effect} */ ({ kind: "image", image: b.id })), ...(uploaded ? [/** @type {Effect} */ ({ kind: "image", image: UPLOADED })] : [])];
}

/** @param {Effect} e */
export const keyOf = (e) => (e.kind === "image" ? `image:${e.image}` : e.kind);

/**
 * @param {import("./camera.js").CameraEffects} camera
 * @param {Effect} current
 * @param {string} id the select's id
 * @param {(effect: Effect) => void} [onPick] told of every choice made here
 * @param {boolean} [uploaded] whether "Your image" is there
 */
export function backgroundPicker(camera, current, id, onPick = () => {}, uploaded = current.image === UPLOADED) {
  const all = choices(uploaded);
  const select = /** @type {HTMLSelectElement} */ (h("select", { id }, ...all.map((e) => h("option", { value: keyOf(e), text: labelOf(e), selected: keyOf(e) === keyOf(current) }))));
  const status = h("p", { class: "muted small", role: "status", id: `${id}-status` });
  if (!camera.supported) {
    select.disabled = true;
    status.textContent = UNSUPPORTED;
  } else if (current.kind !== "none" && camera.cost.frames === 0) {
    // The stored background is on its way: the model loads with the page.
    status.textContent = "Loading the background…";
    camera.addEventListener("cost", () => (status.textContent = ""), { once: true });
  }
  select.addEventListener("change", async () => {
    const effect = all.find((e) => keyOf(e) === select.value) ?? { kind: "none" };
    onPick(effect);
    status.textContent = effect.kind === "none" ? "" : "Loading the background…";
    try {
      await camera.setEffect(effect);
      if (select.value === keyOf(effect)) status.textContent = "";
    } catch (err) {
      status.textContent = err instanceof Error ? err.message : String(err);
    }
  });
  return h("div", { class: "stack background-picker" }, field("Background", select), status);
}
