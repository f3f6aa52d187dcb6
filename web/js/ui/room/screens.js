// The screens around the room: joining, the waiting room, and the ended screen with why.

import { h, mount, brand } from "../dom.js";
import { REFUSALS } from "../prejoin.js";

const END_REASONS = /** @type {Record<string, string>} */ ({
  ended_by_host: "The host ended the meeting for everyone.",
  duration_limit: "The meeting reached its time limit.",
  empty: "Everyone left.",
  cancelled: "The host cancelled the meeting.",
});

/** Why the account's access ended (close 4003, after an `error` frame with one of these codes). */
const REVOKED = /** @type {Record<string, string>} */ ({
  account_disabled: "An administrator disabled your account.",
  access_revoked: "Your password was changed or your account was deleted. Sign in again to rejoin.",
});

export function showJoining() {
  mount(h("main", { class: "page center", id: "main" }, h("section", { class: "card waiting" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("h1", { text: "Joining…" }))));
}

/** @param {string} title @param {() => void} leave */
export function showWaiting(title, leave) {
  mount(
    h("header", { class: "topbar topbar-plain" }, brand()),
    h("main", { class: "page center", id: "main" }, h("section", { class: "card waiting", id: "waiting-room" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("h1", { text: "Please wait, the host will let you in soon" }), h("p", { class: "muted", text: title }), h("button", { class: "btn", text: "Leave", onclick: leave }))),
  );
}

/** @param {{why: string, error?: {code: string, message: string} | null, reason?: string | null}} d */
export function showEnded(d) {
  let heading = "You left the meeting";
  let text = "";
  if (d.why === "ended") {
    heading = "The meeting has ended";
    text = END_REASONS[d.reason ?? ""] ?? "";
  } else if (d.why === "refused" && d.error) {
    heading = d.error.code === "removed" ? "You were removed from the meeting" : "You could not join";
    text = REFUSALS[d.error.code] ?? d.error.message;
  } else if (d.why === "revoked") {
    heading = "You were signed out of the meeting";
    text = REVOKED[d.error?.code ?? ""] ?? "Your account's access ended. Sign in again to rejoin.";
  } else if (d.why === "flooding") {
    heading = "You were disconnected";
    text = "You sent too many messages too quickly. You can join again in a moment.";
  } else if (d.why === "replaced") {
    heading = "You joined from another window";
    text = "This window has been disconnected.";
  } else if (d.why === "lost") {
    heading = "Connection lost";
    text = "We could not reconnect you in time.";
  }
  const rejoin = d.why === "left" || d.why === "lost" || d.why === "flooding" ? h("a", { class: "btn", href: location.pathname + location.search, text: "Rejoin" }) : null;
  mount(
    h("header", { class: "topbar topbar-plain" }, brand()),
    h("main", { class: "page center", id: "main" }, h("section", { class: "card ended", id: "ended", "data-why": d.why }, h("h1", { text: heading }), text ? h("p", { class: "ended-reason muted", text }) : null, h("div", { class: "row center" }, rejoin, h("a", { class: "btn btn-primary", href: "/#/", text: "Back to home" })))),
  );
}
