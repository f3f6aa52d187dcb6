// The camera effects worker: finds the person in each camera frame (MediaPipe selfie
// segmentation, served by Convene from its npm package) and paints the background blurred or
// replaced, off the main thread so a busy page never stalls the video.
//
// A classic worker, since the segmentation loader is a classic script (importScripts). Frames
// come in as a ReadableStream of VideoFrames (Chromium's MediaStreamTrackProcessor) and go out
// to a MediaStreamTrackGenerator's WritableStream.
// The effect changes per frame; the stream in and out stays, so the sender never changes tracks.

/** @type {any} */
const scope = self;

/** The model's input: the general model takes 256×256. */
const MODEL_W = 256;
const MODEL_H = 256;
/** The background is blurred at a quarter of the frame size: cheaper, and as smooth. */
const BLUR_SCALE = 4;
const BLUR_PX = 6;

/** @type {"none" | "blur" | "image"} */
let effect = "none";
/** @type {ImageBitmap | null} */
let backdrop = null;
let paused = false;
/** @type {any} */
let segmenter = null;
/** @type {Promise<void> | null} */
let loading = null;
/** @type {ReadableStreamDefaultReader<VideoFrame> | null} */
let reader = null;
/** @type {WritableStreamDefaultWriter<VideoFrame> | null} */
let writer = null;
let pumping = false;
/** Told to stop: the page ends this worker once it says every frame it held is closed. */
let halted = false;

const small = new OffscreenCanvas(MODEL_W, MODEL_H);
const smallCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (small.getContext("2d", { willReadFrequently: false }));
const mask = new OffscreenCanvas(MODEL_W, MODEL_H);
const maskCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (mask.getContext("2d", { willReadFrequently: true }));
/** The share of the last frame the model took for a person (0..1), reported with the cost. */
let coverage = 0;
let out = new OffscreenCanvas(2, 2);
let outCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (out.getContext("2d"));
let person = new OffscreenCanvas(2, 2);
let personCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (person.getContext("2d"));
let blurred = new OffscreenCanvas(2, 2);
let blurredCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (blurred.getContext("2d"));

/** Processing time of effect frames, for the CPU cost the settings and tests report. */
const stats = { frames: 0, totalMs: 0, maxMs: 0, segmentMs: 0 };

/** @param {number} w @param {number} h */
function size(w, h) {
  if (out.width === w && out.height === h) return;
  out = new OffscreenCanvas(w, h);
  outCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (out.getContext("2d"));
  person = new OffscreenCanvas(w, h);
  personCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (person.getContext("2d"));
  blurred = new OffscreenCanvas(Math.max(1, Math.round(w / BLUR_SCALE)), Math.max(1, Math.round(h / BLUR_SCALE)));
  blurredCtx = /** @type {OffscreenCanvasRenderingContext2D} */ (blurred.getContext("2d"));
}

/** Loads the model once; later calls wait for the same load. @param {string} base */
function load(base) {
  loading ??= (async () => {
    // The solution's worker path imports every file it lists, the model too, which is no
    // script: skip it there (the WebAssembly fetches it itself, through Module.locateFile).
    const importScripts = scope.importScripts.bind(scope);
    scope.importScripts = (/** @type {string[]} */ ...urls) => importScripts(...urls.filter((u) => !u.endsWith(".tflite")));
    scope.Module = { locateFile: (/** @type {string} */ f) => `${base}${f}` };
    importScripts(`${base}selfie_segmentation.js`);
    const s = new scope.SelfieSegmentation({ locateFile: (/** @type {string} */ f) => `${base}${f}` });
    s.setOptions({ modelSelection: 0, selfieMode: false });
    s.onResults((/** @type {{segmentationMask: CanvasImageSource & {close?: () => void}}} */ r) => {
      // The worker's WebGL context has no alpha: the person's likelihood arrives in the red
      // channel of an opaque picture. Move it to alpha, which the compositing below uses.
      maskCtx.globalCompositeOperation = "copy";
      maskCtx.drawImage(r.segmentationMask, 0, 0, MODEL_W, MODEL_H);
      r.segmentationMask.close?.();
      const px = maskCtx.getImageData(0, 0, MODEL_W, MODEL_H);
      const d = px.data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) {
        d[i + 3] = d[i];
        sum += d[i];
      }
      coverage = sum / 255 / (MODEL_W * MODEL_H);
      maskCtx.putImageData(px, 0, 0);
    });
    await s.initialize();
    // Its worker path creates the WebGL context but never keeps the object that `send` uploads
    // frames with (the page path does). It is the same context the OffscreenCanvas hands out
    // again. (Property names of the package's one, final release, pinned in package-lock.json.)
    const inner = s.h;
    inner.K ??= inner.m.getContext("webgl2") ?? inner.m.getContext("webgl");
    segmenter = s;
  })();
  // A failed load may be tried again (the page asks on the next pick).
  loading.catch(() => (loading = null));
  return loading;
}

/**
 * Paints `frame` with the current effect into `out`.
 * @param {CanvasImageSource} frame @param {number} w @param {number} h
 */
async function paint(frame, w, h) {
  const t0 = performance.now();
  size(w, h);
  smallCtx.drawImage(frame, 0, 0, MODEL_W, MODEL_H);
  const t1 = performance.now();
  await segmenter.send({ image: small });
  stats.segmentMs += performance.now() - t1;
  // The person: the frame where the mask is opaque (its edges soften as it is scaled up).
  personCtx.globalCompositeOperation = "copy";
  personCtx.drawImage(mask, 0, 0, w, h);
  personCtx.globalCompositeOperation = "source-in";
  personCtx.drawImage(frame, 0, 0, w, h);
  outCtx.globalCompositeOperation = "copy";
  if (effect === "image" && backdrop) {
    // Cover the frame, cropping the image's overflow around its centre.
    const k = Math.max(w / backdrop.width, h / backdrop.height);
    const bw = backdrop.width * k;
    const bh = backdrop.height * k;
    outCtx.drawImage(backdrop, (w - bw) / 2, (h - bh) / 2, bw, bh);
  } else {
    blurredCtx.filter = `blur(${BLUR_PX}px)`;
    blurredCtx.drawImage(frame, 0, 0, blurred.width, blurred.height);
    blurredCtx.filter = "none";
    outCtx.drawImage(blurred, 0, 0, w, h);
  }
  outCtx.globalCompositeOperation = "source-over";
  outCtx.drawImage(person, 0, 0);
  const ms = performance.now() - t0;
  stats.frames += 1;
  stats.totalMs += ms;
  stats.maxMs = Math.max(stats.maxMs, ms);
}

const active = () => effect !== "none" && !paused && segmenter !== null && (effect !== "image" || backdrop !== null);

/** The Chromium path: frames in from the processor, out to the generator, one at a time. */
async function pump() {
  pumping = true;
  try {
    await pumpFrames();
  } finally {
    pumping = false;
    if (halted) scope.postMessage({ type: "stopped" });
  }
}

async function pumpFrames() {
  for (;;) {
    const r = reader;
    if (!r || !writer) return;
    let result;
    try {
      result = await r.read();
    } catch {
      result = { done: true, value: undefined };
    }
    if (r !== reader) {
      // The camera changed while this read waited: drop what the old one gave.
      result.value?.close();
      continue;
    }
    if (result.done || !result.value) return;
    const frame = result.value;
    if (!active()) {
      await send(frame);
      continue;
    }
    try {
      await paint(frame, frame.displayWidth, frame.displayHeight);
      const next = new VideoFrame(out, { timestamp: frame.timestamp, alpha: "discard" });
      frame.close();
      await send(next);
    } catch (err) {
      // A frame the model could not take: send it as it is rather than nothing.
      await send(frame);
      report(err);
    }
  }
}

/**
 * Hands a frame to the generator, which closes it once written. A write the generator refuses
 * (its track was stopped: camera off by the host, the page leaving) leaves the frame ours to
 * close; Chromium otherwise warns that a VideoFrame was garbage collected without being closed,
 * and holds capture buffers until it is.
 * @param {VideoFrame} frame
 */
async function send(frame) {
  const w = writer;
  if (!w) return frame.close();
  await w.write(frame).catch(() => frame.close());
}

/** Stops reading: the camera's queued frames are dropped by the stream, not left open. */
function halt() {
  const r = reader;
  reader = null;
  r?.cancel().catch(() => {});
  writer?.close().catch(() => {});
  writer = null;
  halted = true;
  // A frame in flight is closed by the pump on its way out, which then says so.
  if (!pumping) scope.postMessage({ type: "stopped" });
}

/** @param {unknown} err */
function report(err) {
  scope.postMessage({ type: "error", message: String(/** @type {Error} */ (err)?.message ?? err) });
}

setInterval(() => {
  if (!stats.frames) return;
  const n = stats.frames;
  scope.postMessage({ type: "stats", frames: n, avgMs: stats.totalMs / n, maxMs: stats.maxMs, segmentMs: stats.segmentMs / n, person: coverage });
  stats.frames = 0;
  stats.totalMs = 0;
  stats.segmentMs = 0;
  stats.maxMs = 0;
}, 1000);

scope.onmessage = async (/** @type {MessageEvent} */ e) => {
  const m = e.data;
  if (m.type === "load") {
    try {
      await load(m.base);
      scope.postMessage({ type: "ready" });
    } catch (err) {
      report(err);
    }
  } else if (m.type === "effect") {
    effect = m.effect;
    if (m.backdrop !== undefined) {
      backdrop?.close();
      backdrop = m.backdrop;
    }
  } else if (m.type === "paused") paused = m.paused;
  else if (m.type === "stop") halt();
  else if (m.type === "streams") {
    // A new camera: read from it; the output stays the same.
    const old = reader;
    reader = m.readable.getReader();
    old?.cancel().catch(() => {});
    if (m.writable) writer = m.writable.getWriter();
    if (!pumping) pump();
  }
};
