// The room's top bar: the meeting's title, locked / recording pills, its ID and the time
// left before the duration limit; and the banner under it (reconnecting, ending soon).

import { h, icon, formatMeetingId } from "../dom.js";
import { formatCountdown } from "../../roomstate.js";
import { e2eeBadge } from "./e2ee.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/**
 * @param {RoomContext} ctx @param {HTMLElement} localRecPill
 * @param {() => void} openDetails the title opens the meeting details (on a phone the control
 *   bar has no room for their button)
 */
export function createHeader(ctx, localRecPill, openDetails) {
  const { meeting, state } = ctx;
  const title = h("button", { type: "button", class: "room-title", id: "room-title", title: "Meeting details", onclick: openDetails, text: meeting.title || "Joining…" });
  const clock = h("span", { class: "room-clock", id: "room-clock" });
  const lock = h("span", { class: "pill", hidden: true }, icon("lock"), "Locked");
  const rec = h("span", { class: "pill pill-rec", hidden: true, role: "status", "aria-label": "This meeting is being recorded" }, h("span", { class: "rec-dot", "aria-hidden": "true" }), "REC");
  const banner = h("div", { class: "room-banner", role: "status", hidden: true });
  const e2ee = e2eeBadge(ctx, openDetails);
  const el = h("header", { class: "room-top" }, h("div", { class: "row" }, title, e2ee.el, lock, rec, localRecPill), h("span", { class: "muted small room-id", text: `ID ${formatMeetingId(meeting.meetingId)}` }), clock);

  const tick = setInterval(() => {
    if (!meeting.info) return;
    state.tick();
    // The countdown runs to the meeting's time limit, not to its scheduled end: say which.
    const limit = meeting.info.settings?.duration_limit_minutes;
    const left = `${formatCountdown(state.timeLeft)} left`;
    clock.replaceChildren(left, limit ? h("span", { class: "clock-limit", text: ` · ${limit}-min limit` }) : "");
    const name = limit ? `${left} of the meeting's ${limit}-minute time limit` : `${left} before the meeting's time limit`;
    clock.setAttribute("aria-label", name);
    clock.title = limit ? `The meeting ends automatically ${limit} minutes after it started` : name;
  }, 1000);

  return {
    el,
    banner,
    render() {
      title.textContent = meeting.title;
      lock.hidden = !meeting.info?.locked;
      rec.hidden = !meeting.info?.recording;
      e2ee.render();
    },
    /** @param {string} text @param {"warning" | "error"} kind */
    showBanner(text, kind) {
      banner.textContent = text;
      banner.className = `room-banner banner-${kind}`;
      banner.hidden = false;
    },
    hideBanner() {
      banner.hidden = true;
    },
    dispose() {
      clearInterval(tick);
    },
  };
}
