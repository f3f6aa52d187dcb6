// The participants panel: the waiting room (admit / deny), host tools (mute all, lock,
// record), everyone with role and state, and a moderator's actions for each person.

import { h, icon, avatar, confirmAction } from "../dom.js";
import { rank } from "../../roomstate.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */
/** @typedef {import("../../types.js").Participant} Participant */

const ROLE_NAMES = { host: "Host", cohost: "Co-host", participant: "", guest: "Guest" };

/** @param {RoomContext} ctx @param {() => HTMLElement} closeBtn @param {(p: Participant, size: string) => HTMLElement} avatarOf */
export function peoplePanel(ctx, closeBtn, avatarOf) {
  const { meeting } = ctx;
  const mod = meeting.isModerator;
  const items = [...meeting.participants.values()].sort((a, b) => rank(a) - rank(b) || a.display_name.localeCompare(b.display_name));
  const waiting =
    mod && meeting.waiting.length > 0
      ? h(
          "section",
          { class: "waiting-list", "aria-label": "Waiting room" },
          h("div", { class: "row spread" }, h("h3", { text: `Waiting (${meeting.waiting.length})` }), h("button", { class: "btn btn-small", text: "Admit all", onclick: () => meeting.send({ type: "admit_all" }) })),
          ...meeting.waiting.map((w) =>
            h("div", { class: "person", "data-waiting": w.display_name }, avatar(w.display_name, null, "avatar-sm"), h("span", { class: "person-name", text: w.display_name }), h("button", { class: "btn btn-small btn-primary", text: "Admit", onclick: () => meeting.send({ type: "admit", participant_id: w.participant_id }) }), h("button", { class: "btn btn-small", text: "Deny", onclick: () => meeting.send({ type: "deny", participant_id: w.participant_id }) })),
          ),
        )
      : null;
  const locked = meeting.info?.locked ?? false;
  const recording = meeting.info?.recording ?? false;
  return [
    h("div", { class: "side-head" }, h("h2", { text: `Participants (${meeting.participants.size})` }), closeBtn()),
    waiting,
    mod ? h("div", { class: "row host-tools" }, h("button", { class: "btn btn-small", text: "Mute all", onclick: () => meeting.send({ type: "mute_all" }) }), h("button", { class: "btn btn-small", text: locked ? "Unlock meeting" : "Lock meeting", onclick: () => meeting.send({ type: "lock", locked: !locked }) }), h("button", { class: "btn btn-small", text: recording ? "Stop recording" : "Record", disabled: !!meeting.e2ee && !recording, title: meeting.e2ee ? "End-to-end encrypted: the server cannot record this meeting. Record on your device instead." : undefined, onclick: () => meeting.send({ type: "record", recording: !recording }) })) : null,
    h("ul", { class: "people" }, ...items.map((p) => h("li", {}, person(ctx, p, mod, avatarOf)))),
  ];
}

/** @param {RoomContext} ctx @param {Participant} p @param {boolean} mod @param {(p: Participant, size: string) => HTMLElement} avatarOf */
function person(ctx, p, mod, avatarOf) {
  const me = p.participant_id === ctx.meeting.me;
  const role = ROLE_NAMES[p.role];
  const menu = mod && !me && p.role !== "host" ? personMenu(ctx, p) : null;
  return h(
    "div",
    { class: "person", "data-pid": p.participant_id },
    avatarOf(p, "avatar-sm"),
    h("span", { class: "person-name" }, `${p.display_name}${me ? " (you)" : ""}`, role ? h("small", { class: "muted", text: ` · ${role}` }) : null),
    h("span", { class: "person-state" }, p.recording_locally ? h("span", { class: "person-rec", role: "img", "aria-label": "Recording on their device", title: "Recording on their device" }, icon("record")) : null, p.hand_raised ? h("span", { class: "person-hand", role: "img", "aria-label": "Hand raised" }, icon("hand")) : null, p.reconnecting ? h("span", { class: "pill", text: "Reconnecting" }) : null, icon(p.muted ? "micOff" : "mic"), icon(p.camera_on ? "video" : "videoOff")),
    menu,
  );
}

/** A moderator's actions for one person. @param {RoomContext} ctx @param {Participant} p */
function personMenu(ctx, p) {
  const { meeting, state } = ctx;
  const pid = p.participant_id;
  /** @type {[string, () => void][]} */
  const actions = [p.muted ? ["Ask to unmute", () => meeting.send({ type: "ask_unmute", participant_id: pid })] : ["Mute", () => meeting.send({ type: "mute", participant_id: pid })]];
  if (p.camera_on) actions.push(["Stop video", () => meeting.send({ type: "stop_video", participant_id: pid })]);
  if (p.hand_raised) actions.push(["Lower hand", () => meeting.send({ type: "lower_hand", participant_id: pid })]);
  if (p.user_id && p.role === "participant") {
    actions.push(p.local_recording_allowed ? ["Stop allowing to record", () => meeting.send({ type: "allow_local_recording", participant_id: pid, allowed: false })] : ["Allow to record", () => meeting.send({ type: "allow_local_recording", participant_id: pid, allowed: true })]);
  }
  if (p.role !== "guest") {
    actions.push(p.role === "cohost" ? ["Remove co-host", () => meeting.send({ type: "set_role", participant_id: pid, role: "participant" })] : ["Make co-host", () => meeting.send({ type: "set_role", participant_id: pid, role: "cohost" })]);
    if (meeting.isHost) actions.push(["Make host", async () => (await confirmAction(`Make ${p.display_name} the host?`, "Make host", "You become a co-host.")) && meeting.send({ type: "transfer_host", participant_id: pid })]);
  }
  actions.push(["Remove", async () => (await confirmAction(`Remove ${p.display_name}?`, "Remove", "They cannot rejoin this meeting.")) && meeting.send({ type: "remove", participant_id: pid })]);
  const list = h("div", { class: "menu", role: "menu", hidden: state.openMenu !== pid }, ...actions.map(([label, act]) => h("button", { type: "button", role: "menuitem", text: label, onclick: () => ((state.openMenu = null), (list.hidden = true), act()) })));
  const open = h("button", { class: "btn btn-icon btn-ghost", type: "button", "aria-label": `Actions for ${p.display_name}`, "aria-haspopup": "menu", "aria-expanded": String(state.openMenu === pid), onclick: () => ((state.openMenu = state.openMenu === pid ? null : pid), ctx.render()) }, icon("more"));
  return h("div", { class: "menu-wrap" }, open, list);
}
