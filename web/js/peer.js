// WebRTC through the SFU (docs/protocol.md): one publishing peer connection that sends my
// microphone and camera (camera in three simulcast layers), one subscribing connection that
// receives everyone else. No DOM here: remote tracks are handed out as events.
//
// Until the server has a media engine it answers media messages with `media_unavailable`;
// the session then closes its connections, reports `unavailable`, and the meeting goes on
// without media (the UI shows the local preview only).

/** @typedef {import("./types.js").PublishedTrack} PublishedTrack */
/** @typedef {import("./types.js").TrackSource} TrackSource */
/** @typedef {import("./signaling.js").Signaling} Signaling */

const MEDIA_REQUESTS = new Set(["publish_offer", "subscribe_answer", "set_video_size"]);

/** Camera simulcast: quarter, half and full resolution (rids as the SFU expects them). */
const CAMERA_LAYERS = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", maxBitrate: 1_500_000 },
];

/**
 * Events: `unavailable` (the server has no media engine), `track` (detail:
 * {track: MediaStreamTrack, streamId: string, mid: string | null}), `failed` (detail: Error).
 */
export class MediaSession extends EventTarget {
  /** @param {Signaling} signaling */
  constructor(signaling) {
    super();
    this.signaling = signaling;
    /** null: not known yet; false after `media_unavailable` */
    /** @type {boolean | null} */
    this.available = null;
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    /** @type {Map<TrackSource, RTCRtpSender>} */
    this.senders = new Map();
    this.onMessage = /** @param {Event} e */ (e) => this.handle(/** @type {CustomEvent} */ (e).detail);
    signaling.addEventListener("message", this.onMessage);
  }

  /**
   * Starts publishing my microphone and camera (either may be missing).
   * @param {MediaStream | null} stream
   */
  async publish(stream) {
    if (this.available === false) return;
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.publisher = pc;
    /** @type {{transceiver: RTCRtpTransceiver, source: TrackSource, muted: boolean}[]} */
    const lines = [];
    for (const track of stream?.getTracks() ?? []) {
      const camera = track.kind === "video";
      const transceiver = pc.addTransceiver(track, {
        direction: "sendonly",
        streams: stream ? [stream] : [],
        sendEncodings: camera ? CAMERA_LAYERS : undefined,
      });
      this.senders.set(camera ? "camera" : "microphone", transceiver.sender);
      lines.push({ transceiver, source: camera ? "camera" : "microphone", muted: !track.enabled });
    }
    if (lines.length === 0) return;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (/** @type {boolean | null} */ (this.available) === false) return; // refused while we were busy
    /** @type {PublishedTrack[]} */
    const tracks = lines.map((l) => ({ mid: l.transceiver.mid ?? "", source: l.source, muted: l.muted }));
    this.signaling.send({ type: "publish_offer", sdp: offer.sdp ?? "", tracks });
  }

  /**
   * Replaces what a source sends (device switch, camera back on) without renegotiating.
   * @param {TrackSource} source @param {MediaStreamTrack | null} track
   */
  async replace(source, track) {
    await this.senders.get(source)?.replaceTrack(track);
  }

  /**
   * Tells the SFU how large a remote video is shown, so it sends a fitting layer.
   * @param {string} trackId @param {number} width @param {number} height (0×0: hidden)
   */
  setVideoSize(trackId, width, height) {
    if (this.available === false) return;
    this.signaling.send({ type: "set_video_size", track_id: trackId, width: Math.round(width), height: Math.round(height) });
  }

  /** @param {import("./types.js").ServerMessage} msg */
  async handle(msg) {
    try {
      if (msg.type === "publish_answer") {
        this.available = true;
        await this.publisher?.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      } else if (msg.type === "subscribe_offer") {
        this.available = true;
        await this.answerSubscription(msg.sdp);
      } else if (msg.type === "error" && msg.code === "media_unavailable" && MEDIA_REQUESTS.has(msg.request ?? "")) {
        this.unavailable();
      } else if (msg.type === "welcome" && msg.resumed) {
        // A resumed seat gets fresh media state from the server: start over.
        this.closeConnections();
      }
    } catch (err) {
      this.dispatchEvent(new CustomEvent("failed", { detail: err }));
    }
  }

  /** @param {string} sdp */
  async answerSubscription(sdp) {
    let pc = this.subscriber;
    if (!pc) {
      pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
      this.subscriber = pc;
      pc.ontrack = (e) =>
        this.dispatchEvent(
          new CustomEvent("track", { detail: { track: e.track, streamId: e.streams[0]?.id ?? "", mid: e.transceiver.mid } }),
        );
    }
    await pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.signaling.send({ type: "subscribe_answer", sdp: answer.sdp ?? "" });
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
    this.senders.clear();
  }

  close() {
    this.closeConnections();
    this.signaling.removeEventListener("message", this.onMessage);
  }
}

/**
 * Asks for camera and microphone. Falls back to whatever is available (audio only, video
 * only, nothing) so a missing device never blocks joining.
 * @param {{audioDevice?: string, videoDevice?: string, audio?: boolean, video?: boolean}} want
 * @returns {Promise<MediaStream | null>}
 */
export async function openDevices(want) {
  if (!navigator.mediaDevices?.getUserMedia) return null;
  const audio = want.audio === false ? false : want.audioDevice ? { deviceId: { exact: want.audioDevice } } : true;
  const video =
    want.video === false
      ? false
      : { width: { ideal: 1280 }, height: { ideal: 720 }, ...(want.videoDevice ? { deviceId: { exact: want.videoDevice } } : {}) };
  for (const c of [{ audio, video }, { audio, video: false }, { audio: false, video }]) {
    if (!c.audio && !c.video) continue;
    try {
      return await navigator.mediaDevices.getUserMedia(c);
    } catch {
      // try the next, smaller combination
    }
  }
  return null;
}

/** @returns {Promise<{audio: MediaDeviceInfo[], video: MediaDeviceInfo[]}>} */
export async function listDevices() {
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  return { audio: all.filter((d) => d.kind === "audioinput"), video: all.filter((d) => d.kind === "videoinput") };
}

/**
 * Measures a microphone's loudness (0..1) for a level meter; call `stop()` when done.
 * @param {MediaStream} stream
 * @param {(level: number) => void} onLevel
 */
export function levelMeter(stream, onLevel) {
  const AudioCtx = window.AudioContext;
  if (!AudioCtx || stream.getAudioTracks().length === 0) return { stop() {} };
  const ctx = new AudioCtx();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const buf = new Uint8Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v - 128));
    onLevel(Math.min(1, peak / 64));
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      ctx.close().catch(() => {});
    },
  };
}
