// The backgrounds one can pick: none, blur, the built-in images (web/img/backgrounds/) and the
// image the signed-in user uploaded. Which one applies when the camera starts is the account's
// "Default background" (none / blur / image) plus, for "image", which image this browser chose
// last (localStorage). No DOM here.

/** @typedef {import("./camera.js").Effect} Effect */

export const BUILT_IN = [
  { id: "builtin:aurora", name: "Aurora" },
  { id: "builtin:dusk", name: "Dusk" },
  { id: "builtin:studio", name: "Studio" },
];
/** The id of the user's own uploaded image. */
export const UPLOADED = "uploaded";
const KEY = "convene.background";

/** The URL of a built-in image, or "" for another id. @param {string} id */
export function builtInUrl(id) {
  const b = BUILT_IN.find((x) => x.id === id);
  return b ? `/img/backgrounds/${b.id.slice("builtin:".length)}.jpg` : "";
}

/**
 * The image behind a backdrop id: a built-in file, or the user's upload (null without one).
 * @param {import("../api.js").Api} api @param {string} id @returns {Promise<Blob | null>}
 */
export async function fetchBackdrop(api, id) {
  if (id === UPLOADED) return api.signedIn ? api.backgroundImage() : null;
  const url = builtInUrl(id);
  if (!url) return null;
  const res = await fetch(url);
  return res.ok ? res.blob() : null;
}

/** The image chosen in this browser for "image". @param {Storage} storage */
export function chosenImage(storage) {
  const v = storage.getItem(KEY) ?? "";
  return v === UPLOADED || builtInUrl(v) ? v : BUILT_IN[0].id;
}

/** @param {Storage} storage @param {string} id */
export function chooseImage(storage, id) {
  storage.setItem(KEY, id);
}

/**
 * The effect a stored setting means: "none" | "blur" | "image" (+ this browser's image).
 * @param {string | undefined} setting @param {Storage} storage @returns {Effect}
 */
export function effectOf(setting, storage) {
  if (setting === "blur") return { kind: "blur" };
  if (setting === "image") return { kind: "image", image: chosenImage(storage) };
  return { kind: "none" };
}

/** The stored setting of an effect. @param {Effect} effect */
export function settingOf(effect) {
  return effect.kind;
}

/** A short label of an effect, as the menus show it. @param {Effect} effect */
export function labelOf(effect) {
  if (effect.kind === "blur") return "Blur";
  if (effect.kind === "image") return effect.image === UPLOADED ? "Your image" : (BUILT_IN.find((b) => b.id === effect.image)?.name ?? "Image");
  return "None";
}

/** Guests keep their default background here (no account to store it in). */
const GUEST_KEY = "convene.background.default";
/** @param {Storage} storage */
export function guestDefault(storage) {
  const v = storage.getItem(GUEST_KEY);
  return v === "blur" || v === "image" ? v : "none";
}
/** @param {Storage} storage @param {string} setting */
export function saveGuestDefault(storage, setting) {
  storage.setItem(GUEST_KEY, setting);
}
