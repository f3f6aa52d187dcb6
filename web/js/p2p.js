// Peer-to-peer for two (docs/protocol.md §2b): when the server says `p2p_mode: p2p`, a second
// RTCPeerConnection goes straight to the other participant (DTLS-SRTP end to end, through
// TURN when it must), its offer, answer and candidates relayed by the server. The SFU
// connection (peer.js) stays up all along — warm, sending nothing while the direct one
// carries the media — so that either switch is seamless:
//
// - to peer-to-peer: the direct connection comes up, the other's media arrives on it, then
//   the UI shows it (`rendering`); I stop sending to the SFU only once the other says it
//   shows my direct media too;
// - to the SFU (a third person, a recording, a host's mute, a failure): I send to the SFU
//   again at once and keep showing the direct media until the other's media arrives through
//   the SFU (as long as the direct connection still carries it), and keep sending on the
//   direct connection until the other says it shows my media from the SFU; then it closes.
//
// Make-before-break both ways, each side for the other: the two say what they show over a
// data channel of the direct connection ("shows": "p2p" | "sfu"), so neither stops a path
// the other still plays. Fixed delays used to stand in for that (close the direct connection
// 2 s after my own switch, stop feeding the SFU 3 s after it, give up waiting for the SFU's
// media after 4 s): on a loaded machine each could leave the other on a path that carried
// nothing any more, for seconds (a 9.8 s gap was seen once).
//
// A direct connection that is not up within 5 s (or carries no media within 10 s) is reported
// failed (`p2p_status`), and the server keeps the pair on the SFU.
//
// The connection has three fixed m-lines (microphone, camera, screen), each sending what
// the SFU session publishes for that source (replaceTrack follows device switches and screen
// sharing without renegotiation). Remote tracks are handed out as `remote-track` events like
// the SFU session's, with `via: "p2p"`. What arrived on it is read from its stats in p2pstats.js.

import { directFrames, flowing } from "./p2pstats.js";

/** @typedef {import("./signaling.js").Signaling} Signaling */
/** @typedef {import("./peer.js").MediaSession} MediaSession */
/** @typedef {import("./peer.js").RemoteTrack} RemoteTrack */
/** @typedef {import("./types.js").TrackSource} TrackSource */
/** @typedef {import("./types.js").ServerMessage} ServerMessage */

/** The m-lines of the direct connection, in order. @type {{source: TrackSource, kind: "audio" | "video"}[]} */
const LINES = [
  { source: "microphone", kind: "audio" },
  { source: "camera", kind: "video" },
  { source: "screen", kind: "video" },
];
/** A direct connection not up (ICE and DTLS) after this long has failed. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** One that is up but has carried no media after this long has failed too. */
const MEDIA_TIMEOUT_MS = 10_000;
/** Going to the SFU: the longest wait for the other's media through it while the direct one still plays. */
const SFU_WAIT_MS = 15_000;
/** Going to the SFU: the longest wait while the direct connection carries nothing any more. */
const SFU_WAIT_DEAD_MS = 1_000;
/** The longest the direct connection outlives my switch to the SFU when the other does not say it switched. */
const LINGER_MS = 15_000;
/** After showing the direct media: when the other never says it does too, stop feeding the SFU anyway. */
const PAUSE_FALLBACK_MS = 10_000;
/** How often media arrival is checked. */
const POLL_MS = 100;
/** A direct connection that stays disconnected this long has failed. */
const DISCONNECTED_MS = 3_000;

/**
 * Events: `remote-track` / `remote-track-removed` (detail: RemoteTrack with `via: "p2p"`),
 * `switch` (`rendering` changed: show the direct media, or the SFU's again).
 */
export class PeerLink extends EventTarget {
  /** @param {Signaling} signaling @param {MediaSession} media @param {RTCConfiguration} rtcConfig */
  constructor(signaling, media, rtcConfig) {
    super();
    this.signaling = signaling;
    this.media = media;
    this.rtcConfig = { ...rtcConfig, bundlePolicy: /** @type {RTCBundlePolicy} */ ("max-bundle") };
    /** The current pairing (0: none). */
    this.session = 0;
    /** The other participant of the pair. */
    this.peer = "";
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** Whether the UI shows the direct media (else the SFU's). */
    this.rendering = false;
    /** I stopped sending to the SFU (the direct connection carries my media). */
    this.sfuIdle = false;
    /** Remote tracks handed out, by source. @type {Map<TrackSource, RemoteTrack>} */
    this.remote = new Map();
    /** Candidates that arrived before the remote description. @type {RTCIceCandidateInit[]} */
    this.early = [];
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.pauseTimer = null;
    /** Bumped on every switch so a superseded wait gives up. */
    this.epoch = 0;
    /** What the other says it shows ("p2p" | "sfu"; "" before it said). */
    this.peerShows = "";
    /** The direct connection's data channel, for saying what I show. @type {RTCDataChannel | null} */
    this.channel = null;
    /** Called when the other says what it shows (the waits of a switch). @type {(() => void) | null} */
    this.onPeerShows = null;
    this.capable = typeof RTCPeerConnection === "function";
    this.onMessage = /** @param {Event} e */ (e) => this.handle(/** @type {CustomEvent<ServerMessage>} */ (e).detail);
    signaling.addEventListener("message", this.onMessage);
    this.onLocal = () => this.syncLocal();
    media.addEventListener("local-changed", this.onLocal);
  }

  /** @param {ServerMessage} msg */
  handle(msg) {
    switch (msg.type) {
      case "welcome":
        // A (re)connection starts on the SFU; the server pairs us again when it may.
        if (this.session) this.toSfu(false);
        if (this.capable) this.signaling.send({ type: "p2p_capable" });
        break;
      case "p2p_mode":
        if (msg.mode === "p2p" && msg.peer) this.start(msg.peer, msg.session, !!msg.offerer);
        else if (msg.mode === "sfu" && msg.session === this.session) this.toSfu(msg.reason !== "participants" || this.peerStays());
        break;
      case "p2p_offer":
        if (msg.session === this.session && msg.from === this.peer) this.answer(msg.sdp).catch((err) => this.failed(err));
        break;
      case "p2p_answer":
        if (msg.session === this.session && msg.from === this.peer && this.pc?.signalingState === "have-local-offer") {
          this.pc
            .setRemoteDescription({ type: "answer", sdp: msg.sdp })
            .then(() => this.flushCandidates())
            .catch((err) => this.failed(err));
        }
        break;
      case "p2p_candidate":
        if (msg.session === this.session && msg.from === this.peer) this.addCandidate(msg.candidate);
        break;
      case "track_published":
      case "track_unpublished":
        this.syncRemote();
        break;
    }
  }

  /** Whether the other participant is still in the meeting (else there is nothing to wait for). */
  peerStays() {
    for (const t of this.media.published.values()) if (t.participant_id === this.peer) return true;
    return false;
  }

  /**
   * Connects directly to `peer`. @param {string} peer @param {number} session @param {boolean} offerer
   */
  start(peer, session, offerer) {
    this.epoch++;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = null;
    this.setSfuIdle(false);
    this.setRendering(false);
    this.closeLink();
    this.session = session;
    this.peer = peer;
    this.peerShows = "";
    const pc = new RTCPeerConnection(this.rtcConfig);
    this.pc = pc;
    this.openChannel(pc);
    pc.addEventListener("icecandidate", (e) => {
      if (pc !== this.pc) return;
      this.signaling.send({ type: "p2p_candidate", to: peer, session, candidate: e.candidate ? e.candidate.toJSON() : null });
    });
    pc.addEventListener("track", () => this.syncRemote());
    this.watch(pc, session);
    if (offerer) this.offer(pc, session).catch((err) => this.failed(err));
  }

  /**
   * The data channel of a direct connection (negotiated: both make it, the offer carries it).
   * @param {RTCPeerConnection} pc
   */
  openChannel(pc) {
    const channel = pc.createDataChannel("shows", { negotiated: true, id: 0, ordered: true });
    this.channel = channel;
    channel.addEventListener("open", () => this.say());
    channel.addEventListener("message", (e) => {
      if (pc !== this.pc) return;
      try {
        const shows = JSON.parse(String(e.data)).shows;
        if (shows === "p2p" || shows === "sfu") this.peerShows = shows;
      } catch {
        return;
      }
      this.onPeerShows?.();
    });
  }

  /** Tells the other what I show now. */
  say() {
    if (this.channel?.readyState === "open") this.channel.send(JSON.stringify({ shows: this.rendering ? "p2p" : "sfu" }));
  }

  /** @param {RTCPeerConnection} pc @param {number} session */
  async offer(pc, session) {
    for (const line of LINES) pc.addTransceiver(line.kind, { direction: "sendrecv" });
    this.syncLocal();
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (pc === this.pc) this.signaling.send({ type: "p2p_offer", to: this.peer, session, sdp: offer.sdp ?? "" });
  }

  /** @param {string} sdp */
  async answer(sdp) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== "stable" || pc.remoteDescription) return;
    await pc.setRemoteDescription({ type: "offer", sdp });
    for (const t of pc.getTransceivers()) t.direction = "sendrecv";
    this.syncLocal();
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (pc !== this.pc) return;
    this.signaling.send({ type: "p2p_answer", to: this.peer, session: this.session, sdp: answer.sdp ?? "" });
    await this.flushCandidates();
  }

  /** @param {RTCIceCandidateInit | null} candidate */
  addCandidate(candidate) {
    const pc = this.pc;
    if (!pc || !candidate) return;
    if (!pc.remoteDescription) this.early.push(candidate);
    else pc.addIceCandidate(candidate).catch(() => {});
  }

  async flushCandidates() {
    const pc = this.pc;
    const early = this.early;
    this.early = [];
    for (const c of early) await pc?.addIceCandidate(c).catch(() => {});
  }

  /** The direct connection's transceivers by source (in the fixed m-line order). */
  lines() {
    /** @type {Map<TrackSource, RTCRtpTransceiver>} */
    const out = new Map();
    const all = this.pc?.getTransceivers() ?? [];
    LINES.forEach((line, i) => {
      if (all[i]) out.set(line.source, all[i]);
    });
    return out;
  }

  /** Sends on each m-line what the SFU session publishes for its source (nothing when none). */
  syncLocal() {
    for (const [source, t] of this.lines()) {
      const track = this.media.local.get(source)?.track ?? null;
      if (t.sender.track !== track && t.currentDirection !== "stopped") t.sender.replaceTrack(track).catch(() => {});
    }
  }

  /**
   * Hands out the other's direct tracks: microphone and camera always (the tile shows the
   * camera only while it is on), the screen while they share one (as the SFU announces).
   */
  syncRemote() {
    const sharing = [...this.media.published.values()].some((t) => t.participant_id === this.peer && t.source === "screen");
    /** @type {Map<TrackSource, MediaStreamTrack>} */
    const live = new Map();
    for (const [source, t] of this.lines()) {
      if (source === "screen" && !sharing) continue;
      if (t.receiver.track && this.pc?.remoteDescription) live.set(source, t.receiver.track);
    }
    for (const [source, r] of this.remote) {
      if (live.get(source) !== r.track) {
        this.remote.delete(source);
        this.dispatchEvent(new CustomEvent("remote-track-removed", { detail: r }));
      }
    }
    for (const [source, track] of live) {
      if (this.remote.has(source)) continue;
      /** @type {RemoteTrack} */
      const r = { track_id: `p2p-${this.session}-${source}`, participant_id: this.peer, kind: track.kind === "audio" ? "audio" : "video", source, track, via: "p2p" };
      this.remote.set(source, r);
      this.dispatchEvent(new CustomEvent("remote-track", { detail: r }));
    }
  }

  /**
   * Waits for the direct media, then shows it; reports a connection that fails or carries
   * nothing in time. @param {RTCPeerConnection} pc @param {number} session
   */
  watch(pc, session) {
    const epoch = ++this.epoch;
    const started = Date.now();
    /** @type {number} */
    let downSince = 0;
    let checking = false; // a stats read in flight (the next tick must not start another)
    const timer = setInterval(async () => {
      if (pc !== this.pc || epoch !== this.epoch) return clearInterval(timer);
      if (checking) return;
      const state = pc.connectionState;
      const waited = Date.now() - started;
      const late = waited > (state === "connected" ? MEDIA_TIMEOUT_MS : CONNECT_TIMEOUT_MS);
      if (state === "failed" || (!this.rendering && late)) {
        clearInterval(timer);
        this.report(session, false);
        this.toSfu(true);
        return;
      }
      if (state === "disconnected") {
        downSince ||= Date.now();
        if (Date.now() - downSince > DISCONNECTED_MS) {
          clearInterval(timer);
          this.report(session, false);
          this.toSfu(true);
        }
        return;
      }
      downSince = 0;
      if (this.rendering || state !== "connected") return;
      checking = true;
      const flows = await flowing(pc, () => this.peerCameraPublished()).finally(() => (checking = false));
      if (!flows) return;
      if (pc !== this.pc || epoch !== this.epoch) return;
      this.syncRemote();
      this.setRendering(true);
      this.report(session, true);
      // The other may still show my media from the SFU: keep feeding it until they say they
      // show the direct one (or, should the channel never say, a while).
      const pause = () => {
        if (!this.rendering || pc !== this.pc || epoch !== this.epoch) return;
        if (this.pauseTimer) clearTimeout(this.pauseTimer);
        this.pauseTimer = null;
        this.onPeerShows = null;
        this.setSfuIdle(true);
      };
      this.onPeerShows = () => {
        if (this.peerShows === "p2p") pause();
      };
      this.pauseTimer = setTimeout(pause, PAUSE_FALLBACK_MS);
      this.onPeerShows();
    }, POLL_MS);
  }

  peerCameraPublished() {
    return [...this.media.published.values()].some((t) => t.participant_id === this.peer && t.source === "camera");
  }

  /** @param {number} session @param {boolean} connected */
  report(session, connected) {
    if (session === this.session) this.signaling.send({ type: "p2p_status", session, connected });
  }

  /**
   * Back to the SFU: send to it again now, keep showing the direct media until the other's
   * arrives through the SFU (`wait`), then close the direct connection once the other shows
   * my media from the SFU too. The direct media plays on meanwhile: the wait ends early only
   * when it stops (the other left, the connection broke).
   * @param {boolean} wait
   */
  toSfu(wait) {
    const epoch = ++this.epoch;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = null;
    this.onPeerShows = null;
    this.setSfuIdle(false);
    if (!this.rendering || !wait) {
      this.finishSfu();
      return;
    }
    const peer = this.peer;
    const pc = this.pc;
    const until = Date.now() + SFU_WAIT_MS;
    /** @type {number | null} */
    let baseline = null;
    let direct = -1;
    let directAt = Date.now();
    const poll = async () => {
      if (epoch !== this.epoch) return;
      const now = await this.media.receivedFrom(peer);
      const still = pc && pc.connectionState !== "closed" ? await directFrames(pc) : 0;
      if (epoch !== this.epoch) return;
      baseline ??= now;
      if (still !== direct) [direct, directAt] = [still, Date.now()];
      // A few frames (or packets) more than when we asked: the SFU forwards again.
      const sfuFlows = now > baseline + 2;
      const directDead = Date.now() - directAt > SFU_WAIT_DEAD_MS;
      if (sfuFlows || directDead || Date.now() > until) this.finishSfu();
      else setTimeout(poll, POLL_MS);
    };
    poll();
  }

  /**
   * Shows the SFU's media; the direct connection stays (sending my media) until the other
   * says it shows the SFU's too, or a while, or it breaks.
   */
  finishSfu() {
    this.setRendering(false);
    const pc = this.pc;
    const epoch = this.epoch;
    this.session = 0; // its signaling is over
    if (!pc) return;
    const close = () => {
      clearTimeout(timer);
      if (this.pc === pc && this.epoch === epoch) {
        this.onPeerShows = null;
        this.closeLink();
      }
    };
    const timer = setTimeout(close, LINGER_MS);
    this.onPeerShows = () => {
      if (this.peerShows === "sfu") close();
    };
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" || pc.connectionState === "closed") close();
    });
    if (this.peerShows === "sfu" || this.channel?.readyState !== "open") close();
  }

  /** @param {boolean} on */
  setRendering(on) {
    if (this.rendering === on) return;
    this.rendering = on;
    this.say();
    this.dispatchEvent(new Event("switch"));
  }

  /** @param {boolean} idle */
  setSfuIdle(idle) {
    this.media.setPaused(idle);
    if (this.sfuIdle === idle) return;
    this.sfuIdle = idle;
  }

  /** @param {unknown} err */
  failed(err) {
    console.warn("peer-to-peer:", err);
    this.report(this.session, false);
    this.toSfu(true);
  }

  closeLink() {
    this.pc?.close();
    this.pc = null;
    this.channel = null;
    this.peerShows = "";
    this.early = [];
    this.session = 0;
    this.syncRemote();
  }

  close() {
    this.epoch++;
    this.onPeerShows = null;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.rendering = false;
    this.closeLink();
    this.signaling.removeEventListener("message", this.onMessage);
    this.media.removeEventListener("local-changed", this.onLocal);
  }
}
