// What sits between my camera and microphone and the sender: background effects and noise
// suppression. `withEffects` wraps a captured stream once per page (pre-join or a direct
// join); the tracks it returns are sent for the whole session, and everything later (an effect
// switched in the camera menu, noise suppression toggled, another device) changes what flows
// through them, never the tracks themselves.

import { CameraEffects } from "./camera.js";
import { NoiseSuppression } from "./noise.js";
import { fetchBackdrop, effectOf, guestDefault } from "./backdrops.js";

/** @typedef {import("./camera.js").Effect} Effect */

const NOISE_KEY = "convene.noise";

export class Effects {
  /** @param {import("../api.js").Api} api */
  constructor(api) {
    this.camera = new CameraEffects((id) => fetchBackdrop(api, id));
    this.noise = new NoiseSuppression();
    this.noise.enabled = localStorage.getItem(NOISE_KEY) !== "off";
  }

  /**
   * The stream to preview and send: my camera through the effects, my microphone through
   * noise suppression. @param {MediaStream | null} captured @returns {Promise<MediaStream | null>}
   */
  async wrap(captured) {
    if (!captured) return null;
    const tracks = [];
    for (const t of captured.getAudioTracks()) tracks.push(await this.noise.attach(t));
    for (const t of captured.getVideoTracks()) tracks.push(this.camera.attach(t));
    return new MediaStream(tracks);
  }

  /** @param {boolean} on */
  setNoiseSuppression(on) {
    this.noise.setEnabled(on);
    localStorage.setItem(NOISE_KEY, on ? "on" : "off");
  }

  stop() {
    this.camera.stop();
    this.noise.stop();
  }
}

/**
 * The effect to start with: the account's default background, or a guest's in this browser.
 * @param {import("../api.js").Api} api @returns {Promise<Effect>}
 */
export async function startingEffect(api) {
  let setting = guestDefault(localStorage);
  if (api.signedIn) setting = (await api.me().catch(() => null))?.default_background ?? setting;
  return effectOf(setting, localStorage);
}
