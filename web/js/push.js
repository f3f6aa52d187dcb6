// Browser notifications: the service worker and the Web Push subscription. No DOM.
//
// The server pushes reminders, "meeting started" and "you were let in" (see docs/operations.md);
// web/sw.js shows them. The subscription is re-sent on every load so the server's copy stays
// fresh (the call is idempotent).

/** @typedef {import("./api.js").Api} Api */

/** @typedef {"unsupported" | "denied" | "on" | "off"} PushState */

/** @returns {boolean} */
function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** @param {string} b64 base64url @returns {ArrayBuffer} */
function fromBase64Url(b64) {
  const padded = b64.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
}

/** @returns {Promise<ServiceWorkerRegistration>} */
async function registration() {
  return navigator.serviceWorker.register("/sw.js", { scope: "/" });
}

/** Where notifications stand in this browser. @returns {Promise<PushState>} */
export async function pushState() {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  const reg = await navigator.serviceWorker.getRegistration("/");
  const sub = reg ? await reg.pushManager.getSubscription() : null;
  return sub && Notification.permission === "granted" ? "on" : "off";
}

/**
 * Asks for permission, subscribes and tells the server.
 * @param {Api} api
 */
export async function enablePush(api) {
  if (!supported()) throw new Error("This browser cannot show notifications.");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("Notifications are blocked for this site in the browser's settings.");
  const reg = await registration();
  await navigator.serviceWorker.ready;
  /** @type {{public_key: string}} */
  const key = await api.request("GET", "/push/vapid-public-key", { auth: false });
  const sub =
    (await reg.pushManager.getSubscription()) ??
    (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64Url(key.public_key) }));
  await api.request("POST", "/push/subscriptions", { json: sub.toJSON() });
}

/**
 * Unsubscribes this browser and tells the server.
 * @param {Api} api
 */
export async function disablePush(api) {
  const reg = await navigator.serviceWorker.getRegistration("/");
  const sub = reg ? await reg.pushManager.getSubscription() : null;
  if (!sub) return;
  await api.request("DELETE", "/push/subscriptions", { json: { endpoint: sub.endpoint } }).catch(() => {});
  await sub.unsubscribe();
}

/**
 * Re-sends an existing subscription (on page load); silent on failure.
 * @param {Api} api
 */
export async function refreshPush(api) {
  if ((await pushState().catch(() => "unsupported")) !== "on") return;
  const reg = await navigator.serviceWorker.getRegistration("/");
  const sub = reg ? await reg.pushManager.getSubscription() : null;
  if (sub) await api.request("POST", "/push/subscriptions", { json: sub.toJSON() }).catch(() => {});
}
