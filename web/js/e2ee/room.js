// End-to-end encryption of one meeting on this page (docs/e2ee.md "Browser API"): the glue
// between the signaling (welcome, participant_joined / _left / _updated, e2ee_key), the
// E2eeSession (keys, blobs, security code) and E2eeMedia (the transform worker the media
// session attaches to every sender and receiver). No DOM: the room renders `code` and
// `participants` on `change`.

import { E2eeMedia } from "./media.js";
import { E2eeSession } from "./session.js";

/** @typedef {import("./identity.js").Identity} Identity */
/** @typedef {import("../types.js").Participant} Participant */
/** @typedef {import("../types.js").ServerMessage} ServerMessage */
/** @typedef {import("../signaling.js").Signaling} Signaling */

/** @param {Participant} p */
const announced = (p) => ({ participantId: p.participant_id, identityKey: p.e2ee_identity ?? "" });

/**
 * Events: `change` (the security code or its participant count changed), `error` (detail:
 * a message for the user).
 */
export class MeetingE2ee extends EventTarget {
  /** @param {Signaling} signaling @param {number} meetingId @param {Identity} identity */
  constructor(signaling, meetingId, identity) {
    super();
    this.signaling = signaling;
    this.meetingId = String(meetingId);
    this.identity = identity;
    this.media = new E2eeMedia();
    /** @type {E2eeSession | null} made at the first welcome, when my participant id is known */
    this.session = null;
    /** The security code everyone in the meeting should see ("" until the first key). */
    this.code = "";
    /** How many participants (me included) the code covers. */
    this.participants = 0;
    this.media.addEventListener("error", (e) => this.emit("error", String(/** @type {CustomEvent} */ (e).detail)));
    this.onMessage = /** @param {Event} e */ (e) => this.handle(/** @type {CustomEvent<ServerMessage>} */ (e).detail);
    signaling.addEventListener("message", this.onMessage);
  }

  /** @param {string} type @param {unknown} [detail] */
  emit(type, detail) {
    this.dispatchEvent(detail === undefined ? new Event(type) : new CustomEvent(type, { detail }));
  }

  /** @param {string} selfId */
  open(selfId) {
    const session = new E2eeSession({ meetingId: this.meetingId, selfId, identity: this.identity, keys: this.media });
    session.addEventListener("send", (e) => {
      const { to, blob } = /** @type {CustomEvent<{to: string, blob: string}>} */ (e).detail;
      this.signaling.send({ type: "e2ee_key", to, blob });
    });
    session.addEventListener("security-code", (e) => {
      const { code, participants } = /** @type {CustomEvent<{code: string, participants: number}>} */ (e).detail;
      this.code = code;
      this.participants = participants;
      this.emit("change");
    });
    session.addEventListener("error", (e) => console.warn("end-to-end encryption:", /** @type {CustomEvent} */ (e).detail));
    this.session = session;
    return session;
  }

  /** @param {ServerMessage} msg */
  handle(msg) {
    switch (msg.type) {
      case "welcome": {
        const present = msg.participants.filter((p) => p.e2ee_identity);
        if (!this.session) {
          this.open(msg.participant_id).start(present.map(announced));
          break;
        }
        // A resumed connection: whoever came or went while I was away.
        const session = this.session;
        const ids = new Set(present.map((p) => p.participant_id));
        for (const id of session.members.keys()) if (!ids.has(id)) session.leave(id);
        for (const p of present) session.join(announced(p));
        break;
      }
      case "participant_joined":
        if (msg.participant.e2ee_identity) this.session?.join(announced(msg.participant));
        break;
      case "participant_updated": {
        // A reloaded page brings a new identity key: a leave and a join (the session ignores the same key).
        const p = msg.participant;
        if (p.e2ee_identity && this.session?.members.has(p.participant_id)) this.session.join(announced(p));
        break;
      }
      case "participant_left":
        this.session?.leave(msg.participant_id);
        break;
      case "e2ee_key":
        this.session?.receive(msg.from, msg.blob);
        break;
    }
  }

  /** Counters of the session (keys) and the worker (frames), for diagnostics and tests. */
  async stats() {
    return { session: { ...(this.session?.counters ?? {}) }, frames: await this.media.stats() };
  }

  close() {
    this.signaling.removeEventListener("message", this.onMessage);
    this.session?.close();
    this.media.close();
  }
}
