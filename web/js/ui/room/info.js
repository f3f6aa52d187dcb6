// The meeting details panel: the join link, meeting ID and passcode, each with a copy button,
// and the whole invitation to paste into a mail or a chat.

import { h, icon, copyText, formatMeetingId } from "../dom.js";
import { e2eeDetails } from "./e2ee.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/** The invitation text: title, link, ID and passcode. @param {string} title @param {string} link @param {number} id @param {string} passcode */
export function invitation(title, link, id, passcode) {
  return [`Join “${title}” on Convene`, link, "", `Meeting ID: ${formatMeetingId(id)}`, ...(passcode ? [`Passcode: ${passcode}`] : [])].join("\n");
}

/** The join link of a meeting on this server. @param {number} id @param {string} passcode */
export function joinLink(id, passcode) {
  return `${location.origin}/j/${id}${passcode ? `?pwd=${encodeURIComponent(passcode)}` : ""}`;
}

/** @param {RoomContext} ctx @param {() => HTMLElement} closeBtn */
export function infoPanel(ctx, closeBtn) {
  const { meeting, local } = ctx;
  const passcode = local.passcode ?? "";
  const link = joinLink(meeting.meetingId, passcode);
  const row = (/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ id) =>
    h("div", { class: "info-row" }, h("dt", { text: label }), h("dd", {}, h("span", { class: "info-value", id, text: value }), h("button", { type: "button", class: "btn btn-icon btn-ghost", "aria-label": `Copy ${label.toLowerCase()}`, title: `Copy ${label.toLowerCase()}`, onclick: () => copyText(value) }, icon("copy"))));
  const limit = meeting.info?.settings?.duration_limit_minutes;
  return [
    h("div", { class: "side-head" }, h("h2", { text: "Meeting details" }), closeBtn()),
    h(
      "div",
      { class: "info-body", id: "meeting-info" },
      h("h3", { class: "info-title", text: meeting.title }),
      h("dl", { class: "info-list" }, row("Link", link, "info-link"), row("Meeting ID", formatMeetingId(meeting.meetingId), "info-id"), passcode ? row("Passcode", passcode, "info-passcode") : null),
      limit ? h("p", { class: "muted small", text: `The meeting ends automatically after ${limit} minutes (its time limit).` }) : null,
      e2eeDetails(ctx),
      h("button", { type: "button", class: "btn btn-primary", id: "copy-invitation", onclick: () => copyText(invitation(meeting.title, link, meeting.meetingId, passcode)) }, icon("copy"), "Copy invitation"),
    ),
  ];
}
