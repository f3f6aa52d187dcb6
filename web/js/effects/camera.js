// Camera backgrounds (blur, an image) applied before encoding. One CameraEffects per meeting
// page gives the sender ONE processed track for the whole session: switching the effect on or
// off, or switching cameras, changes what the worker paints, never the track, so nothing is
// renegotiated and the simulcast encodings stay as they were.
//
// Chromium (and Edge): MediaStreamTrackProcessor → worker → MediaStreamTrackGenerator, the
// frames never touch the main thread. Browsers without those (Firefox, Safari) send the camera
// as it is, and the settings, the pre-join picker and the camera menu say so. (A fallback
// through canvas.captureStream was tried: Firefox then published no frames; not shipped.)

/** @typedef {"none" | "blur" | "image"} EffectKind */
/** @typedef {{kind: EffectKind, image?: string}} Effect `image`: a backdrop id (see backdrops.js) */

const MODEL_BASE = "/vendor/selfie_segmentation/";
const WORKER_URL = "/js/effects/worker.js";
/** How long a stopping worker has to say it closed its frames before it is ended anyway. */
const STOP_WAIT_MS = 10_000;

/** How this browser can run effects: "stream" (Chromium), or "" (it cannot). */
export function effectsSupport() {
  const w = /** @type {any} */ (globalThis);
  if (typeof Worker === "undefined" || typeof OffscreenCanvas === "undefined") return "";
  if (typeof w.MediaStreamTrackProcessor === "function" && typeof w.MediaStreamTrackGenerator === "function") return "stream";
  return "";
}

/** What the settings say when effects cannot run here. */
export const UNSUPPORTED = "Backgrounds need a Chromium-based browser (Chrome, Edge) for now; this one sends your camera as it is.";

export class CameraEffects extends EventTarget {
  /** @param {(id: string) => Promise<Blob | null>} fetchBackdrop the image for a backdrop id */
  constructor(fetchBackdrop) {
    super();
    this.fetchBackdrop = fetchBackdrop;
    this.mode = effectsSupport();
    /** The camera as captured. @type {MediaStreamTrack | null} */
    this.source = null;
    /** What is sent and previewed. @type {MediaStreamTrack | null} */
    this.output = null;
    /** @type {Effect} */
    this.effect = { kind: "none" };
    /**
     * The last second's effect frames: how many, their average and worst processing time and
     * the part of it in the model (ms), and the share of the picture taken for a person.
     */
    this.cost = { avgMs: 0, maxMs: 0, frames: 0, segmentMs: 0, person: 0 };
    /** @type {Worker | null} */
    this.worker = null;
    /** @type {Promise<void> | null} */
    this.modelReady = null;
    this.stopped = false;
  }

  get supported() {
    return this.mode !== "";
  }

  /**
   * Feeds a camera track in and returns the track to send: on the first call a new processed
   * track, on later calls (a camera switch) the same one. Without support: the camera itself.
   * @param {MediaStreamTrack} camera
   * @returns {MediaStreamTrack}
   */
  attach(camera) {
    const previous = this.source;
    this.source = camera;
    if (!this.supported) return (this.output = camera);
    const w = /** @type {any} */ (globalThis);
    const worker = this.ensureWorker();
    const readable = new w.MediaStreamTrackProcessor({ track: camera }).readable;
    if (!this.output) {
      const generator = new w.MediaStreamTrackGenerator({ kind: "video" });
      this.output = /** @type {MediaStreamTrack} */ (generator);
      worker.postMessage({ type: "streams", readable, writable: generator.writable }, [readable, generator.writable]);
    } else worker.postMessage({ type: "streams", readable }, [readable]);
    if (previous && previous !== camera) previous.stop();
    return /** @type {MediaStreamTrack} */ (this.output);
  }

  ensureWorker() {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_URL);
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === "stats") {
        this.cost = { avgMs: m.avgMs, maxMs: m.maxMs, frames: m.frames, segmentMs: m.segmentMs, person: m.person };
        this.dispatchEvent(new Event("cost"));
      } else if (m.type === "error") console.warn("background effect:", m.message);
    };
    this.worker = worker;
    return worker;
  }

  /** Loads the segmentation model in the worker, once. */
  loadModel() {
    this.modelReady ??= new Promise((resolve, reject) => {
      const worker = this.ensureWorker();
      /** @param {MessageEvent} e */
      const on = (e) => {
        if (e.data.type === "ready") (worker.removeEventListener("message", on), resolve());
        else if (e.data.type === "error") (worker.removeEventListener("message", on), reject(new Error(e.data.message)));
      };
      worker.addEventListener("message", on);
      worker.postMessage({ type: "load", base: MODEL_BASE });
    });
    this.modelReady.catch(() => (this.modelReady = null));
    return this.modelReady;
  }

  /**
   * Switches the effect, live. Resolves once frames carry it (the model loaded, the image
   * decoded); rejects when this browser cannot, or the image cannot be had.
   * @param {Effect} effect
   */
  async setEffect(effect) {
    if (effect.kind !== "none" && !this.supported) throw new Error(UNSUPPORTED);
    this.effect = effect;
    if (!this.worker && effect.kind === "none") return;
    const worker = this.ensureWorker();
    if (effect.kind === "none") {
      worker.postMessage({ type: "effect", effect: "none" });
      return;
    }
    await this.loadModel();
    /** @type {ImageBitmap | null | undefined} */
    let backdrop;
    if (effect.kind === "image") {
      const blob = await this.fetchBackdrop(effect.image ?? "");
      if (!blob) throw new Error("That background image is not there any more.");
      backdrop = await createImageBitmap(blob);
    }
    // A later choice won while this one loaded.
    if (this.effect !== effect) return backdrop?.close();
    worker.postMessage({ type: "effect", effect: effect.kind, ...(backdrop ? { backdrop } : {}) }, backdrop ? [backdrop] : []);
    this.dispatchEvent(new Event("effect"));
  }

  /** Camera off: the worker stops segmenting (the output is disabled anyway). @param {boolean} paused */
  setPaused(paused) {
    if (this.source) this.source.enabled = !paused;
    this.worker?.postMessage({ type: "paused", paused });
  }

  /** Ends everything: the camera, the output, the worker. */
  stop() {
    this.stopped = true;
    this.source?.stop();
    this.output?.stop();
    // Let the worker close the frame it holds and cancel its reader before it goes: a worker
    // ended mid-frame leaves that frame to the garbage collector (Chromium then warns). It
    // says when it is done; a fixed second was too short for a worker busy on a loaded
    // machine. One that never answers is ended all the same.
    const worker = this.worker;
    if (worker) {
      worker.addEventListener("message", (e) => e.data.type === "stopped" && worker.terminate());
      worker.postMessage({ type: "stop" });
      setTimeout(() => worker.terminate(), STOP_WAIT_MS);
    }
    this.worker = null;
  }
}
