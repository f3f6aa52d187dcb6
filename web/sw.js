// Convene service worker: keeps the app shell for offline starts from the home screen, shows
// Web Push notifications and opens their link on click.
//
// The app shell (index.html, CSS, the ES modules, the manifest and icons) is fetched from the
// network first and kept in a versioned cache, so a reload or a start from the home screen
// without a network still shows the app; online, every file is revalidated as the server asks
// (Cache-Control: no-cache), so a new release never runs against an old cached client. The API
// (/api/…) and the WebSocket are never cached nor answered from a cache: what they say is only
// true now. Bump SHELL_CACHE when what is cached or how changes; older caches are deleted.
//
// The server encrypts a JSON payload {title, body, url, tag} per RFC 8291; the browser decrypts
// it and hands it to the `push` event below. Register this file at the site root (scope "/"),
// subscribe with PushManager.subscribe({userVisibleOnly: true, applicationServerKey}) using the
// key from GET /api/v1/push/vapid-public-key, and POST subscription.toJSON() to
// /api/v1/push/subscriptions (again on every page load: it is idempotent and keeps the server's
// copy fresh).

const SHELL_CACHE = "convene-shell-v2";
/** What a start without network needs at least; the page adds every file it loaded (below). */
const CORE = ["/", "/css/app.css", "/js/boot.js", "/js/app.js", "/manifest.webmanifest", "/icons/icon.svg", "/icons/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // One missing file must not stop the worker (push keeps working); the rest is cached.
      await Promise.all(CORE.map((url) => cache.add(url).catch(() => {})));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) =>
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name.startsWith("convene-shell-") && name !== SHELL_CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  ),
);

/** Whether a request is part of the app shell (same site, GET, not the API, not this worker). */
function isShell(request) {
  if (request.method !== "GET" || request.headers.has("range")) return false;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return false;
  const p = url.pathname;
  return !(p === "/api" || p.startsWith("/api/") || p === "/sw.js" || p === "/healthz" || p === "/metrics");
}

/**
 * The network's answer. A load that failed on the way is tried once more first: when the
 * device's network changes mid-load (Wi-Fi to mobile, a VPN coming up), the browser aborts
 * every request in flight, and one lost module would leave the app blank.
 */
async function fromNetwork(request) {
  try {
    return await fetch(request);
  } catch (_) {
    return fetch(request);
  }
}

/** Network first; the cached copy when the network fails. Navigations all share "/" (index.html). */
async function shellFetch(request) {
  const cache = await caches.open(SHELL_CACHE);
  const navigation = request.mode === "navigate";
  const key = navigation ? "/" : new URL(request.url).pathname;
  try {
    const response = await fromNetwork(request);
    const html = (response.headers.get("content-type") || "").startsWith("text/html");
    if (response.ok && response.type === "basic" && (!navigation || html)) await cache.put(key, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  if (isShell(event.request)) event.respondWith(shellFetch(event.request));
  // Anything else (the API above all) goes to the network untouched.
});

// The page sends the files it loaded before this worker controlled it: the modules its imports
// pulled in (their list lives in the code, not here), so an offline start has all of them.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "convene:cache-shell" || !Array.isArray(data.urls)) return;
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      for (const raw of data.urls.slice(0, 200)) {
        let url;
        try {
          url = new URL(String(raw), self.location.origin);
        } catch (_) {
          continue;
        }
        const request = new Request(url.pathname);
        if (!isShell(request) || (await cache.match(url.pathname))) continue;
        await cache.add(request).catch(() => {});
      }
    })(),
  );
});

self.addEventListener("push", (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch (_) {
      data = { body: event.data.text() };
    }
  }
  const options = {
    body: data.body || "",
    data: { url: data.url || "/" },
  };
  if (data.tag) {
    // Same tag: the new notification replaces the old one but still alerts the user.
    options.tag = data.tag;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(data.title || "Convene", options));
});

// Only links into this site are opened; anything else falls back to the start page.
function targetUrl(raw) {
  try {
    const url = new URL(raw || "/", self.registration.scope);
    if (url.origin === self.location.origin) return url.href;
  } catch (_) {
    // fall through
  }
  return new URL("/", self.registration.scope).href;
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = targetUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      // Focus a tab already showing the page; never navigate another tab away (it may be in a
      // meeting), open a new one instead.
      for (const client of windows) {
        if (client.url === target && "focus" in client) return client.focus();
      }
      if (self.clients.openWindow) return self.clients.openWindow(target);
    })(),
  );
});

// The push service replaced the subscription (expiry, key rotation). The worker has no API
// token, so it re-subscribes and asks open pages to send the new subscription to the server.
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(
    (async () => {
      let subscription = event.newSubscription;
      if (!subscription && event.oldSubscription) {
        subscription = await self.registration.pushManager.subscribe(event.oldSubscription.options);
      }
      if (!subscription) return;
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        client.postMessage({ type: "convene:push-subscription-changed", subscription: subscription.toJSON() });
      }
    })(),
  );
});
