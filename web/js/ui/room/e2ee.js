// End-to-end encryption in the room (docs/e2ee.md): the lock "End-to-end encrypted" in the
// header with the security code everyone should see identically, and in the meeting details
// what the code is for and what is off in such a meeting.

import { h, icon } from "../dom.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/** What an end-to-end encrypted meeting does without, said where people look for it. */
export const E2EE_OFF = [
  "Recording on the server is off (the server has only encrypted media); you can record on your device, and the recording stays there.",
  "Live captions, transcription and other features that need the media on the server are off.",
  "Chat, reactions and shared files are not end-to-end encrypted.",
];

/** The header's lock and security code; hidden outside E2EE meetings. @param {RoomContext} ctx @param {() => void} openDetails */
export function e2eeBadge(ctx, openDetails) {
  const { meeting } = ctx;
  const code = h("span", { class: "e2ee-code", id: "e2ee-code" });
  const el = h(
    "button",
    { type: "button", class: "pill pill-e2ee", id: "e2ee-badge", hidden: true, onclick: openDetails },
    icon("lock"),
    h("span", { text: "End-to-end encrypted" }),
    code,
  );
  return {
    el,
    render() {
      const e2ee = meeting.e2ee;
      el.hidden = !e2ee;
      if (!e2ee) return;
      code.textContent = e2ee.code ? ` · ${e2ee.code}` : " · …";
      const covers = e2ee.participants === 1 ? "1 participant" : `${e2ee.participants} participants`;
      el.title = e2ee.code
        ? `Security code for ${covers}: compare it aloud, everyone should see the same. Open the meeting details for more.`
        : "Exchanging keys…";
      el.setAttribute("aria-label", e2ee.code ? `End-to-end encrypted. Security code ${e2ee.code}, for ${covers}. Meeting details` : "End-to-end encrypted. Exchanging keys. Meeting details");
    },
  };
}

/** The meeting details' section on end-to-end encryption (null outside E2EE meetings). @param {RoomContext} ctx */
export function e2eeDetails(ctx) {
  const e2ee = ctx.meeting.e2ee;
  if (!e2ee) return null;
  const covers = e2ee.participants === 1 ? "1 participant" : `${e2ee.participants} participants`;
  return h(
    "section",
    { class: "e2ee-details", id: "e2ee-details", "aria-label": "End-to-end encryption" },
    h("h3", {}, icon("lock"), " End-to-end encrypted"),
    h("p", { class: "small", text: "Audio, video and screen shares are encrypted on each device with keys the server never has." }),
    h("p", { class: "small" }, "Security code", e2ee.code ? ` (${covers}):` : ":"),
    h("p", { class: "e2ee-code-big", id: "e2ee-code-details", text: e2ee.code || "Exchanging keys…" }),
    h("p", { class: "muted small", text: "Compare it aloud with the others: everyone should see the same code. It changes when someone joins or leaves; a code that differs means someone else may be listening." }),
    h("ul", { class: "small e2ee-off" }, ...E2EE_OFF.map((t) => h("li", { text: t }))),
  );
}
