// Recording a meeting on this device ("local recording"): what the user sees — the video tiles
// and the shared screen, drawn onto a canvas — and what they hear — every remote voice and
// their own microphone, mixed with WebAudio — go into a MediaRecorder (WebM). When recording
// stops, the file is uploaded in chunks with the server's resumable upload API (Upload-Offset,
// see docs/protocol.md): a failed chunk is retried from the offset the server reports, so a
// network drop costs seconds, not the recording. The upload is created when recording starts,
// which is when the server checks that this person may record.
//
// In an end-to-end encrypted meeting (docs/e2ee.md) the recording is the only plaintext copy
// of the meeting and the server must never get it: it stays on the device, offered as a
// download when recording stops, and no upload is ever created (the server refuses one too).
// The permission to record is then checked where it always is as well: the socket's
// `recording_locally` state, which everyone sees.

import { ApiError } from "./api.js";
import { initials } from "./ui/dom.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./meeting.js").Meeting} Meeting */

/**
 * Bytes per upload request for a file of `total` bytes: about twenty steps for a smooth bar,
 * within 64 KiB (requests worth making) and 4 MiB (little lost when one fails).
 * @param {number} total
 */
export function chunkBytes(total) {
  return Math.min(4 * 1024 * 1024, Math.max(64 * 1024, Math.ceil(total / 20)));
}
/** Automatic retries of a failing upload before it waits for the user. */
const AUTO_RETRIES = 6;
/** Canvas the recording is drawn on (16:9, like the composed server recordings). */
const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 15;

/**
 * @typedef {"starting" | "recording" | "stopping" | "uploading" | "done" | "saved" | "failed"} RecState
 * ("saved": an end-to-end encrypted meeting's recording, kept on this device, never uploaded)
 * @typedef {{id: string, url: string, offset: number, size: number | null}} UploadInfo
 */

/** The first recording format this browser supports. */
export function recordingType() {
  const types = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm"];
  return types.find((t) => typeof MediaRecorder !== "undefined" && MediaRecorder.isTypeSupported(t)) ?? "";
}

/** Whether this browser can record at all. */
export function canRecordLocally() {
  return typeof MediaRecorder !== "undefined" && !!recordingType() && typeof HTMLCanvasElement.prototype.captureStream === "function";
}

/**
 * One recording on this device, from start to a finished upload. Events: `change` (state,
 * timer, progress).
 */
export class LocalRecording extends EventTarget {
  /**
   * @param {Api} api
   * @param {Meeting} meeting
   * @param {() => HTMLElement | null} stage what the user sees (the room's stage element)
   * @param {() => MediaStreamTrack | null} mic my microphone (its mute state applies)
   */
  constructor(api, meeting, stage, mic) {
    super();
    this.api = api;
    this.meeting = meeting;
    this.meetingTitle = meeting.title;
    this.stage = stage;
    this.mic = mic;
    /** @type {RecState} */
    this.state = "starting";
    this.startedAt = 0;
    this.stoppedAt = 0;
    /** Bytes of the file confirmed by the server, plus the part of the chunk in flight. */
    this.sent = 0;
    /** @type {Blob | null} */
    this.blob = null;
    /** @type {UploadInfo | null} */
    this.upload = null;
    /** @type {{id: string} | null} the recording it became */
    this.recording = null;
    /** @type {string} why it failed */
    this.error = "";
    /** @type {number} seconds until the next automatic retry (0: none pending) */
    this.retryIn = 0;
    /** @type {Blob[]} */
    this.chunks = [];
    /** @type {MediaRecorder | null} */
    this.recorder = null;
    /** @type {AudioContext | null} */
    this.audio = null;
    /** @type {MediaStreamAudioDestinationNode | null} */
    this.mix = null;
    /** Audio tracks already in the mix, by id. @type {Set<string>} */
    this.mixed = new Set();
    /** @type {ReturnType<typeof setInterval> | 0} */
    this.drawTimer = 0;
    /** @type {ReturnType<typeof setInterval> | 0} */
    this.mixTimer = 0;
    /** @type {XMLHttpRequest | null} */
    this.xhr = null;
    this.cancelled = false;
    /** An end-to-end encrypted meeting: the file stays on this device, nothing is uploaded. */
    this.onDevice = !!meeting.e2ee;
  }

  /** The file's name when saved on the device. */
  get fileName() {
    return `${this.meetingTitle || "meeting"}.webm`.replace(/[\\/:*?"<>|]/g, "_");
  }

  /** @param {RecState} state */
  set(state) {
    this.state = state;
    this.dispatchEvent(new Event("change"));
  }

  get busy() {
    return this.state === "starting" || this.state === "recording" || this.state === "stopping" || this.state === "uploading";
  }

  get recordingNow() {
    return this.state === "starting" || this.state === "recording";
  }

  /** Seconds recorded so far (or in all). */
  get elapsed() {
    if (!this.startedAt) return 0;
    return ((this.stoppedAt || Date.now()) - this.startedAt) / 1000;
  }

  /** 0…1 of the upload. */
  get progress() {
    const total = this.blob?.size ?? 0;
    return total ? Math.min(1, this.sent / total) : 0;
  }

  /** Asks the server for an upload (it checks I may record), then records; on the device only, just records. */
  async start() {
    const type = recordingType();
    /** @type {UploadInfo | null} */
    const up = this.onDevice ? null : await this.api.request("POST", `/meetings/${this.meeting.meetingId}/recording-uploads`, { json: { content_type: type.split(";")[0] || "video/webm" } });
    this.upload = up;
    try {
      const canvas = document.createElement("canvas");
      canvas.width = WIDTH;
      canvas.height = HEIGHT;
      const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { alpha: false }));
      const video = canvas.captureStream(FPS).getVideoTracks()[0];
      this.audio = new AudioContext();
      this.mix = this.audio.createMediaStreamDestination();
      // A silent source keeps the audio track running even when nobody speaks.
      const silence = this.audio.createConstantSource();
      silence.offset.value = 0;
      silence.connect(this.mix);
      silence.start();
      this.addAudio();
      this.mixTimer = setInterval(() => this.addAudio(), 1000);
      const draw = () => drawStage(ctx, this.stage(), this.meeting);
      draw();
      // A timer rather than requestAnimationFrame: the picture keeps coming in a background tab.
      this.drawTimer = setInterval(draw, 1000 / FPS);
      const stream = new MediaStream([video, ...this.mix.stream.getAudioTracks()]);
      const recorder = new MediaRecorder(stream, type ? { mimeType: type, videoBitsPerSecond: 2_000_000, audioBitsPerSecond: 96_000 } : undefined);
      recorder.addEventListener("dataavailable", (e) => {
        if (e.data.size) this.chunks.push(e.data);
      });
      this.recorder = recorder;
      recorder.start(1000);
      this.startedAt = Date.now();
      this.meeting.setState({ recording_locally: true });
      this.set("recording");
    } catch (err) {
      this.teardown();
      if (up) await this.api.request("DELETE", `/recording-uploads/${up.id}`).catch(() => {});
      throw err;
    }
  }

  /** Connects remote voices (and my microphone) that are not in the mix yet. */
  addAudio() {
    const { audio, mix } = this;
    if (!audio || !mix) return;
    /** @type {MediaStreamTrack[]} */
    const tracks = [];
    for (const el of document.querySelectorAll(".remote-audio audio")) {
      const s = /** @type {HTMLAudioElement} */ (el).srcObject;
      if (s instanceof MediaStream) tracks.push(...s.getAudioTracks());
    }
    const mine = this.mic();
    if (mine) tracks.push(mine);
    for (const t of tracks) {
      if (this.mixed.has(t.id) || t.readyState !== "live") continue;
      this.mixed.add(t.id);
      audio.createMediaStreamSource(new MediaStream([t])).connect(mix);
    }
  }

  /** Stops recording; the upload follows (on the device only: the file is ready to save). */
  async stop() {
    if (!this.recordingNow || !this.recorder) return;
    this.set("stopping");
    this.stoppedAt = Date.now();
    const recorder = this.recorder;
    const stopped = new Promise((resolve) => recorder.addEventListener("stop", resolve, { once: true }));
    if (recorder.state !== "inactive") recorder.stop();
    await stopped;
    this.teardown();
    if (this.meeting.phase === "in") this.meeting.setState({ recording_locally: false });
    this.blob = new Blob(this.chunks, { type: recorder.mimeType || "video/webm" });
    this.chunks = [];
    if (this.onDevice) this.set("saved");
    else await this.send();
  }

  teardown() {
    clearInterval(this.drawTimer);
    clearInterval(this.mixTimer);
    for (const t of this.recorder?.stream.getTracks() ?? []) t.stop();
    this.audio?.close().catch(() => {});
    this.audio = null;
    this.mix = null;
  }

  /**
   * Uploads the file from wherever the server says it is, retrying on its own a few times
   * (1 s, 2 s, 4 s, … apart); after that it waits for `retry()`.
   */
  async send() {
    const blob = this.blob;
    const up = this.upload;
    if (!blob || !up || this.onDevice) return;
    this.error = "";
    this.set("uploading");
    let failures = 0;
    for (;;) {
      if (this.cancelled) return;
      try {
        /** @type {UploadInfo} */
        const at = await this.api.request("GET", `/recording-uploads/${up.id}`);
        let offset = at.offset;
        this.sent = offset;
        this.dispatchEvent(new Event("change"));
        while (offset < blob.size) {
          const end = Math.min(offset + chunkBytes(blob.size), blob.size);
          offset = await this.chunk(up.id, offset, blob.size, blob.slice(offset, end));
          this.sent = offset;
          failures = 0;
          this.dispatchEvent(new Event("change"));
        }
        const duration = (this.stoppedAt - this.startedAt) / 1000;
        this.recording = await this.api.request("POST", `/recording-uploads/${up.id}/complete`, { json: { duration_seconds: duration } });
        this.set("done");
        return;
      } catch (err) {
        if (this.cancelled) return;
        const status = err instanceof ApiError ? err.status : 0;
        const code = err instanceof ApiError ? err.code : "";
        // Worth another try: the network, the server, a chunk that raced another; not a refusal.
        const transient = status === 0 || status >= 500 || status === 408 || status === 429 || code === "offset_mismatch" || code === "upload_busy" || code === "chunk_interrupted";
        failures++;
        if (!transient || failures > AUTO_RETRIES) {
          this.error = err instanceof Error ? err.message : String(err);
          this.set("failed");
          return;
        }
        const wait = Math.min(15, 2 ** (failures - 1));
        for (let s = wait; s > 0 && !this.cancelled; s--) {
          this.retryIn = s;
          this.dispatchEvent(new Event("change"));
          await new Promise((r) => setTimeout(r, 1000));
        }
        this.retryIn = 0;
      }
    }
  }

  /**
   * Sends one chunk; resolves with the server's new offset. XMLHttpRequest rather than fetch
   * for its upload progress events.
   * @param {string} id @param {number} offset @param {number} total @param {Blob} bytes
   * @returns {Promise<number>}
   */
  async chunk(id, offset, total, bytes) {
    for (let attempt = 0; ; attempt++) {
      await this.api.freshToken();
      const token = this.api.session?.token ?? "";
      const res = await new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        this.xhr = xhr;
        xhr.open("PATCH", `/api/v1/recording-uploads/${encodeURIComponent(id)}`);
        xhr.setRequestHeader("authorization", `Bearer ${token}`);
        xhr.setRequestHeader("content-type", "application/offset+octet-stream");
        xhr.setRequestHeader("upload-offset", String(offset));
        xhr.setRequestHeader("upload-length", String(total));
        xhr.upload.onprogress = (e) => {
          this.sent = offset + e.loaded;
          this.dispatchEvent(new Event("change"));
        };
        xhr.onload = () => resolve(xhr);
        xhr.onerror = () => reject(new ApiError(0, "network_error", "The connection to the server was lost."));
        xhr.onabort = () => reject(new ApiError(0, "aborted", "The upload was stopped."));
        xhr.send(bytes);
      });
      this.xhr = null;
      /** @type {any} */
      let body = null;
      try {
        body = JSON.parse(res.responseText);
      } catch {
        // not JSON: judged by the status below
      }
      if (res.status === 401 && attempt === 0) {
        await this.api.refresh();
        continue;
      }
      if (res.status >= 200 && res.status < 300) return Number(body?.offset ?? res.getResponseHeader("upload-offset"));
      throw new ApiError(res.status, body?.error?.code ?? `http_${res.status}`, body?.error?.message ?? res.statusText);
    }
  }

  /** After a failure: try again from the server's offset. */
  retry() {
    if (this.state === "failed") this.send();
  }

  /** Gives up: the partial upload is deleted on the server. */
  async discard() {
    this.cancelled = true;
    this.xhr?.abort();
    this.teardown();
    if (this.upload) await this.api.request("DELETE", `/recording-uploads/${this.upload.id}`).catch(() => {});
    this.blob = null;
    this.set("failed");
  }
}

/**
 * Draws what the stage shows: each tile (its video, or the person's initials) and the shared
 * screen, at their places on screen, scaled to the canvas.
 * @param {CanvasRenderingContext2D} ctx @param {HTMLElement | null} stage @param {Meeting} meeting
 */
function drawStage(ctx, stage, meeting) {
  ctx.fillStyle = "#111318";
  ctx.fillRect(0, 0, WIDTH, HEIGHT);
  if (!stage || !stage.isConnected) {
    ctx.fillStyle = "#aeb4c2";
    ctx.font = "600 28px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(meeting.title || "Meeting", WIDTH / 2, HEIGHT / 2);
    return;
  }
  const box = stage.getBoundingClientRect();
  if (!box.width || !box.height) return;
  const margin = 16; // the tiles' rounded corners stay inside the picture
  const scale = Math.min((WIDTH - 2 * margin) / box.width, (HEIGHT - 2 * margin) / box.height);
  const ox = (WIDTH - box.width * scale) / 2;
  const oy = (HEIGHT - box.height * scale) / 2;
  /** @param {DOMRect} r */
  const place = (r) => ({ x: ox + (r.left - box.left) * scale, y: oy + (r.top - box.top) * scale, w: r.width * scale, h: r.height * scale });
  const screen = stage.querySelector(".screen-stage:not([hidden]) video");
  if (screen instanceof HTMLVideoElement) {
    const p = place(/** @type {HTMLElement} */ (screen.parentElement).getBoundingClientRect());
    rounded(ctx, p.x, p.y, p.w, p.h, 14 * scale, "#000");
    drawVideo(ctx, screen, p, "contain");
  }
  for (const tile of stage.querySelectorAll(".tile")) {
    const r = tile.getBoundingClientRect();
    if (r.right <= box.left || r.left >= box.right || r.bottom <= box.top || r.top >= box.bottom) continue; // scrolled away
    const p = place(r);
    ctx.save();
    rounded(ctx, p.x, p.y, p.w, p.h, 14 * scale, tile.classList.contains("tile-large") ? "#0d0f13" : "#23262f");
    ctx.clip();
    const v = tile.querySelector("video");
    const name = /** @type {HTMLElement} */ (tile).dataset.name ?? "";
    if (v instanceof HTMLVideoElement && v.videoWidth) drawVideo(ctx, v, p, tile.classList.contains("tile-large") ? "contain" : "cover");
    else {
      const d = Math.min(96 * scale, p.h * 0.45);
      ctx.fillStyle = "#3b4252";
      ctx.beginPath();
      ctx.arc(p.x + p.w / 2, p.y + p.h / 2, d / 2, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.font = `700 ${Math.round(d * 0.36)}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(initials(name || "?"), p.x + p.w / 2, p.y + p.h / 2);
    }
    if (name) {
      ctx.font = `600 ${Math.max(11, Math.round(13 * scale))}px system-ui, sans-serif`;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      const label = name; // as others know them (the screen says "(you)")
      const tw = Math.min(ctx.measureText(label).width + 16, p.w - 16);
      rounded(ctx, p.x + 8, p.y + p.h - 8 - 24 * scale, tw, 24 * scale, 6, "rgba(0,0,0,.55)");
      ctx.fillStyle = "#fff";
      ctx.fillText(label, p.x + 16, p.y + p.h - 8 - 12 * scale, tw - 16);
    }
    ctx.restore();
  }
}

/**
 * @param {CanvasRenderingContext2D} ctx @param {HTMLVideoElement} v
 * @param {{x: number, y: number, w: number, h: number}} p @param {"cover" | "contain"} fit
 */
function drawVideo(ctx, v, p, fit) {
  const vw = v.videoWidth;
  const vh = v.videoHeight;
  if (!vw || !vh) return;
  const s = fit === "cover" ? Math.max(p.w / vw, p.h / vh) : Math.min(p.w / vw, p.h / vh);
  const w = vw * s;
  const hgt = vh * s;
  ctx.drawImage(v, p.x + (p.w - w) / 2, p.y + (p.h - hgt) / 2, w, hgt);
}

/** @param {CanvasRenderingContext2D} ctx @param {number} x @param {number} y @param {number} w @param {number} h @param {number} r @param {string} fill */
function rounded(ctx, x, y, w, h, r, fill) {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, r);
  ctx.fillStyle = fill;
  ctx.fill();
}
