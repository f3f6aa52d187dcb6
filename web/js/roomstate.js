// What the room screen shows beside the meeting itself: the open side panel, unread chat,
// the private-chat recipient, gallery or speaker view, the gallery page, who speaker view
// shows large, whose action menu is open, and the countdown to the time limit. No DOM: the
// modules under ui/room/ read this and change it through its methods, then render.

/** @typedef {import("./types.js").Participant} Participant */
/** @typedef {"chat" | "people" | "info" | "polls" | "breakout"} Panel */

export class RoomState {
  constructor() {
    /** @type {Panel | null} */
    this.panel = null;
    this.unread = 0;
    /** @type {string | null} who the next chat message goes to privately (null: everyone) */
    this.chatTo = null;
    /** @type {"gallery" | "speaker"} */
    this.view = "gallery";
    /** The gallery page shown (0-based). */
    this.galleryPage = 0;
    /** @type {string | null} who speaker view shows large */
    this.focusPid = null;
    /** @type {string | null} whose action menu is open in the participants panel */
    this.openMenu = null;
    /** The room is over (left, removed, ended): nothing renders any more. */
    this.ended = false;
    /** Seconds until the duration limit, counted down locally between server updates. */
    this.timeLeft = 0;
  }

  /** Opens a side panel, or closes it when it is the one open. Opening chat reads it. @param {Panel} which */
  togglePanel(which) {
    this.panel = this.panel === which ? null : which;
    if (this.panel === "chat") this.unread = 0;
  }

  closePanel() {
    this.panel = null;
  }

  toggleView() {
    this.view = this.view === "gallery" ? "speaker" : "gallery";
  }

  /** @param {number} by */
  turnPage(by) {
    this.galleryPage += by;
  }

  /** A chat message arrived; it counts as unread unless the chat is open or it is mine. @param {boolean} mine */
  chatArrived(mine) {
    if (this.panel === "chat" || mine) return false;
    this.unread++;
    return true;
  }

  /**
   * Who speaker view shows large: the last other person who spoke, else someone else, else me.
   * @param {Participant[]} people @param {string} me @param {string | null} activeSpeaker
   */
  focusOf(people, me, activeSpeaker) {
    const present = new Set(people.map((p) => p.participant_id));
    if (activeSpeaker && activeSpeaker !== me && present.has(activeSpeaker)) this.focusPid = activeSpeaker;
    if (!this.focusPid || !present.has(this.focusPid) || (this.focusPid === me && people.length > 1)) {
      this.focusPid = people.find((p) => p.participant_id !== me)?.participant_id ?? me;
    }
    return people.find((p) => p.participant_id === this.focusPid) ?? people[0];
  }

  /** One second passed. */
  tick() {
    this.timeLeft = Math.max(0, this.timeLeft - 1);
  }
}

/** Host first, then co-hosts, then everyone else. @param {Participant} p */
export function rank(p) {
  return { host: 0, cohost: 1, participant: 2, guest: 3 }[p.role];
}

/** "1:05:09", "59:44", "00:30" @param {number} seconds */
export function formatCountdown(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60) ? `${Math.floor(m / 60)}:` : ""}${String(m % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}
