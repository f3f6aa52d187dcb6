// Breakout rooms as the client knows them (docs/protocol.md §2d): the rooms and who is in
// each, the room I am in, the countdown, and the moderators' actions. No DOM: the room
// screen renders from this (ui/room/breakout.js). Moving my media is the media session's
// part (`breakout_moved` in peer.js).

/** @typedef {import("./types.js").Breakouts} Breakouts */
/** @typedef {import("./types.js").ServerMessage} ServerMessage */

/**
 * Events: `change` (the rooms, my room or the countdown), `broadcast` ({from_name, text}),
 * `help` ({participant_id, display_name, room, room_name}), `moved` ({room, name}).
 */
export class BreakoutRooms extends EventTarget {
  /** @param {import("./signaling.js").Signaling} signaling @param {() => string} me my participant id */
  constructor(signaling, me) {
    super();
    this.signaling = signaling;
    this.me = me;
    /** @type {Breakouts | null} */
    this.state = null;
    /** The room I am in (0: the main room). */
    this.myRoom = 0;
    this.myRoomName = "Main room";
    /** When the rooms close (epoch ms), once "close all" or the timer said so. @type {number | null} */
    this.closingAt = null;
    /** When the timer closes the rooms (epoch ms). @type {number | null} */
    this.endsAt = null;
    signaling.addEventListener("message", (e) => this.handle(/** @type {CustomEvent<ServerMessage>} */ (e).detail));
  }

  get open() {
    return !!this.state?.open;
  }

  /** The room `pid` is in (0: the main room). @param {string} pid */
  roomOf(pid) {
    return this.state?.open ? (this.state.rooms.find((r) => r.participants.includes(pid))?.room ?? 0) : 0;
  }

  /** Seconds until everyone returns, while a countdown runs. */
  closingIn() {
    return this.closingAt === null ? null : Math.max(0, Math.ceil((this.closingAt - Date.now()) / 1000));
  }

  /** @param {ServerMessage} msg */
  handle(msg) {
    switch (msg.type) {
      case "breakout_state": {
        this.state = msg.breakouts;
        const now = Date.now();
        this.closingAt = msg.breakouts.closing_in === null ? null : now + msg.breakouts.closing_in * 1000;
        this.endsAt = msg.breakouts.seconds_left === null ? null : now + msg.breakouts.seconds_left * 1000;
        // Also after a reload that resumed my seat in a room (no `breakout_moved` then).
        this.myRoom = this.roomOf(this.me());
        this.myRoomName = msg.breakouts.rooms.find((r) => r.room === this.myRoom)?.name ?? "Main room";
        break;
      }
      case "breakout_moved":
        this.myRoom = msg.room;
        this.myRoomName = msg.name;
        this.dispatchEvent(new CustomEvent("moved", { detail: { room: msg.room, name: msg.name } }));
        break;
      case "breakout_broadcast":
        this.dispatchEvent(new CustomEvent("broadcast", { detail: msg }));
        break;
      case "breakout_help":
        this.dispatchEvent(new CustomEvent("help", { detail: msg }));
        break;
      default:
        return;
    }
    this.dispatchEvent(new Event("change"));
  }

  /** @param {number} rooms @param {"auto" | "manual" | "choose"} assign @param {{participant_id: string, room: number}[]} assignments @param {number | null} minutes */
  openRooms(rooms, assign, assignments, minutes) {
    this.signaling.send({ type: "breakout_open", rooms, assign, ...(assign === "manual" ? { assignments } : {}), ...(minutes ? { minutes } : {}) });
  }

  /** @param {number} room */
  go(room) {
    this.signaling.send({ type: "breakout_choose", room });
  }

  /** @param {string} pid @param {number} room */
  move(pid, room) {
    this.signaling.send({ type: "breakout_move", participant_id: pid, room });
  }

  /** @param {number} room @param {string} name */
  rename(room, name) {
    this.signaling.send({ type: "breakout_rename", room, name });
  }

  /** @param {string} text */
  broadcast(text) {
    this.signaling.send({ type: "breakout_broadcast", text });
  }

  askForHelp() {
    this.signaling.send({ type: "breakout_help" });
  }

  /** @param {number} [countdown] seconds */
  closeAll(countdown) {
    this.signaling.send({ type: "breakout_close", ...(countdown !== undefined ? { countdown_seconds: countdown } : {}) });
  }
}
