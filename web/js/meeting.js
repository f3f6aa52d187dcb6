// One meeting as the client knows it: participants, chat, waiting room, my seat, built from
// the signaling messages, with the actions a participant or moderator can take. No DOM: the
// room screen renders from this state and listens to its events.

import { Signaling } from "./signaling.js";
import { MediaSession } from "./peer.js";
import { MeetingE2ee } from "./e2ee/room.js";
import { PeerLink } from "./p2p.js";
import { BreakoutRooms } from "./breakout.js";

/** @typedef {import("./types.js").Participant} Participant */
/** @typedef {import("./types.js").ChatMessage} ChatMessage */
/** @typedef {import("./types.js").WaitingPerson} WaitingPerson */
/** @typedef {import("./types.js").MeetingInfo} MeetingInfo */
/** @typedef {import("./types.js").ServerMessage} ServerMessage */
/** @typedef {import("./types.js").ClientMessage} ClientMessage */
/** @typedef {import("./signaling.js").Closed} Closed */

const SEAT_KEY = "convene.seat";

/**
 * Where this tab sits, kept in sessionStorage so a reload resumes the seat.
 * @typedef {object} Seat
 * @property {number} meeting_id
 * @property {string} ws_url
 * @property {string} resume_token
 * @property {number} grace_seconds
 * @property {number} saved_at epoch ms
 * @property {import("./types.js").IceServer[]} [ice_servers]
 * @property {boolean} [e2ee] the meeting is end-to-end encrypted: a reloaded page makes a new identity
 */

/** @returns {Seat | null} */
export function savedSeat() {
  try {
    const seat = JSON.parse(sessionStorage.getItem(SEAT_KEY) ?? "null");
    if (seat && Date.now() - seat.saved_at < seat.grace_seconds * 1000) return seat;
  } catch {
    // unreadable: ignore
  }
  return null;
}

export function forgetSeat() {
  sessionStorage.removeItem(SEAT_KEY);
}

/**
 * Events (all plain `Event`s or `CustomEvent`s with a detail):
 * `waiting`, `welcome`, `change` (anything in the state), `chat` (ChatMessage),
 * `reaction` ({participant_id, emoji}), `notice` ({text, kind}), `reconnecting`,
 * `reconnected`, `ended` ({why, code, error, reason}), `media-unavailable`, `media-trouble`
 * (MediaTrouble while audio and video keep failing to connect, null when they are back),
 * `poll` ({poll, fresh}: a poll arrived or changed).
 *
 * Media trouble is also said with the hooks the room already renders: a `warning` notice (a
 * banner that stays) while it lasts, and `reconnected` (which takes the banner down) when
 * media connects again.
 */
export class Meeting extends EventTarget {
  /**
   * @param {string} wsUrl @param {number} meetingId @param {import("./types.js").IceServer[]} [iceServers]
   * @param {import("./e2ee/identity.js").Identity | null} [e2eeIdentity] an end-to-end encrypted meeting: my identity
   */
  constructor(wsUrl, meetingId, iceServers = [], e2eeIdentity = null) {
    super();
    this.meetingId = meetingId;
    this.wsUrl = wsUrl;
    this.iceServers = iceServers;
    this.signaling = new Signaling(wsUrl);
    this.media = new MediaSession(this.signaling, iceServers);
    /** End-to-end encryption (docs/e2ee.md), null in other meetings. @type {MeetingE2ee | null} */
    this.e2ee = null;
    if (e2eeIdentity) {
      this.e2ee = new MeetingE2ee(this.signaling, meetingId, e2eeIdentity);
      this.media.e2ee = this.e2ee.media;
      this.signaling.resumeExtra = `&e2ee_identity=${encodeURIComponent(e2eeIdentity.publicKeyText)}`;
      this.e2ee.addEventListener("change", () => this.emit("change"));
      this.e2ee.addEventListener("error", (e) => this.notice(`End-to-end encryption: ${/** @type {CustomEvent} */ (e).detail}`, "error"));
    }
    /** The direct connection while two talk peer-to-peer (the media session stays warm). */
    this.p2p = new PeerLink(this.signaling, this.media, this.media.rtcConfig);
    /** Breakout rooms (docs/protocol.md §2d). */
    this.breakout = new BreakoutRooms(this.signaling, () => this.me);
    this.breakout.addEventListener("change", () => this.emit("change"));
    /** @type {Map<string, Participant>} */
    this.participants = new Map();
    /** @type {ChatMessage[]} */
    this.chat = [];
    /** @type {WaitingPerson[]} */
    this.waiting = [];
    /** The meeting's polls I may see, oldest first. @type {Map<string, import("./types.js").Poll>} */
    this.polls = new Map();
    /** @type {MeetingInfo | null} */
    this.info = null;
    this.me = "";
    this.title = "";
    /** @type {"connecting" | "waiting" | "in" | "ended"} */
    this.phase = "connecting";
    this.reconnecting = false;
    /** @type {string | null} */
    this.activeSpeaker = null;
    /** @type {string | null} why the meeting ended, when the server said */
    this.endReason = null;
    this.graceSeconds = 30;
    this.signaling.addEventListener("message", (e) => this.handle(/** @type {CustomEvent} */ (e).detail));
    this.signaling.addEventListener("reconnecting", () => {
      this.reconnecting = true;
      this.emit("reconnecting");
    });
    this.signaling.addEventListener("reconnected", () => {
      this.reconnecting = false;
      this.emit("reconnected");
    });
    this.signaling.addEventListener("closed", (e) => this.closed(/** @type {CustomEvent<Closed>} */ (e).detail));
    this.media.addEventListener("unavailable", () => this.emit("media-unavailable"));
    /** @type {import("./peer.js").MediaTrouble | null} */
    this.mediaTrouble = null;
    this.media.addEventListener("trouble", (e) => {
      const trouble = /** @type {CustomEvent<import("./peer.js").MediaTrouble | null>} */ (e).detail;
      const had = this.mediaTrouble;
      this.mediaTrouble = trouble;
      this.emit("media-trouble", trouble);
      if (trouble) this.notice(trouble.message, "warning");
      else if (had && !this.reconnecting) this.emit("reconnected");
    });
    this.media.addEventListener("failed", (e) => {
      const err = /** @type {CustomEvent} */ (e).detail;
      this.notice(`Audio and video: ${err instanceof Error ? err.message : String(err)}`, "error");
    });
    /** Whether I was told that the recording leaves my video out (once per recording). */
    this.toldUnrecorded = false;
    this.media.addEventListener("video-codec", () => this.checkRecordable());
  }

  /**
   * The server recorder writes VP8 video only (docs/operations.md "Browsers"); a browser that
   * sends another codec (an H.264-only Safari) is told that its video is left out while the
   * meeting is recorded, rather than find out from the recording.
   */
  checkRecordable() {
    if (!this.info?.recording) {
      this.toldUnrecorded = false;
      return;
    }
    const codec = this.media.videoCodec;
    if (!codec || codec === "VP8" || this.toldUnrecorded) return;
    this.toldUnrecorded = true;
    this.notice(
      `This meeting is being recorded, but the recorder takes VP8 video and your browser sends ${codec === "H264" ? "H.264" : codec}: your video is left out of the recording (your sound is in it).`,
      "error",
    );
  }

  /** @param {string} ticket */
  join(ticket) {
    this.signaling.connect(ticket);
  }

  /** @param {Seat} seat */
  resume(seat) {
    this.signaling.resume(seat.resume_token, seat.grace_seconds);
  }

  /** @param {string} type @param {unknown} [detail] */
  emit(type, detail) {
    this.dispatchEvent(detail === undefined ? new Event(type) : new CustomEvent(type, { detail }));
  }

  get self() {
    return this.participants.get(this.me) ?? null;
  }

  get isModerator() {
    const role = this.self?.role;
    return role === "host" || role === "cohost";
  }

  /** Whether I may record the meeting on this device (moderators; others when allowed). */
  get mayRecordLocally() {
    const me = this.self;
    return !!me?.user_id && (me.role === "host" || me.role === "cohost" || !!me.local_recording_allowed);
  }

  get isHost() {
    return this.self?.role === "host";
  }

  /** Who is in the same room as I am (everyone while there are no breakout rooms). */
  inMyRoom() {
    const mine = this.breakout.roomOf(this.me);
    return [...this.participants.values()].filter((p) => this.breakout.roomOf(p.participant_id) === mine);
  }

  /** @param {string} id */
  nameOf(id) {
    return this.participants.get(id)?.display_name ?? "Someone";
  }

  saveSeat() {
    /** @type {Seat} */
    const seat = {
      meeting_id: this.meetingId,
      ws_url: this.wsUrl,
      resume_token: this.signaling.resumeToken,
      grace_seconds: this.graceSeconds,
      saved_at: Date.now(),
      ice_servers: this.iceServers,
      e2ee: !!this.e2ee,
    };
    sessionStorage.setItem(SEAT_KEY, JSON.stringify(seat));
  }

  /** @param {ServerMessage} msg */
  handle(msg) {
    switch (msg.type) {
      case "waiting":
        this.phase = "waiting";
        this.me = msg.participant_id;
        this.title = msg.meeting_title;
        this.saveSeat();
        this.emit("waiting");
        break;
      case "welcome":
        this.phase = "in";
        this.me = msg.participant_id;
        this.info = msg.meeting;
        this.title = msg.meeting.title;
        this.graceSeconds = msg.reconnect_grace_seconds;
        this.participants = new Map(msg.participants.map((p) => [p.participant_id, p]));
        this.chat = msg.chat;
        this.polls = new Map((msg.polls ?? []).map((p) => [p.poll_id, p]));
        this.reconnecting = false;
        this.saveSeat();
        this.emit("welcome", { resumed: msg.resumed });
        this.checkRecordable();
        break;
      case "participant_joined":
        this.participants.set(msg.participant.participant_id, msg.participant);
        this.notice(`${msg.participant.display_name} joined`);
        break;
      case "participant_updated": {
        const before = this.participants.get(msg.participant.participant_id);
        this.participants.set(msg.participant.participant_id, msg.participant);
        if (msg.participant.hand_raised && !before?.hand_raised && msg.participant.participant_id !== this.me) {
          this.notice(`${msg.participant.display_name} raised their hand`);
        }
        break;
      }
      case "participant_left": {
        const who = this.nameOf(msg.participant_id);
        this.participants.delete(msg.participant_id);
        if (msg.reason === "removed") this.notice(`${who} was removed`);
        else if (msg.reason !== "meeting_ended") this.notice(`${who} left`);
        break;
      }
      case "chat_message":
        this.chat.push(msg.message);
        this.emit("chat", msg.message);
        break;
      case "reaction":
        this.emit("reaction", { participant_id: msg.participant_id, emoji: msg.emoji });
        return;
      case "waiting_room": {
        const before = new Set(this.waiting.map((w) => w.participant_id));
        this.waiting = msg.waiting;
        for (const w of msg.waiting) {
          if (!before.has(w.participant_id)) this.notice(`${w.display_name} is in the waiting room`, "waiting");
        }
        break;
      }
      case "host_action":
        this.hostAction(msg.action, msg.by, msg.target);
        break;
      case "meeting_updated":
        if (this.info) {
          this.info.locked = msg.locked;
          this.info.recording = msg.recording;
        }
        this.checkRecordable();
        break;
      case "captions_updated":
        if (this.info) this.info.captions = msg.on;
        if (msg.by && msg.by !== this.me) this.notice(`${this.nameOf(msg.by)} turned captions ${msg.on ? "on" : "off"}`);
        break;
      case "caption":
        this.emit("caption", msg);
        return;
      case "active_speaker":
        this.activeSpeaker = msg.participant_id;
        break;
      case "warning":
        this.notice(msg.message, msg.code === "ending_soon" ? "warning" : "info");
        break;
      case "meeting_ended":
        this.endReason = msg.reason;
        break;
      case "poll_updated": {
        const fresh = !this.polls.has(msg.poll.poll_id);
        this.polls.set(msg.poll.poll_id, msg.poll);
        this.emit("poll", { poll: msg.poll, fresh });
        break;
      }
      case "error":
        if (msg.code !== "media_unavailable") this.notice(msg.message, "error");
        break;
      default:
        return; // unknown types are ignored (protocol §2)
    }
    this.emit("change");
  }

  /**
   * @param {import("./types.js").HostAction} action
   * @param {string} by
   * @param {string | null} target
   */
  hostAction(action, by, target) {
    const actor = this.nameOf(by);
    const mine = target === this.me;
    const subject = target ? (mine ? "you" : this.nameOf(target)) : "";
    /** @type {Partial<Record<import("./types.js").HostAction, string>>} */
    const texts = {
      muted: `${actor} muted ${subject}`,
      muted_all: `${actor} muted everyone`,
      asked_to_unmute: mine ? `${actor} asks you to unmute` : "",
      video_stopped: `${actor} stopped ${mine ? "your" : `${subject}'s`} video`,
      hand_lowered: mine ? `${actor} lowered your hand` : "",
      promoted: `${actor} made ${subject} a co-host`,
      demoted: `${subject} is no longer a co-host`,
      made_host: `${subject} ${mine ? "are" : "is"} now the host`,
      locked: `${actor} locked the meeting`,
      unlocked: `${actor} unlocked the meeting`,
      local_recording_allowed: mine ? `${actor} allowed you to record this meeting on your device` : "",
      local_recording_disallowed: mine ? `${actor} no longer allows you to record this meeting` : "",
    };
    const text = texts[action];
    if (text) this.notice(text.charAt(0).toUpperCase() + text.slice(1), action === "asked_to_unmute" ? "ask-unmute" : "info");
  }

  /** @param {string} text @param {string} [kind] */
  notice(text, kind = "info") {
    this.emit("notice", { text, kind });
  }

  /** @param {Closed} closed */
  closed(closed) {
    this.phase = "ended";
    this.p2p.close();
    this.media.close();
    this.e2ee?.close();
    if (closed.why !== "replaced") forgetSeat();
    this.emit("ended", { ...closed, reason: this.endReason });
  }

  /** @param {ClientMessage} msg */
  send(msg) {
    return this.signaling.send(msg);
  }

  /** @param {{muted?: boolean, camera_on?: boolean, hand_raised?: boolean, recording_locally?: boolean}} state */
  setState(state) {
    this.send({ type: "set_state", ...state });
  }

  /** @param {string} text @param {string | null} to */
  sendChat(text, to) {
    this.send(to ? { type: "chat_send", text, to } : { type: "chat_send", text });
  }

  leave() {
    forgetSeat();
    this.signaling.leave();
  }
}
