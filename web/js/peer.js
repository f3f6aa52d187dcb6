// WebRTC through the SFU (docs/protocol.md §2a): one publishing peer connection that sends my
// microphone, camera (three simulcast layers) and screen share, one subscribing connection
// that receives everyone else. No DOM here: remote tracks are handed out as events, each
// named by its track_id, owner and source (from `subscribe_offer.tracks` and
// `track_published`).
//
// With slot subscriptions (asked for at join, docs/protocol.md §2e) the subscribing
// connection has a fixed set of m-lines negotiated once, and `slot_map` says which track each
// carries now: a slot that switches source hands its same MediaStreamTrack out again under the
// new track_id (and takes it back from the old one), so the UI re-homes it into the right tile.
//
// A server without a media engine answers media messages with `media_unavailable`; the
// session then closes its connections, reports `unavailable`, and the meeting goes on without
// media.
//
// Restarts after failures and what the user is told follow recovery.js; SDP reading is in
// sdp.js; opening my own devices in localmedia.js (re-exported here for the UI); the tile
// sizes the SFU picks layers by in videosizes.js.

import { peerConnectionOptions } from "./e2ee/media.js";
import { FAILURES_BEFORE_TROUBLE, LIMITED_WAIT_MS, restartDelay, unreachableMessage, watchConnection } from "./recovery.js";
import { answeredVideoCodec, fingerprint, mediaAddress, preferVp8 } from "./sdp.js";
import { VideoSizes } from "./videosizes.js";

export { levelMeter, listDevices, openDevices } from "./localmedia.js";
export { restartDelay } from "./recovery.js";
export { answeredVideoCodec, mediaAddress } from "./sdp.js";

/** @typedef {import("./recovery.js").MediaTrouble} MediaTrouble */
/** @typedef {import("./types.js").PublishedTrack} PublishedTrack */
/** @typedef {import("./types.js").TrackSource} TrackSource */
/** @typedef {import("./types.js").Track} Track */
/** @typedef {import("./types.js").OfferedTrack} OfferedTrack */
/** @typedef {import("./signaling.js").Signaling} Signaling */

const MEDIA_REQUESTS = new Set(["publish_offer", "subscribe_answer", "set_video_size"]);

/** Camera simulcast: quarter, half and full resolution, lowest first (rids the SFU orders as q < h < f). */
const CAMERA_LAYERS = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/** How long a publish offer waits for the server's answer before it counts as failed. */
const ANSWER_TIMEOUT_MS = 10_000;
/**
 * A remote track as the UI gets it.
 * @typedef {object} RemoteTrack
 * @property {string} track_id
 * @property {string} participant_id
 * @property {"audio" | "video"} kind
 * @property {TrackSource} source
 * @property {MediaStreamTrack} track
 * @property {"p2p"} [via] from the direct connection to the other of two (p2p.js), not the SFU
 */

/**
 * Events: `remote-track` (detail: RemoteTrack), `remote-track-removed` (detail: RemoteTrack),
 * `screen-ended` (my screen share stopped, e.g. from the browser's own "Stop sharing"),
 * `unavailable` (the server has no media engine), `failed` (detail: Error), `trouble`
 * (detail: MediaTrouble while media keeps failing, null once it connects again),
 * `video-codec` (`videoCodec` changed), `local-changed` (what I send changed: a device switch,
 * a screen share).
 *
 * While two participants talk directly (p2p.js), the session is `paused`: its connections
 * stay up, but its senders send nothing, so the SFU has nothing to forward.
 */
export class MediaSession extends EventTarget {
  /** @param {Signaling} signaling @param {import("./types.js").IceServer[]} [iceServers] from the join answer (TURN) */
  constructor(signaling, iceServers = []) {
    super();
    this.signaling = signaling;
    /** @type {RTCConfiguration} */
    this.rtcConfig = { bundlePolicy: "max-bundle", iceServers: iceServers.map(({ urls, username, credential }) => ({ urls, username, credential })) };
    /** null: not known yet; false after `media_unavailable` */
    /** @type {boolean | null} */
    this.available = null;
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    /** What I publish, by source. @type {Map<TrackSource, {track: MediaStreamTrack, transceiver: RTCRtpTransceiver | null}>} */
    this.local = new Map();
    /** Published tracks of everyone, by track_id (from `welcome` and `track_published`). @type {Map<string, Track>} */
    this.published = new Map();
    /**
     * The subscriber's m-lines: mid → track_id, from the last applied `subscribe_offer` or,
     * with slots, the last `slot_map` (idle slots left out). @type {Map<string, string>}
     */
    this.lines = new Map();
    /** The server sends `slot_map`s: the m-lines of an offer say nothing, slot maps do. */
    this.slotted = false;
    /** Remote tracks handed to the UI, by track_id. @type {Map<string, RemoteTrack>} */
    this.remote = new Map();
    /** Serializes subscriber negotiations (a new offer waits for the one in flight). */
    this.subscribeChain = Promise.resolve();
    /** Serializes publisher negotiations; each waits for its `publish_answer`. */
    this.publishChain = Promise.resolve();
    /** @type {((sdp: string) => void) | null} */
    this.awaitingAnswer = null;
    this.sizes = new VideoSizes(
      (track_id, width, height) => this.signaling.send({ type: "set_video_size", track_id, width, height }),
      (trackId) => this.published.has(trackId),
      (track) => this.sizeHint?.(track) ?? null,
    );
    /**
     * The size the UI expects to show a video track at, asked when the track is announced so
     * `set_video_size` reaches the SFU before the subscription does and the first keyframe is
     * of the layer the tile needs (the UI reports the measured size once it is laid out).
     * @type {((track: Track) => {width: number, height: number} | null) | null}
     */
    this.sizeHint = null;
    this.restarting = false;
    /** Connection failures in a row (reset when a connection comes up). */
    this.failures = 0;
    /** @type {ReturnType<typeof setTimeout> | null} the scheduled restart */
    this.retryTimer = null;
    /** @type {MediaTrouble | null} */
    this.trouble = null;
    /** The server's media address from its last SDP ("host:port"), for the trouble message. */
    this.serverAddress = "";
    /** The codec my video is sent in, from the last publish answer ("VP8", "H264"; "" while none). */
    this.videoCodec = "";
    /** A publish offer got no answer (see renegotiate): start over when the signaling is back. */
    this.unanswered = false;
    this.closed = false;
    /**
     * End-to-end encrypted meetings: the transforms every sender and receiver is attached to
     * (docs/e2ee.md), set before the first connection is made. @type {import("./e2ee/media.js").E2eeMedia | null}
     */
    this.e2ee = null;
    /** Which participant's keys each receiver decrypts with, as last told to the worker. @type {WeakMap<RTCRtpReceiver, string | null>} */
    this.receiverOwners = new WeakMap();
    /** Send nothing to the SFU (peer-to-peer carries my media). */
    this.paused = false;
    this.onMessage = /** @param {Event} e */ (e) => this.handle(/** @type {CustomEvent} */ (e).detail);
    signaling.addEventListener("message", this.onMessage);
  }

  /**
   * Starts publishing my microphone and camera (either may be missing). After a page reload
   * that resumed the seat, `restart` makes the server drop the connections of the old page.
   * A WebSocket resume within the page keeps the running connections (no-op).
   * @param {MediaStream | null} stream @param {boolean} [restart]
   */
  async publish(stream, restart = false) {
    // A restart in progress (e.g. the resumed welcome lacked my tracks) already publishes.
    if (this.available === false || this.publisher || this.restarting) return;
    for (const track of stream?.getTracks() ?? []) {
      const source = track.kind === "video" ? "camera" : "microphone";
      if (!this.local.has(source)) this.local.set(source, { track, transceiver: null });
    }
    this.dispatchEvent(new Event("local-changed"));
    await this.renegotiate(restart);
  }

  /** Creates the publishing connection (again, after a restart) with every local track. */
  newPublisher() {
    const pc = this.newConnection();
    this.publisher = pc;
    this.watch(pc);
    for (const [source, entry] of this.local) entry.transceiver = this.addLocal(pc, source, entry.track);
    return pc;
  }

  /** An RTCPeerConnection as this meeting needs it (E2EE: with the transforms' option). */
  newConnection() {
    return new RTCPeerConnection(this.e2ee ? { ...this.rtcConfig, ...peerConnectionOptions(this.e2ee.mode) } : this.rtcConfig);
  }

  /** @param {RTCPeerConnection} pc @param {TrackSource} source @param {MediaStreamTrack} track */
  addLocal(pc, source, track) {
    const camera = source === "camera";
    const transceiver = pc.addTransceiver(track, {
      direction: "sendonly",
      streams: [new MediaStream([track])],
      sendEncodings: camera ? CAMERA_LAYERS.map((l) => ({ ...l })) : undefined,
    });
    if (track.kind === "video") preferVp8(transceiver, !!this.e2ee);
    // Before negotiating: no frame of an E2EE meeting leaves unencrypted (every simulcast layer).
    this.e2ee?.attachSender(transceiver.sender, track.kind === "audio" ? "audio" : "video");
    if (this.paused) transceiver.sender.replaceTrack(null).catch(() => {});
    return transceiver;
  }

  /**
   * Stops (or resumes) sending to the SFU, keeping the connections up: a resumed sender
   * starts with a key frame, so the SFU forwards again within a frame or two.
   * @param {boolean} paused
   */
  setPaused(paused) {
    if (this.paused === paused) return;
    this.paused = paused;
    for (const entry of this.local.values()) entry.transceiver?.sender.replaceTrack(paused ? null : entry.track).catch(() => {});
  }

  /**
   * How much of `participantId`'s media has arrived through the SFU so far: decoded video
   * frames if any of their video comes, else audio packets (to tell when it flows again).
   * @param {string} participantId
   */
  async receivedFrom(participantId) {
    let frames = 0;
    let packets = 0;
    let video = false;
    for (const t of this.subscriber?.getTransceivers() ?? []) {
      const trackId = t.mid ? this.lines.get(t.mid) : undefined;
      if (!trackId || this.published.get(trackId)?.participant_id !== participantId) continue;
      const stats = await t.receiver.getStats();
      stats.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        if (s.kind === "video") {
          video = true;
          frames += s.framesDecoded ?? 0;
        } else packets += s.packetsReceived ?? 0;
      });
    }
    return video ? frames : packets;
  }

  /**
   * Sends a (new) offer of the publishing connection and applies the answer; queued behind
   * any negotiation in flight.
   * @param {boolean} restart
   */
  renegotiate(restart) {
    const run = async () => {
      if (this.closed || this.available === false) return;
      let pc = this.publisher;
      if (!pc) {
        if (this.local.size === 0) return;
        pc = this.newPublisher();
      }
      for (const [source, entry] of this.local) if (!entry.transceiver) entry.transceiver = this.addLocal(pc, source, entry.track);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      /** @type {PublishedTrack[]} */
      const tracks = [];
      for (const t of pc.getTransceivers()) {
        if (!t.mid) continue;
        const entry = [...this.local].find(([, e]) => e.transceiver === t);
        const source = entry?.[0] ?? (t.receiver.track.kind === "audio" ? "microphone" : "screen");
        tracks.push({ mid: t.mid, source, muted: entry ? !entry[1].track.enabled : true });
      }
      const answer = new Promise((resolve) => (this.awaitingAnswer = resolve));
      const sent = this.signaling.send({ type: "publish_offer", sdp: offer.sdp ?? "", tracks, ...(restart ? { restart: true } : {}) });
      const sdp = sent ? await Promise.race([answer, new Promise((r) => setTimeout(() => r(null), ANSWER_TIMEOUT_MS))]) : null;
      this.awaitingAnswer = null;
      if (typeof sdp === "string" && sdp && pc === this.publisher && pc.signalingState === "have-local-offer") {
        this.serverAddress = mediaAddress(sdp) || this.serverAddress;
        await pc.setRemoteDescription({ type: "answer", sdp });
        const codec = answeredVideoCodec(sdp);
        if (codec !== this.videoCodec) {
          this.videoCodec = codec;
          this.dispatchEvent(new Event("video-codec"));
        }
      } else if (sdp === null && pc === this.publisher && !this.closed) {
        // No answer: the offer never left (the signaling was down: a restart timed during a
        // network loss) or the server never answered. Left alone this connection would stay
        // "new" for good, so start over once the signaling is back (the resumed welcome), or
        // after the usual back-off if it was up.
        this.unanswered = true;
        if (sent) this.connectionFailed();
      }
    };
    this.publishChain = this.publishChain.then(run).catch((err) => this.fail(err));
    return this.publishChain;
  }

  /**
   * Replaces what a source sends (device switch) without renegotiating.
   * @param {TrackSource} source @param {MediaStreamTrack} track
   */
  async replace(source, track) {
    const entry = this.local.get(source);
    if (!entry) {
      this.local.set(source, { track, transceiver: null });
      this.dispatchEvent(new Event("local-changed"));
      await this.renegotiate(false);
      return;
    }
    entry.track = track;
    this.dispatchEvent(new Event("local-changed"));
    await entry.transceiver?.sender.replaceTrack(this.paused ? null : track);
  }

  /** Microphone on/off (sends silence while muted). @param {boolean} muted */
  setMuted(muted) {
    const mic = this.local.get("microphone");
    if (mic) mic.track.enabled = !muted;
  }

  /** Camera on/off (sends nothing useful while off). @param {boolean} on */
  setCamera(on) {
    const cam = this.local.get("camera");
    if (cam) cam.track.enabled = on;
  }

  get sharing() {
    return this.local.has("screen");
  }

  /** Shares a screen as a second video track (source "screen"). */
  async startScreen() {
    if (this.sharing) return;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    track.contentHint = "detail";
    track.addEventListener("ended", () => this.stopScreen());
    this.local.set("screen", { track, transceiver: null });
    this.dispatchEvent(new Event("local-changed"));
    await this.renegotiate(false);
  }

  /** Stops my screen share; its m-line goes inactive, which unpublishes it. */
  async stopScreen() {
    const entry = this.local.get("screen");
    if (!entry) return;
    this.local.delete("screen");
    entry.track.stop();
    this.dispatchEvent(new Event("local-changed"));
    if (entry.transceiver && this.publisher) {
      this.publisher.removeTrack(entry.transceiver.sender);
      await this.renegotiate(false);
    }
    this.dispatchEvent(new Event("screen-ended"));
  }

  /**
   * Tells the SFU how large a remote video is shown, so it sends a fitting layer (debounced;
   * 0×0: hidden, nothing is sent).
   * @param {string} trackId @param {number} width @param {number} height
   */
  setVideoSize(trackId, width, height) {
    if (this.available !== false) this.sizes.set(trackId, width, height);
  }

  /** Sends the expected size of newly announced videos at once (see `sizeHint`). @param {Track[]} tracks */
  hintSizes(tracks) {
    if (this.available !== false) this.sizes.announce(tracks);
  }

  /** @param {import("./types.js").ServerMessage} msg */
  async handle(msg) {
    try {
      switch (msg.type) {
        case "welcome":
          this.published = new Map(msg.tracks.map((t) => [t.track_id, t]));
          this.hintSizes(msg.tracks);
          this.sync();
          // The server no longer has my tracks (my connection died there during a long
          // network loss, or the meeting moved to another node): start media over now rather
          // than wait for ICE to fail (protocol §2a).
          // Likewise when my last offer went unanswered (it was sent into the lost connection).
          if (msg.resumed && (this.unanswered || (this.publisher?.remoteDescription && !msg.tracks.some((t) => t.participant_id === msg.participant_id)))) this.restart();
          break;
        case "track_published":
          this.published.set(msg.track.track_id, msg.track);
          this.hintSizes([msg.track]);
          this.sync();
          break;
        case "track_unpublished":
          this.published.delete(msg.track_id);
          this.sizes.forget(msg.track_id);
          this.sync();
          break;
        case "breakout_moved":
          this.moveRoom(msg.tracks);
          break;
        case "publish_answer":
          this.available = true;
          this.awaitingAnswer?.(msg.sdp);
          break;
        case "subscribe_offer": {
          this.available = true;
          const { sdp, tracks, offer_id } = msg;
          this.subscribeChain = this.subscribeChain
            .then(() => this.answerSubscription(sdp, tracks ?? [], offer_id))
            .catch((err) => this.fail(err));
          break;
        }
        case "slot_map": {
          // In line behind the offer it follows, so it names the m-lines of that offer.
          const { slots } = msg;
          this.subscribeChain = this.subscribeChain.then(() => this.applySlots(slots)).catch((err) => this.fail(err));
          break;
        }
        case "error":
          if (msg.code === "media_unavailable" && MEDIA_REQUESTS.has(msg.request ?? "")) this.unavailable();
          else if (msg.code === "media_restart_limited") this.limited(msg.message);
          else if (msg.code === "server_busy" && msg.request === "publish_offer") this.busy();
          else if (msg.request === "publish_offer") this.awaitingAnswer?.(""); // refused: stop waiting
          break;
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Answers a subscriber offer, echoing its id (the server refuses an answer to an offer it
   * has since replaced, and keeps waiting for the current one).
   * @param {string} sdp @param {OfferedTrack[]} tracks @param {number | undefined} offerId
   */
  async answerSubscription(sdp, tracks, offerId) {
    if (this.closed) return;
    let pc = this.subscriber;
    const previous = pc?.remoteDescription?.sdp;
    if (pc && previous && fingerprint(previous) !== fingerprint(sdp)) {
      // Another DTLS certificate: the server made a new subscriber connection (after a media
      // restart, or the meeting moved to another node). Meet it with a new one here too.
      pc.close();
      pc = null;
      this.subscriber = null;
      this.sync();
    }
    const fresh = !pc;
    if (!pc) {
      pc = this.newConnection();
      this.subscriber = pc;
      this.watch(pc);
    }
    // Slots: an offer again on the same connection keeps what the slots carry (the slot_map
    // that follows says if that changed); a new connection starts with none until its map.
    if (!this.slotted || tracks.length > 0 || fresh) this.lines = new Map(tracks.map((t) => [t.mid, t.track_id]));
    this.serverAddress = mediaAddress(sdp) || this.serverAddress;
    await pc.setRemoteDescription({ type: "offer", sdp });
    this.bindReceivers(); // before any frame of a new m-line reaches its decoder
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.signaling.send({ type: "subscribe_answer", sdp: answer.sdp ?? "", ...(offerId !== undefined ? { offer_id: offerId } : {}) });
    this.sync();
  }

  /**
   * Slot subscriptions: which track each slot carries now. A slot that switched hands its
   * track out under the new track_id (sync takes it back from the old one first); an idle slot
   * hands out nothing.
   * @param {import("./types.js").MediaSlot[]} slots
   */
  applySlots(slots) {
    if (this.closed) return;
    this.slotted = true;
    /** @type {Map<string, string>} */
    const lines = new Map();
    for (const s of slots) if (s.track_id) lines.set(s.mid, s.track_id);
    this.lines = lines;
    this.sync();
  }

  /** Hands out remote tracks that are fully known and takes back those that are gone. */
  sync() {
    const pc = this.subscriber;
    this.bindReceivers();
    /** @type {Map<string, MediaStreamTrack>} */
    const live = new Map();
    for (const t of pc?.getTransceivers() ?? []) {
      const trackId = t.mid ? this.lines.get(t.mid) : undefined;
      if (!trackId || t.currentDirection === "inactive" || t.currentDirection === "stopped") continue;
      live.set(trackId, t.receiver.track);
    }
    for (const [trackId, r] of this.remote) {
      if (live.get(trackId) !== r.track || !this.published.has(trackId)) {
        this.remote.delete(trackId);
        this.dispatchEvent(new CustomEvent("remote-track-removed", { detail: r }));
      }
    }
    for (const [trackId, track] of live) {
      const info = this.published.get(trackId);
      if (!info || this.remote.has(trackId)) continue;
      /** @type {RemoteTrack} */
      const r = { track_id: trackId, participant_id: info.participant_id, kind: info.kind, source: info.source, track };
      this.remote.set(trackId, r);
      this.dispatchEvent(new CustomEvent("remote-track", { detail: r }));
    }
  }

  /**
   * E2EE: every receiving m-line decrypts with the keys of the participant whose track it
   * carries now (the SFU moves m-lines between tracks); one not carrying a track yet is
   * attached unbound (its frames are dropped, never passed on undecrypted).
   */
  bindReceivers() {
    if (!this.e2ee || !this.subscriber) return;
    for (const t of this.subscriber.getTransceivers()) {
      const trackId = t.mid ? this.lines.get(t.mid) : undefined;
      const owner = (trackId && this.published.get(trackId)?.participant_id) || null;
      if (this.receiverOwners.has(t.receiver) && this.receiverOwners.get(t.receiver) === owner) continue;
      this.receiverOwners.set(t.receiver, owner);
      this.e2ee.attachReceiver(t.receiver, owner);
    }
  }

  /**
   * Starts media over (after a delay) when a connection fails or does not come up in time; a
   * connection that comes up ends the trouble. @param {RTCPeerConnection} pc
   */
  watch(pc) {
    watchConnection(pc, {
      current: () => pc === this.publisher || pc === this.subscriber,
      failed: () => this.connectionFailed(),
      connected: () => this.connected(),
    });
  }

  /** A connection failed: schedule a restart, later with every failure in a row. */
  connectionFailed() {
    if (this.retryTimer || this.restarting || this.closed || this.available === false) return;
    this.failures += 1;
    const delay = restartDelay(this.failures);
    this.schedule(delay);
    if (this.failures >= FAILURES_BEFORE_TROUBLE) {
      this.setTrouble({ reason: "unreachable", failures: this.failures, retry_at: Date.now() + delay, message: unreachableMessage(this.serverAddress, delay) });
    }
  }

  /** The server refused a restart: too many in the last minute. @param {string} why */
  limited(why) {
    const wait = Math.round(LIMITED_WAIT_MS / 1000);
    this.pause("limited", `Audio and video are paused: the server refused to reconnect them again so soon (${why}). Next attempt in ${wait} s.`);
  }

  /** The server is at capacity and takes no new publishers now (protocol `server_busy`): try later. */
  busy() {
    const wait = Math.round(LIMITED_WAIT_MS / 1000);
    this.pause("busy", `The server is at capacity: your audio and video cannot start yet (you still see and hear the others). Next attempt in ${wait} s.`);
  }

  /**
   * Stops waiting for an answer and tries again after LIMITED_WAIT_MS, telling the user why.
   * @param {"limited" | "busy"} reason @param {string} message
   */
  pause(reason, message) {
    this.awaitingAnswer?.("");
    if (this.closed || this.available === false) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.schedule(LIMITED_WAIT_MS);
    this.setTrouble({ reason, failures: this.failures, retry_at: Date.now() + LIMITED_WAIT_MS, message });
  }

  /** @param {number} delay ms */
  schedule(delay) {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.restart();
    }, delay);
  }

  connected() {
    this.failures = 0;
    if (this.trouble) this.setTrouble(null);
    // Both up again (ICE recovered from a short loss by itself): the restart scheduled on the
    // failure would only tear down working connections.
    const up = (/** @type {RTCPeerConnection | null} */ pc) => !pc || pc.connectionState === "connected";
    if (this.retryTimer && this.publisher?.remoteDescription && up(this.publisher) && up(this.subscriber)) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  /** @param {MediaTrouble | null} trouble */
  setTrouble(trouble) {
    this.trouble = trouble;
    this.dispatchEvent(new CustomEvent("trouble", { detail: trouble }));
  }

  /**
   * Breakout rooms: the server moved me to another room's media (`breakout_moved`). Both
   * connections go and my media is published afresh, without `restart` (the server already
   * took me out of the old room); `tracks` are those of the room I am in now.
   * @param {Track[]} tracks
   */
  moveRoom(tracks) {
    if (this.closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.closeConnections();
    this.published = new Map(tracks.map((t) => [t.track_id, t]));
    this.sizes.reset();
    this.hintSizes(tracks);
    this.sync();
    if (this.available !== false) this.renegotiate(false);
  }

  /** Creates both connections anew and re-publishes with `restart: true` (protocol §2a). */
  restart() {
    if (this.restarting || this.closed || this.available === false) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.restarting = true;
    this.unanswered = false;
    this.closeConnections();
    this.sizes.reset();
    this.renegotiate(true).finally(() => (this.restarting = false));
  }

  /** @param {unknown} err */
  fail(err) {
    this.dispatchEvent(new CustomEvent("failed", { detail: err }));
  }

  unavailable() {
    if (this.available === false) return;
    this.available = false;
    this.closeConnections();
    this.dispatchEvent(new Event("unavailable"));
  }

  closeConnections() {
    this.publisher?.close();
    this.subscriber?.close();
    this.publisher = null;
    this.subscriber = null;
    this.lines.clear();
    for (const entry of this.local.values()) entry.transceiver = null;
    this.awaitingAnswer?.("");
    this.sync();
  }

  close() {
    this.closed = true;
    this.sizes.stop();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.closeConnections();
    this.local.get("screen")?.track.stop();
    this.signaling.removeEventListener("message", this.onMessage);
  }
}
