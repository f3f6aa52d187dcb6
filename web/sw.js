// Convene service worker: shows Web Push notifications and opens their link on click.
//
// The server encrypts a JSON payload {title, body, url, tag} per RFC 8291; the browser decrypts
// it and hands it to the `push` event below. Register this file at the site root (scope "/"),
// subscribe with PushManager.subscribe({userVisibleOnly: true, applicationServerKey}) using the
// key from GET /api/v1/push/vapid-public-key, and POST subscription.toJSON() to
// /api/v1/push/subscriptions (again on every page load: it is idempotent and keeps the server's
// copy fresh).

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

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
