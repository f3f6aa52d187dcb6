// Breakout rooms in the room screen: the "Breakout rooms" control (moderators, and everyone
// while they may pick a room), its side panel (a moderator sets up, opens, renames, moves,
// visits, broadcasts and closes all; a participant picks a room), and the banner of someone
// in a room ("You are in Room 2 — Ask for help / Return to main room") with the countdown.

import { h, icon, toast } from "../dom.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/** Fewest and most rooms (BREAKOUT_ROOMS in crates/protocol). */
const MIN_ROOMS = 2;
const MAX_ROOMS = 50;

/** @param {RoomContext} ctx @param {() => void} togglePanel */
export function createBreakout(ctx, togglePanel) {
  const { meeting } = ctx;
  const rooms = meeting.breakout;
  const label = "Breakout rooms";
  const button = h("button", { id: "ctl-breakout", class: "ctl", type: "button", "aria-label": label, title: label, hidden: true, onclick: togglePanel }, icon("grid"), h("span", { class: "ctl-label", text: "Rooms" }));
  const banner = h("div", { class: "breakout-banner", id: "breakout-banner", role: "status", hidden: true });
  /** The set-up form's choices, kept across renders. */
  const setup = { count: 2, assign: /** @type {"auto" | "manual" | "choose"} */ ("auto"), minutes: "", manual: /** @type {Map<string, number>} */ (new Map()), broadcast: "", countdown: 60 };

  rooms.addEventListener("broadcast", (e) => {
    const { from_name, text } = /** @type {CustomEvent} */ (e).detail;
    toast(`${from_name} to all rooms: ${text}`, "info", { ms: 10000 });
  });
  rooms.addEventListener("help", (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    toast(`${d.display_name} asks for help in ${d.room_name}`, "warning", { action: "Join", onAction: () => rooms.go(d.room), ms: 30000 });
  });
  rooms.addEventListener("moved", (e) => {
    const { room, name } = /** @type {CustomEvent} */ (e).detail;
    toast(room === 0 ? "You are back in the main room" : `You joined ${name}`, "info", { ms: 3000 });
  });
  // The countdowns move every second between the server's updates.
  const tick = setInterval(() => {
    if (rooms.closingAt !== null || rooms.endsAt !== null) renderBanner();
  }, 1000);

  const renderBanner = () => {
    const closing = rooms.closingIn();
    const inRoom = rooms.myRoom !== 0;
    banner.hidden = !inRoom && closing === null;
    if (banner.hidden) return;
    const parts = [];
    if (inRoom) parts.push(h("strong", { text: `You are in ${rooms.myRoomName}` }));
    if (closing !== null) parts.push(h("span", { class: "breakout-countdown", id: "breakout-countdown", text: `Breakout rooms close in ${closing} s` }));
    else if (rooms.endsAt !== null) parts.push(h("span", { class: "muted", text: `${Math.max(0, Math.ceil((rooms.endsAt - Date.now()) / 60000))} min left` }));
    if (inRoom) {
      // The host is whom help calls go to; co-hosts may still call the host (and each other).
      if (!meeting.isHost) parts.push(h("button", { type: "button", class: "btn btn-small", id: "breakout-help", text: "Ask for help", onclick: () => (rooms.askForHelp(), toast("The host was asked to come", "success", { ms: 3000 })) }));
      parts.push(h("button", { type: "button", class: "btn btn-small btn-primary", id: "breakout-return", text: "Return to main room", onclick: () => rooms.go(0) }));
    }
    banner.replaceChildren(...parts);
  };

  /** A moderator's form before the rooms open. */
  const setupForm = () => {
    const people = [...meeting.participants.values()].filter((p) => p.role !== "host" && p.role !== "cohost");
    const count = h("input", { id: "breakout-count", type: "number", min: MIN_ROOMS, max: MAX_ROOMS, value: setup.count, oninput: (/** @type {Event} */ e) => ((setup.count = Number(/** @type {HTMLInputElement} */ (e.target).value)), ctx.render()) });
    const radio = (/** @type {"auto" | "manual" | "choose"} */ value, /** @type {string} */ text) =>
      h("label", { class: "breakout-choice" }, h("input", { type: "radio", name: "breakout-assign", id: `breakout-assign-${value}`, value, checked: setup.assign === value, onchange: () => ((setup.assign = value), ctx.render()) }), text);
    const roomSelect = (/** @type {string} */ pid, /** @type {string} */ name) =>
      h(
        "select",
        { "aria-label": `Room for ${name}`, onchange: (/** @type {Event} */ e) => setup.manual.set(pid, Number(/** @type {HTMLSelectElement} */ (e.target).value)) },
        ...[0, ...Array.from({ length: Math.min(Math.max(setup.count, 0), MAX_ROOMS) }, (_, i) => i + 1)].map((k) => h("option", { value: k, selected: (setup.manual.get(pid) ?? 0) === k, text: k ? `Room ${k}` : "Main room" })),
      );
    const valid = setup.count >= MIN_ROOMS && setup.count <= MAX_ROOMS;
    return h(
      "div",
      { class: "info-body breakout-setup" },
      h("div", { class: "field" }, h("label", { for: "breakout-count", text: `Number of rooms (${MIN_ROOMS}–${MAX_ROOMS})` }), count),
      h("fieldset", { class: "breakout-assign" }, h("legend", { text: "Assign people" }), radio("auto", "Automatically (even split)"), radio("manual", "Manually"), radio("choose", "Let participants choose")),
      setup.assign === "manual" ? h("ul", { class: "breakout-people" }, ...people.map((p) => h("li", {}, h("span", { text: p.display_name }), roomSelect(p.participant_id, p.display_name)))) : null,
      h("div", { class: "field" }, h("label", { for: "breakout-minutes", text: "Timer in minutes (optional)" }), h("input", { id: "breakout-minutes", type: "number", min: 1, max: 720, value: setup.minutes, oninput: (/** @type {Event} */ e) => (setup.minutes = /** @type {HTMLInputElement} */ (e.target).value) })),
      valid ? null : h("p", { class: "muted small", role: "alert", text: `Open ${MIN_ROOMS} to ${MAX_ROOMS} rooms.` }),
      h("button", {
        type: "button",
        class: "btn btn-primary",
        id: "breakout-open",
        text: "Open rooms",
        disabled: !valid,
        onclick: () => {
          const assignments = [...setup.manual].filter(([, k]) => k > 0 && k <= setup.count).map(([participant_id, room]) => ({ participant_id, room }));
          rooms.openRooms(setup.count, setup.assign, assignments, setup.minutes ? Number(setup.minutes) : null);
        },
      }),
    );
  };

  /** The open rooms: who is where, and the moderator's tools (or, for others, a room to pick). */
  const openRooms = () => {
    const st = rooms.state;
    if (!st) return h("div");
    const mod = meeting.isModerator;
    const others = [...meeting.participants.values()];
    const moveSelect = (/** @type {string} */ pid, /** @type {string} */ name, /** @type {number} */ at) =>
      h(
        "select",
        { "aria-label": `Move ${name}`, onchange: (/** @type {Event} */ e) => rooms.move(pid, Number(/** @type {HTMLSelectElement} */ (e.target).value)) },
        h("option", { value: 0, selected: at === 0, text: "Main room" }),
        ...st.rooms.map((r) => h("option", { value: r.room, selected: at === r.room, text: r.name })),
      );
    const person = (/** @type {string} */ pid, /** @type {number} */ at) => {
      const name = meeting.nameOf(pid);
      return h("li", { class: "breakout-person" }, h("span", { text: pid === meeting.me ? `${name} (you)` : name }), mod ? moveSelect(pid, name, at) : null);
    };
    const inMain = others.filter((p) => rooms.roomOf(p.participant_id) === 0);
    const roomCard = (/** @type {import("../../types.js").BreakoutRoom} */ r) =>
      h(
        "section",
        { class: "breakout-room", "aria-label": r.name },
        h(
          "div",
          { class: "breakout-room-head" },
          mod
            ? h("input", { class: "breakout-name", value: r.name, "aria-label": `Name of room ${r.room}`, maxlength: 60, onchange: (/** @type {Event} */ e) => rooms.rename(r.room, /** @type {HTMLInputElement} */ (e.target).value) })
            : h("h3", { text: r.name }),
          rooms.myRoom === r.room ? h("span", { class: "pill", text: "You are here" }) : h("button", { type: "button", class: "btn btn-small", text: "Join", "aria-label": `Join ${r.name}`, onclick: () => rooms.go(r.room), hidden: !mod && st.assign !== "choose" }),
        ),
        h("ul", {}, ...r.participants.map((pid) => person(pid, r.room))),
        r.participants.length ? null : h("p", { class: "muted small", text: "Nobody yet" }),
      );
    const closing = rooms.closingIn();
    return h(
      "div",
      { class: "info-body breakout-open" },
      ...st.rooms.map(roomCard),
      mod && inMain.length ? h("section", { class: "breakout-room", "aria-label": "Main room" }, h("h3", { text: "Main room" }), h("ul", {}, ...inMain.map((p) => person(p.participant_id, 0)))) : null,
      mod
        ? h(
            "div",
            { class: "field" },
            h("label", { for: "breakout-broadcast", text: "Message to all rooms" }),
            h("textarea", { id: "breakout-broadcast", rows: 2, maxlength: 500, oninput: (/** @type {Event} */ e) => (setup.broadcast = /** @type {HTMLTextAreaElement} */ (e.target).value) }, setup.broadcast),
            h("button", { type: "button", class: "btn", id: "breakout-send", text: "Send to all rooms", onclick: () => setup.broadcast.trim() && (rooms.broadcast(setup.broadcast.trim()), (setup.broadcast = ""), ctx.render()) }),
          )
        : null,
      mod && closing === null
        ? h(
            "div",
            { class: "field" },
            h("label", { for: "breakout-countdown-choice", text: "Countdown before everyone returns" }),
            h(
              "select",
              { id: "breakout-countdown-choice", onchange: (/** @type {Event} */ e) => (setup.countdown = Number(/** @type {HTMLSelectElement} */ (e.target).value)) },
              ...[10, 30, 60, 120].map((s) => h("option", { value: s, selected: setup.countdown === s, text: `${s} seconds` })),
            ),
            h("button", { type: "button", class: "btn btn-danger", id: "breakout-close", text: "Close all rooms", onclick: () => rooms.closeAll(setup.countdown) }),
          )
        : null,
      closing !== null ? h("p", { role: "status", text: `Everyone returns to the main room in ${closing} s` }) : null,
    );
  };

  return {
    button,
    banner,
    /** @param {() => HTMLElement} closeBtn */
    panel(closeBtn) {
      return [h("div", { class: "side-head" }, h("h2", { text: "Breakout rooms" }), closeBtn()), rooms.open ? openRooms() : meeting.isModerator ? setupForm() : h("p", { class: "info-body muted", text: "No breakout rooms are open." })];
    },
    render() {
      button.hidden = !meeting.isModerator && !(rooms.open && rooms.state?.assign === "choose");
      button.setAttribute("aria-pressed", String(ctx.state.panel === "breakout"));
      renderBanner();
    },
    dispose() {
      clearInterval(tick);
    },
  };
}
