// The effect items of the room's device menus: "Background" (None, Blur, the images) under the
// cameras, "Noise suppression" under the microphones. Each applies live, without
// renegotiating: the effects change what flows through the track that is sent.

import { h, icon, toast } from "../ui/dom.js";
import { choices, keyOf } from "./picker.js";
import { labelOf, UPLOADED } from "./backdrops.js";

/**
 * @param {"microphone" | "camera"} source
 * @param {import("./index.js").Effects} effects
 * @param {() => void} close closes the menu
 * @returns {HTMLElement[]}
 */
export function effectItems(source, effects, close) {
  if (source === "microphone") {
    const ns = effects.noise;
    const on = ns.enabled && ns.running;
    return [
      h("div", { class: "menu-title", role: "presentation", text: "Audio" }),
      h(
        "button",
        { type: "button", role: "menuitemcheckbox", tabindex: "-1", id: "menu-noise", "aria-checked": String(on), "aria-disabled": String(!ns.running), title: ns.unavailable || "RNNoise removes steady background noise (fans, typing, traffic)", onclick: () => {
          close();
          if (!ns.running) return toast(ns.unavailable || "Noise suppression is not running", "error");
          effects.setNoiseSuppression(!ns.enabled);
          toast(`Noise suppression ${ns.enabled ? "on" : "off"}`, "info", { ms: 1500 });
        } },
        icon("check"),
        h("span", { class: "menu-text", text: "Noise suppression" }),
      ),
    ];
  }
  const cam = effects.camera;
  const current = keyOf(cam.effect);
  return [
    h("div", { class: "menu-title", role: "presentation", text: cam.supported ? "Background" : "Background (not in this browser)" }),
    ...choices(cam.effect.image === UPLOADED).map((e) =>
      h(
        "button",
        { type: "button", role: "menuitemradio", tabindex: "-1", "data-background": keyOf(e), "aria-checked": String(keyOf(e) === current), "aria-disabled": String(!cam.supported && e.kind !== "none"), onclick: () => {
          close();
          cam.setEffect(e).catch((err) => toast(err instanceof Error ? err.message : String(err), "error"));
        } },
        icon("check"),
        h("span", { class: "menu-text", text: labelOf(e) }),
      ),
    ),
  ];
}
