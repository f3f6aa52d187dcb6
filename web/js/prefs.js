// Audio and video preferences, kept in this browser (localStorage): the microphone and camera
// to start with, and whether to join muted or with the camera off. Set in Settings, and
// remembered from the pre-join screen's pickers, like the big meeting apps do.

/**
 * @typedef {object} MediaPrefs
 * @property {string} [mic] deviceId of the preferred microphone
 * @property {string} [camera] deviceId of the preferred camera
 * @property {boolean} joinMuted
 * @property {boolean} joinCameraOff
 */

const KEY = "convene.media";

/** @param {Storage} storage @returns {MediaPrefs} */
export function loadPrefs(storage) {
  /** @type {MediaPrefs} */
  const prefs = { joinMuted: false, joinCameraOff: false };
  try {
    const v = JSON.parse(storage.getItem(KEY) ?? "{}");
    if (typeof v.mic === "string" && v.mic) prefs.mic = v.mic;
    if (typeof v.camera === "string" && v.camera) prefs.camera = v.camera;
    prefs.joinMuted = v.joinMuted === true;
    prefs.joinCameraOff = v.joinCameraOff === true;
  } catch {
    // a damaged entry: the defaults
  }
  return prefs;
}

/** Merges `change` into the stored preferences. @param {Storage} storage @param {Partial<MediaPrefs>} change */
export function savePrefs(storage, change) {
  const next = { ...loadPrefs(storage), ...change };
  storage.setItem(KEY, JSON.stringify(next));
  return next;
}

/**
 * The preferred device if it is still there (devices come and go), else undefined: the
 * browser's default.
 * @param {string | undefined} preferred @param {{deviceId: string}[]} available
 */
export function pick(preferred, available) {
  return preferred && available.some((d) => d.deviceId === preferred) ? preferred : undefined;
}
