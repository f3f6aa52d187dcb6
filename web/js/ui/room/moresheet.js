// "More" on a phone: the control bar keeps the microphone, camera, chat, participants and
// Leave; everything else (reactions, hand, share, view, record, details, devices, End for all)
// is in this sheet, each with its icon and its name. An entry presses the real control, so it
// does and says exactly what that control does; the sheet is built again on every opening.

import { h, icon } from "../dom.js";
import { REACTIONS } from "../../types.js";
import { menuKeys } from "./menukeys.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/** The device carets have no icon or name of their own to show here. */
const OWN = /** @type {Record<string, [Parameters<typeof icon>[0], string]>} */ ({ "ctl-microphone-devices": ["mic", "Microphone…"], "ctl-camera-devices": ["video", "Camera…"] });

/**
 * @param {RoomContext} ctx
 * @param {{controls: () => HTMLElement[], beforeOpen: () => void}} parts the real controls to
 *   offer, in order (hidden or absent ones are left out)
 */
export function createMoreSheet(ctx, parts) {
  const { meeting } = ctx;
  const button = h(
    "button",
    { id: "ctl-more", class: "ctl ctl-more", type: "button", "aria-label": "More", title: "More", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": "more-sheet" },
    icon("more"),
    h("span", { class: "ctl-label", text: "More" }),
  );
  const sheet = h("div", { id: "more-sheet", class: "more-sheet", role: "menu", "aria-label": "More options", tabindex: "-1", hidden: true });
  const entries = () => /** @type {HTMLElement[]} */ ([...sheet.querySelectorAll("[role='menuitem']")]);

  /** @param {boolean} [focusButton] */
  const close = (focusButton = false) => {
    if (sheet.hidden) return;
    sheet.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (focusButton) button.focus();
  };

  /** An entry for a real control: its icon and its name without the shortcut letter. @param {HTMLElement} real */
  const entry = (real) => {
    const own = OWN[real.id];
    const name = own ? own[1] : (real.getAttribute("aria-label") || real.textContent || "").replace(/ \(.\)$/, "").trim();
    const ic = own ? icon(own[0]) : (/** @type {HTMLElement | null} */ (real.querySelector(".icon"))?.cloneNode(true) ?? icon("more"));
    const on = real.classList.contains("on") || real.classList.contains("rec-on") || real.getAttribute("aria-pressed") === "true";
    const danger = real.classList.contains("btn-danger-ghost") || real.classList.contains("rec-on");
    return h(
      "button",
      { type: "button", role: "menuitem", class: `more-item${on ? " on" : ""}${danger ? " danger" : ""}`, "data-for": real.id, disabled: /** @type {HTMLButtonElement} */ (real).disabled, onclick: () => (close(), real.click()) },
      /** @type {HTMLElement} */ (ic),
      h("span", { text: name }),
    );
  };

  const open = () => {
    parts.beforeOpen();
    const reactions = h(
      "div",
      { class: "more-reactions", role: "group", "aria-label": "Reactions" },
      ...REACTIONS.map((e) => h("button", { type: "button", role: "menuitem", class: "react-emoji", text: e, "aria-label": `React ${e}`, onclick: () => (close(), meeting.send({ type: "react", emoji: e })) })),
    );
    const items = parts.controls().filter((c) => c && !c.hidden && !/** @type {HTMLElement | null} */ (c.closest("[hidden]")));
    sheet.replaceChildren(reactions, ...items.map(entry));
    sheet.hidden = false;
    button.setAttribute("aria-expanded", "true");
    (entries()[0] ?? sheet).focus();
  };

  button.addEventListener("click", () => (sheet.hidden ? open() : close()));
  const enabled = () => entries().filter((b) => !(/** @type {HTMLButtonElement} */ (b).disabled));
  menuKeys(sheet, enabled, close, { sideways: true });
  /** A tap outside the sheet and its button closes it. @param {Event} e */
  const outside = (e) => {
    const t = /** @type {Node} */ (e.target);
    if (!sheet.contains(t) && !button.contains(t)) close();
  };
  document.addEventListener("pointerdown", outside);

  return {
    button,
    sheet,
    close,
    isOpen: () => !sheet.hidden,
    dispose: () => document.removeEventListener("pointerdown", outside),
  };
}
