// The room's top bar: the meeting's title, locked / recording pills, its ID and the time
// left before the duration limit; and the banner under it (reconnecting, ending soon).

import { h, icon, formatMeetingId } from "../dom.js";
import { formatCountdown } from "../../roomstate.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/** @param {RoomContext} ctx @param {HTMLElement} localRecPill */
export function createHeader(ctx, localRecPill) {
  const { meeting, state } = ctx;
  const title = h("span", { class: "room-title", text: meeting.title || "Joining…" });
  const clock = h("span", { class: "room-clock", "aria-label": "Time left" });
  const lock = h("span", { class: "pill", hidden: true }, icon("lock"), "Locked");
  const rec = h("span", { class: "pill pill-rec", hidden: true, role: "status", "aria-label": "This meeting is being recorded" }, h("span", { class: "rec-dot", "aria-hidden": "true" }), "REC");
  const banner = h("div", { class: "room-banner", role: "status", hidden: true });
  const el = h("header", { class: "room-top" }, h("div", { class: "row" }, title, lock, rec, localRecPill), h("span", { class: "muted small room-id", text: `ID ${formatMeetingId(meeting.meetingId)}` }), clock);

  const tick = setInterval(() => {
    if (!meeting.info) return;
    state.tick();
    clock.textContent = `${formatCountdown(state.timeLeft)} left`;
  }, 1000);

  return {
    el,
    banner,
    render() {
      title.textContent = meeting.title;
      lock.hidden = !meeting.info?.locked;
      rec.hidden = !meeting.info?.recording;
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
