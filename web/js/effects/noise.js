// Microphone noise suppression beyond the browser's own: RNNoise compiled to WebAssembly
// (npm @sapphi-red/web-noise-suppressor, served by Convene under /vendor/) in an AudioWorklet.
// The microphone goes through it into one MediaStreamDestination whose track is sent for the
// whole session; the toggle crossfades between the denoised and the untouched signal, so it
// works live and never changes the sender's track.

const BASE = "/vendor/web-noise-suppressor/";
/** RNNoise works on 48 kHz audio in 480-sample frames. */
const RATE = 48000;

export class NoiseSuppression {
  constructor() {
    this.enabled = true;
    /** Why suppression cannot run here ("" when it can). */
    this.unavailable = "";
    /** @type {AudioContext | null} */
    this.ctx = null;
    /** @type {MediaStreamAudioSourceNode | null} */
    this.input = null;
    /** @type {GainNode | null} */
    this.wet = null;
    /** @type {GainNode | null} */
    this.dry = null;
    /** @type {AudioNode | null} */
    this.denoiser = null;
    /** The microphone as captured. @type {MediaStreamTrack | null} */
    this.source = null;
    /** What is sent. @type {MediaStreamTrack | null} */
    this.output = null;
    this.onGesture = () => this.ctx?.resume().catch(() => {});
  }

  /**
   * Feeds a microphone in; returns the track to send (the same one after the first call).
   * Where AudioWorklet or WebAssembly is missing, the microphone itself.
   * @param {MediaStreamTrack} mic
   * @returns {Promise<MediaStreamTrack>}
   */
  async attach(mic) {
    const previous = this.source;
    this.source = mic;
    try {
      if (!this.ctx) await this.build();
    } catch (err) {
      this.unavailable = `Noise suppression cannot run in this browser (${/** @type {Error} */ (err).message}).`;
      this.ctx?.close().catch(() => {});
      this.ctx = null;
      return (this.output = mic);
    }
    const ctx = /** @type {AudioContext} */ (this.ctx);
    this.input?.disconnect();
    try {
      this.input = ctx.createMediaStreamSource(new MediaStream([mic]));
    } catch (err) {
      // Firefox refuses a microphone whose rate differs from the context's (48 kHz).
      this.unavailable = `Noise suppression cannot take this microphone (${/** @type {Error} */ (err).message}).`;
      this.stop(false);
      return (this.output = mic);
    }
    this.input.connect(/** @type {AudioNode} */ (this.denoiser));
    this.input.connect(/** @type {GainNode} */ (this.dry));
    if (previous && previous !== mic) previous.stop();
    return /** @type {MediaStreamTrack} */ (this.output);
  }

  async build() {
    if (typeof AudioWorkletNode === "undefined" || typeof WebAssembly === "undefined") throw new Error("no AudioWorklet");
    const ctx = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
    this.ctx = ctx;
    // A page opened without a click starts its audio suspended: the first click resumes it.
    if (ctx.state !== "running") {
      ctx.resume().catch(() => {});
      addEventListener("pointerdown", this.onGesture);
      addEventListener("keydown", this.onGesture);
    }
    /** @type {any} */
    const lib = await import(`${BASE}index.js`);
    const [wasmBinary] = await Promise.all([
      lib.loadRnnoise({ url: `${BASE}rnnoise.wasm`, simdUrl: `${BASE}rnnoise_simd.wasm` }),
      ctx.audioWorklet.addModule(`${BASE}rnnoise/workletProcessor.js`),
    ]);
    const denoiser = new lib.RnnoiseWorkletNode(ctx, { maxChannels: 1, wasmBinary });
    this.denoiser = denoiser;
    this.wet = ctx.createGain();
    this.dry = ctx.createGain();
    const out = ctx.createMediaStreamDestination();
    denoiser.connect(this.wet).connect(out);
    this.dry.connect(out);
    this.output = out.stream.getAudioTracks()[0];
    this.setEnabled(this.enabled);
  }

  /** On or off, live: a 50 ms crossfade so the switch does not click. @param {boolean} on */
  setEnabled(on) {
    this.enabled = on;
    if (!this.ctx || !this.wet || !this.dry) return;
    const t = this.ctx.currentTime;
    this.wet.gain.setTargetAtTime(on ? 1 : 0, t, 0.015);
    this.dry.gain.setTargetAtTime(on ? 0 : 1, t, 0.015);
  }

  get running() {
    return this.ctx !== null;
  }

  /** Ends the processing, and with `devices` the microphone and the sent track. */
  stop(devices = true) {
    removeEventListener("pointerdown", this.onGesture);
    removeEventListener("keydown", this.onGesture);
    if (devices) {
      this.source?.stop();
      this.output?.stop();
    }
    /** @type {any} */ (this.denoiser)?.destroy?.();
    this.ctx?.close().catch(() => {});
    this.ctx = null;
    this.denoiser = null;
  }
}
