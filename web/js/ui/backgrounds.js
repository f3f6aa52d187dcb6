// Settings → Background: which image "Image" means (the built-in ones or my upload), uploading
// and removing my image (PNG, JPEG or WebP up to 5 MB; the server checks), and a live camera
// preview of the default background as a meeting would send it.

import { h, toast } from "./dom.js";
import { openDevices } from "../peer.js";
import { Effects } from "../effects/index.js";
import { BUILT_IN, UPLOADED, builtInUrl, chosenImage, chooseImage, effectOf } from "../effects/backdrops.js";
import { UNSUPPORTED, effectsSupport } from "../effects/camera.js";

/**
 * @param {import("../api.js").Api} api
 * @param {HTMLSelectElement} setting the "Default background" select (none / blur / image)
 */
export function backgroundCard(api, setting) {
  const list = h("div", { class: "backdrops", role: "radiogroup", "aria-label": "Background image" });
  /** @type {string | null} object URL of my upload's thumbnail */
  let mine = null;
  const render = () => {
    const chosen = chosenImage(localStorage);
    const opts = [...BUILT_IN.map((b) => ({ id: b.id, name: b.name, src: builtInUrl(b.id) })), ...(mine ? [{ id: UPLOADED, name: "Your image", src: mine }] : [])];
    list.replaceChildren(
      ...opts.map((o) =>
        h(
          "label",
          { class: "backdrop" },
          h("input", { type: "radio", name: "backdrop", value: o.id, checked: o.id === chosen, onchange: () => (chooseImage(localStorage, o.id), restyle()) }),
          h("img", { src: o.src, alt: "" }),
          h("span", { text: o.name }),
        ),
      ),
    );
  };
  // Each refresh asks the server afresh; only the newest answer counts (the one started when
  // the card opened can come back after an upload's and would otherwise hide the new image).
  let asked = 0;
  const refreshMine = async () => {
    const ask = ++asked;
    const blob = await api.backgroundImage().catch(() => null);
    if (ask !== asked) return;
    if (mine) URL.revokeObjectURL(mine);
    mine = blob ? URL.createObjectURL(blob) : null;
    remove.hidden = !mine;
    render();
  };

  const file = /** @type {HTMLInputElement} */ (h("input", { id: "s-bg-file", type: "file", accept: "image/png,image/jpeg,image/webp", class: "visually-hidden" }));
  file.addEventListener("change", async () => {
    const f = file.files?.[0];
    if (!f) return;
    try {
      await api.putBackground(f);
      chooseImage(localStorage, UPLOADED);
      toast("Background image uploaded", "success");
      await refreshMine();
      restyle();
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    }
    file.value = "";
  });
  const remove = h("button", { class: "btn", type: "button", id: "s-bg-remove", text: "Remove my image", hidden: true, onclick: async () => {
    try {
      await api.deleteBackground();
      if (chosenImage(localStorage) === UPLOADED) chooseImage(localStorage, BUILT_IN[0].id);
      await refreshMine();
      restyle();
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    }
  } });

  // The preview: my camera through the effects, as the default background says.
  const video = /** @type {HTMLVideoElement} */ (h("video", { class: "bg-preview", id: "s-bg-preview", autoplay: true, muted: true, playsinline: true, hidden: true }));
  const cost = h("p", { class: "muted small", id: "s-bg-cost", role: "status" });
  /** @type {Effects | null} */
  let effects = null;
  const restyle = () => effects?.camera.setEffect(effectOf(setting.value, localStorage)).catch((err) => (cost.textContent = err.message));
  const previewBtn = h("button", { class: "btn", type: "button", id: "s-bg-try", text: "Preview with my camera", onclick: async () => {
    if (effects) return stopPreview();
    const captured = await openDevices({ audio: false });
    if (!captured) return toast("No camera available", "error");
    effects = new Effects(api);
    effects.camera.addEventListener("cost", () => {
      const c = effects?.camera.cost;
      if (c) cost.textContent = `Processing: ${c.avgMs.toFixed(1)} ms a frame (${c.frames} frames in the last second)`;
    });
    video.srcObject = await effects.wrap(captured);
    video.hidden = false;
    previewBtn.textContent = "Stop preview";
    restyle();
  } });
  const stopPreview = () => {
    effects?.stop();
    effects = null;
    video.hidden = true;
    video.srcObject = null;
    cost.textContent = "";
    previewBtn.textContent = "Preview with my camera";
  };
  setting.addEventListener("change", restyle);
  addEventListener("hashchange", stopPreview, { once: true });

  refreshMine();
  const supported = effectsSupport() !== "";
  return h(
    "section",
    { class: "card", "aria-labelledby": "set-bg" },
    h("h2", { id: "set-bg", text: "Background" }),
    supported ? null : h("p", { class: "form-error", id: "s-bg-unsupported", text: UNSUPPORTED }),
    h("p", { class: "muted", text: "The image used when your default background is “Image”. Blur and images are painted in your browser before your video is sent." }),
    list,
    h("div", { class: "row" }, h("label", { for: "s-bg-file", class: "btn", text: "Upload an image…" }), file, remove),
    h("small", { class: "hint", text: "PNG, JPEG or WebP up to 5 MB." }),
    h("div", { class: "row" }, previewBtn),
    video,
    cost,
  );
}
