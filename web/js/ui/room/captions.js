// Live captions in the room: the CC button (Shift+C; a host or co-host turns captions on
// for everyone, anyone may hide them on their screen), and the captions at the bottom of
// the stage, one line per speaker with their name: a partial caption (grey) is replaced as
// the words are recognised, then by the final one. An end-to-end encrypted meeting has no
// server captions: the button says so.

import { h, icon, toast } from "../dom.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */
/** @typedef {Extract<import("../../types.js").ServerMessage, {type: "caption"}>} CaptionMessage */

/** How long a final caption stays up. */
const LINGER_MS = 8000;
/** Speakers shown at once (the latest). */
const MAX_LINES = 3;
export const E2EE_TEXT = "Captions are unavailable in end-to-end encrypted meetings";

/**
 * @param {RoomContext} ctx
 * @param {{button: (id: string, label: string, ic: HTMLElement, onclick: () => void, extra?: object) => HTMLElement}} parts
 */
export function createCaptions(ctx, parts) {
  const { meeting } = ctx;
  /** Captions hidden on this screen only. */
  let hidden = false;
  const region = h("div", { class: "captions", id: "captions", role: "log", "aria-live": "polite", "aria-label": "Captions", hidden: true });
  /** @type {Map<string, {el: HTMLElement, text: HTMLElement, utterance: number, timer: number}>} by speaker */
  const lines = new Map();

  const on = () => !!meeting.info?.captions;
  const available = () => !!meeting.info?.captions_available;
  const toggle = () => {
    if (!available()) {
      toast("This server does not run live captions", "info");
      return;
    }
    if (meeting.e2ee) {
      toast(E2EE_TEXT, "error");
      return;
    }
    if (meeting.isModerator) {
      meeting.send({ type: "captions", on: !on() });
      return;
    }
    if (!on()) {
      toast("Only the host or a co-host can turn on captions", "info");
      return;
    }
    hidden = !hidden;
    render();
  };
  const button = parts.button("ctl-captions", "Turn on captions (Shift+C)", icon("cc"), toggle);

  /** @param {CaptionMessage} c */
  const show = (c) => {
    let line = lines.get(c.participant_id);
    if (!line) {
      const text = h("span", { class: "caption-text" });
      const el = h("p", { class: "caption", "data-participant": c.participant_id }, h("strong", { class: "caption-who", text: meeting.nameOf(c.participant_id) }), text);
      line = { el, text, utterance: c.utterance, timer: 0 };
      lines.set(c.participant_id, line);
    }
    clearTimeout(line.timer);
    line.utterance = c.utterance;
    line.text.textContent = c.text;
    line.el.classList.toggle("partial", !c.is_final);
    region.append(line.el); // the latest speaker at the bottom
    while (region.children.length > MAX_LINES) {
      const first = /** @type {HTMLElement} */ (region.firstElementChild);
      lines.delete(first.dataset.participant ?? "");
      first.remove();
    }
    const mine = line;
    if (c.is_final) {
      mine.timer = window.setTimeout(() => {
        if (lines.get(c.participant_id) === mine) lines.delete(c.participant_id);
        mine.el.remove();
        render();
      }, c.text ? LINGER_MS : 0);
    }
    render();
  };
  meeting.addEventListener("caption", (e) => show(/** @type {CustomEvent<CaptionMessage>} */ (e).detail));

  const render = () => {
    const e2ee = !!meeting.e2ee;
    const label = e2ee ? "Captions unavailable" : meeting.isModerator ? (on() ? "Turn off captions" : "Turn on captions") : on() && !hidden ? "Hide captions" : "Show captions";
    const name = `${label} (Shift+C)`;
    button.replaceChildren(icon("cc"), h("span", { class: "ctl-label", text: label }));
    // The name starts with what the button shows; the title says why in an E2EE meeting.
    button.setAttribute("aria-label", name);
    button.title = e2ee ? E2EE_TEXT : name;
    button.classList.toggle("on", on() && !hidden);
    button.setAttribute("aria-disabled", String(e2ee));
    // No engine on this server: no control that could only say no.
    button.hidden = !available();
    region.hidden = !on() || hidden || region.children.length === 0;
    if (!on()) {
      for (const l of lines.values()) clearTimeout(l.timer);
      lines.clear();
      region.replaceChildren();
    }
  };

  return { button, region, render, toggle };
}
