// Keyboard shortcuts in the room (M, V, G, H, R, C, P, I, Esc, ?) and the help dialog that
// lists them.

import { h } from "../dom.js";

/** What each key does, as the help dialog lists it. */
export const SHORTCUTS = [
  ["M", "Mute / unmute"],
  ["V", "Camera on / off"],
  ["G", "Gallery / speaker view"],
  ["H", "Raise / lower hand"],
  ["R", "Record on this device (when allowed)"],
  ["C", "Chat"],
  ["Shift+C", "Captions on / off"],
  ["P", "Participants"],
  ["I", "Meeting details: link, ID and passcode"],
  ["Esc", "Close panels"],
  ["?", "This help"],
];

/**
 * Listens for the shortcuts until the returned function is called.
 * @param {Record<string, () => void>} actions by lower-case key: m, v, g, h, r, c, p, i
 * @param {{menusOpen: () => boolean, closeMenus: () => void, panelsOpen: () => boolean, closePanels: () => void}} panels
 */
export function listenForShortcuts(actions, panels) {
  /** @param {KeyboardEvent} e */
  const keys = (e) => {
    const target = /** @type {HTMLElement} */ (e.target);
    if (e.key === "Escape" && panels.menusOpen()) {
      panels.closeMenus();
      return;
    }
    if (e.key === "Escape" && panels.panelsOpen()) {
      panels.closePanels();
      /** @type {HTMLElement | null} */ (document.activeElement)?.blur?.();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || target.closest("input, textarea, select, [contenteditable], [role='menu'], dialog")) return;
    // Shift+C: captions (C alone opens the chat).
    const k = e.shiftKey && e.key.toLowerCase() === "c" ? "shift+c" : e.key.toLowerCase();
    /** @type {Record<string, () => void>} */
    const map = { ...actions, "?": help };
    if (k === "escape") panels.closePanels();
    else if (map[k]) {
      e.preventDefault();
      map[k]();
    }
  };
  document.addEventListener("keydown", keys);
  return () => document.removeEventListener("keydown", keys);
}

/** The keyboard shortcuts, in a dialog. */
export function help() {
  const dialog = /** @type {HTMLDialogElement} */ (
    h(
      "dialog",
      { class: "dialog", "aria-labelledby": "help-title" },
      h("h2", { id: "help-title", text: "Keyboard shortcuts" }),
      h("dl", { class: "keys" }, ...SHORTCUTS.flatMap(([k, t]) => [h("dt", {}, h("kbd", { text: k })), h("dd", { text: t })])),
      h("div", { class: "dialog-actions" }, h("button", { class: "btn btn-primary", text: "Close", onclick: () => dialog.close() })),
    )
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
